"""Reading the `slo_status` tool's answer: which SLOs burn, and how fast over the shortest window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SHORT_WINDOW = "5m"  # the shortest recorded window: it tells first that a burn has stopped


@dataclass(frozen=True)
class SloReading:
    slo: str
    model: str
    status: str  # burning-page | burning-ticket | ok
    short_burn: float | None

    @property
    def burning(self) -> bool:
        """Alerting thresholds crossed, or the budget spent faster than it accrues right now."""
        return self.status != "ok" or self.burning_now

    @property
    def burning_now(self) -> bool:
        """The shortest window spends the budget faster than it accrues. The long windows of a status keep
        burning for an hour after a fix; only this says whether there is still something to fix."""
        return self.short_burn is not None and self.short_burn >= 1.0


def readings(slo_status: dict[str, Any]) -> list[SloReading]:
    items = (slo_status.get("slos") or {}).get("items") or []
    return [SloReading(slo=item.get("slo") or "", model=item.get("model") or "", status=item.get("status", "ok"),
                       short_burn=_window(item, SHORT_WINDOW)) for item in items]


def _window(item: dict[str, Any], window: str) -> float | None:
    for entry in item.get("windows") or []:
        if entry.get("window") == window:
            value = entry.get("burn_rate")
            return float(value) if value is not None else None
    return None
