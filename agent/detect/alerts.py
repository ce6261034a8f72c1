"""Alertmanager's webhook payload (version 4), validated at the edge. Its alerts are the store's own input
model (`AlertIn`), so an alert is validated once, by the rules the store groups it by."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.store import AlertIn


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
    alerts: list[AlertIn] = Field(min_length=1)
