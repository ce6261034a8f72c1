"""Reading the `slo_status` tool's answer: which SLOs burn, and how fast over the shortest window.

A burn the agent cannot read is never a burn of zero: `model_burn` says why it is blind instead, whatever
made the read fail (an unreachable Prometheus, an error answer, no recorded burn for the model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.tools import ToolResult
from mcp_servers.prometheus.slo_conventions import BUDGET_PACE, SHORTEST_WINDOW


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
        return self.short_burn is not None and self.short_burn >= BUDGET_PACE


def readings(slo_status: dict[str, Any]) -> list[SloReading]:
    items = (slo_status.get("slos") or {}).get("items") or []
    return [SloReading(slo=item.get("slo") or "", model=item.get("model") or "", status=item.get("status", "ok"),
                       short_burn=_window(item, SHORTEST_WINDOW)) for item in items]


def _window(item: dict[str, Any], window: str) -> float | None:
    for entry in item.get("windows") or []:
        if entry.get("window") == window:
            value = entry.get("burn_rate")
            return float(value) if value is not None else None
    return None


@dataclass(frozen=True)
class ModelBurn:
    """One model's SLOs as one `slo_status` call read them."""

    readings: list[SloReading]  # the model's SLOs whose short-window burn is known
    blind: str  # why the burn could not be read; empty when it could

    @property
    def burning_now(self) -> bool:
        return any(reading.burning_now for reading in self.readings)

    @property
    def worst(self) -> float:
        """The highest short-window burn of the model's SLOs (only when not blind)."""
        return max(reading.short_burn or 0.0 for reading in self.readings)


def model_burn(status: ToolResult, model: str, slo: str) -> ModelBurn:
    """The burn of `model`'s SLOs. Blind when the call failed or the incident's own SLO (`slo`) has no known
    short-window burn; another SLO of the model without one (no traffic in its window) is left out."""
    if not status.ok:
        return ModelBurn([], f"slo_status failed ({status.kind}): {status.error}")
    known = [r for r in readings(status.data) if r.model == model and r.short_burn is not None]
    if not any(r.slo == slo for r in known):
        return ModelBurn([], f"slo_status holds no {SHORTEST_WINDOW} burn rate for the {slo} SLO of {model or '-'}")
    return ModelBurn(known, "")
