"""The logs server's answers: counts first, then templates or lines, every list capped."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped
from mcp_servers.logs.lines import LogLine

Level = Literal["error", "warning"]
RATE_CHANGE = 3.0  # a template whose per-minute rate moved by this factor or more "changed a lot"


class WindowInfo(BaseModel):
    start: datetime
    end: datetime


class PodCount(BaseModel):
    pod: str
    lines: int


class LogSearch(BaseModel):
    target: str
    source: str
    window: WindowInfo
    lines_matched: int
    error_lines: int
    warning_lines: int
    pods: list[PodCount] = Field(description="pods with matching lines, most first")
    notes: list[str]
    lines: Capped[LogLine] = Field(description="the newest matching lines, oldest first")


class TemplateSummary(BaseModel):
    template: str
    level: Level
    count: int
    pods: list[str] = Field(description="pods that printed it, most first (at most 10)")
    first_seen: datetime | None
    last_seen: datetime | None
    example: str


class ErrorSummary(BaseModel):
    target: str
    source: str
    window: WindowInfo
    error_lines: int
    warning_lines: int
    distinct_templates: int
    pods: list[PodCount] = Field(description="pods with error or warning lines, most first")
    notes: list[str]
    templates: Capped[TemplateSummary] = Field(description="most frequent first")


class WindowCounts(BaseModel):
    start: datetime
    end: datetime
    lines: int
    pods: list[str]


class TemplateChange(BaseModel):
    template: str
    level: Level | None
    before: int
    after: int
    before_per_minute: float
    after_per_minute: float
    pods: list[str]
    example: str


class LogComparison(BaseModel):
    deployment: str
    namespace: str
    source: str
    at: datetime
    at_from: str = Field(description="where `at` came from: given, or the rollout's ReplicaSet")
    before: WindowCounts
    after: WindowCounts
    new_templates: int
    gone_templates: int
    changed_templates: int
    notes: list[str]
    new: Capped[TemplateChange] = Field(description="templates seen only after `at`: errors first, then by count")
    gone: Capped[TemplateChange]
    changed: Capped[TemplateChange] = Field(description=f"per-minute rate moved {RATE_CHANGE:g}x or more")
