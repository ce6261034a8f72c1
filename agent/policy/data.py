"""The policy's data document (policies/data.yaml), validated before Rego sees it.

Rego treats a comparison with a value of the wrong type as undefined, and an undefined condition switches
a deny rule off: a typo such as `max_unavailable_fraction: "25%"` would quietly allow what it should stop.
So the gate validates the data here and refuses to load a policy whose data does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_serializer, model_validator

from agent.vocabulary import ActionKind

Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)")
    return value


Clock = Annotated[str, AfterValidator(_clock)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Replicas(_Strict):
    default: Bounds
    deployments: dict[str, Bounds] = {}


class Kinds(_Strict):
    auto_allowed: list[ActionKind] = []
    require_approval: list[ActionKind] = []

    @model_validator(mode="after")
    def _disjoint(self) -> Kinds:
        both = set(self.auto_allowed) & set(self.require_approval)
        if both:
            raise ValueError(f"kinds both auto-allowed and requiring approval: {', '.join(sorted(both))}")
        return self


class Disruption(_Strict):
    max_unavailable_fraction: float = Field(ge=0, le=1)
    min_pods: int = Field(ge=0)
    requires_facts: list[ActionKind] = []


class Limit(_Strict):
    max_actions: int = Field(ge=0)
    window_s: float | None = Field(default=None, gt=0)


class RateLimits(_Strict):
    per_target: Limit
    per_incident: Limit
    uncounted_statuses: list[str] = []

    @model_validator(mode="after")
    def _per_target_window(self) -> RateLimits:
        if self.per_target.window_s is None:
            raise ValueError("per_target needs window_s")
        return self


class Traffic(_Strict):
    approval_above_shift_pct: float = Field(ge=0, le=100)


class Weekly(_Strict):
    days: list[Weekday] = Field(min_length=1)
    from_: Clock = Field(alias="from")
    to: Clock

    @model_validator(mode="after")
    def _ordered(self) -> Weekly:
        if self.from_ >= self.to:
            raise ValueError(f"from {self.from_} is not before to {self.to} (a window cannot wrap past midnight)")
        return self


class FreezeWindow(_Strict):
    reason: str = Field(min_length=1)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    weekly: Weekly | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> FreezeWindow:
        absolute = self.start is not None and self.end is not None
        if absolute == (self.weekly is not None) or (self.start is None) != (self.end is None):
            raise ValueError("a freeze window has either start and end, or weekly")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start {self.start} is not before end {self.end}")
        return self

    @field_serializer("start", "end")
    def _rfc3339(self, value: datetime | None) -> str | None:
        # rego-cpp's time.parse_rfc3339_ns rejects a trailing "Z"; an explicit offset parses everywhere.
        return value.isoformat() if value is not None else None


class Freeze(_Strict):
    mode: Literal["require_approval", "deny"] = "require_approval"
    windows: list[FreezeWindow] = []


class PolicyConfig(_Strict):
    allowed_namespaces: list[str]
    dry_run: bool = False
    kinds: Kinds
    replicas: Replicas
    disruption: Disruption
    rate_limits: RateLimits
    traffic: Traffic
    freeze: Freeze = Freeze()

    def as_data(self) -> dict[str, Any]:
        """The document Rego reads as data.firebreak.config (JSON types, aliases such as `from`)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge overrides into base: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged
