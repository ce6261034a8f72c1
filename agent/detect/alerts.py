"""Alertmanager's webhook payload (version 4), validated at the edge, and how alerts group into incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Alert(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")



class WebhookPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    group_key: str = Field(alias="groupKey")
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    alerts: list[Alert] = Field(min_length=1)

    def for_store(self) -> list[dict[str, object]]:
        """The alerts as the store ingests them (it groups them into incidents by SLO and model)."""
        return [alert.model_dump(by_alias=True, mode="json") for alert in self.alerts]
