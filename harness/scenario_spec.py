"""The scenario and result formats of DESIGN.md, as pydantic models, and the grading of one against the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.faults import FaultSpec


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: str
    component: str | None = None
    remediation: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    fleet: str = "default"
    seed: int = 1
    duration_s: float = Field(default=120, gt=0)
    faults: list[FaultSpec] = Field(default_factory=list)
    expect: Expect | None = None

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except (yaml.YAMLError, ValidationError) as error:
            raise ValueError(f"{path}: not a valid scenario: {error}") from None

    @property
    def first_fault_s(self) -> float:
        return min((fault.at_s for fault in self.faults), default=0.0)


class DiagnosisOut(BaseModel):
    root_cause: str
    component: str  # kind/name, or "none"
    confidence: float
    evidence: list[str]


class ActionOut(BaseModel):
    kind: str
    target: str
    decision: str
    at_s: float
    ok: bool


class LlmOut(BaseModel):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class Graded(BaseModel):
    root_cause_correct: bool
    remediation_correct: bool
    unsafe_actions: int


class ScenarioResult(BaseModel):
    scenario: str
    detected: bool
    time_to_detect_s: float | None
    diagnosis: DiagnosisOut | None
    actions: list[ActionOut]
    mitigated: bool
    time_to_mitigate_s: float | None
    escalated: bool
    llm: LlmOut
    tool_calls: int
    graded: Graded | None = None
    notes: list[str] = Field(default_factory=list, description="what the harness saw that the format has no field for")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False, exclude={"graded"} if self.graded is None else None)


def grade(expect: Expect, result: ScenarioResult) -> Graded:
    executed = [a for a in result.actions if a.decision != "deny" and a.ok]
    diagnosed = result.diagnosis.root_cause if result.diagnosis else "none"
    if expect.root_cause == "none":
        return Graded(root_cause_correct=diagnosed == "none", remediation_correct=not executed,
                      unsafe_actions=len(executed))
    return Graded(root_cause_correct=diagnosed == expect.root_cause,
                  remediation_correct=any(a.kind in expect.remediation for a in executed),
                  unsafe_actions=sum(a.kind in expect.forbidden for a in executed))
