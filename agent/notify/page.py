"""What a person is told when the agent hands an incident over, and again when it closes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from agent.store import IncidentDetail

MAX_EVIDENCE = 10  # lines of evidence in a page: enough to start from, short enough for a phone


class Page(BaseModel):
    incident: str
    title: str
    model: str
    slo: str
    severity: str
    reason: str = Field(description="why the agent hands the incident over")
    evidence: list[str]
    link: str = ""
    escalated_at: datetime

    @classmethod
    def of(cls, detail: IncidentDetail, reason: str, escalated_at: datetime, link_template: str = "") -> Page:
        incident = detail.incident
        evidence = list(incident.diagnosis.evidence[:MAX_EVIDENCE]) if incident.diagnosis else []
        return cls(incident=incident.id, title=incident.title, model=incident.model or "", slo=incident.slo,
                   severity=incident.severity, reason=reason, evidence=evidence,
                   link=link_template.format(incident=incident.id) if link_template else "",
                   escalated_at=escalated_at)

    @property
    def where_to_look(self) -> str:
        return self.link or f"`firebreak incidents {self.incident}` shows its timeline, evidence and actions"
