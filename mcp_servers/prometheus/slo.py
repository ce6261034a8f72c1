"""Every SLO's state from its `slo:*` series: error ratio and burn rate per window, the budget left, and whether
an alerting pair of windows burns (pure: the series in, the report out)."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped
from mcp_servers.prometheus.durations import parse_duration
from mcp_servers.prometheus.slo_conventions import (
    BUDGET_REMAINING,
    BURN_RATE_PREFIX,
    ERROR_BUDGET,
    OBJECTIVE,
    PAGE_WINDOWS,
    PERIOD,
    REPORTED_SERIES,
    SLI_ERROR_PREFIX,
    TICKET_WINDOWS,
    BurnRateWindow,
    window_of,
)

SloStatus = Literal["burning-page", "burning-ticket", "ok"]
STATUS_RANK: dict[SloStatus, int] = {"burning-page": 0, "burning-ticket": 1, "ok": 2}
NOT_IDENTITY = frozenset({"__name__", "window", "time_scale"})


class SloWindow(BaseModel):
    window: str = Field(description="SLO time (the sandbox compresses it by `time_scale`)")
    error_ratio: float | None = Field(description="None when the window saw no traffic")
    burn_rate: float | None = Field(description="error ratio / error budget; 1 spends the budget in the period")


class SloState(BaseModel):
    service: str | None
    slo: str | None
    model: str | None
    labels: dict[str, str] = Field(description="the SLO's other identifying labels")
    status: SloStatus
    reason: str
    objective: float | None = Field(description="as a ratio: 0.999 is 99.9 %")
    error_budget: float | None
    budget_remaining: float | None = Field(description="share of the 30-day error budget left (negative: overspent)")
    time_scale: str | None = Field(description="SLO seconds per wall second, when the rules are compressed")
    windows: list[SloWindow]


class SloReport(BaseModel):
    summary: str
    counts: dict[str, int]
    slos: Capped[SloState] = Field(description="worst first")


def slo_selector(slo: str | None, model: str | None) -> str:
    """The series selector of every SLO's reported series, or of one SLO's or one model's."""
    matchers = [f"__name__=~{_promql_string(REPORTED_SERIES)}"]
    matchers += [f"{k}={_promql_string(v)}" for k, v in (("slo", slo), ("model", model)) if v]
    return "{" + ",".join(matchers) + "}"


def slo_states(result: list[Any]) -> list[SloState]:
    """One state per SLO in an instant query's result over `slo_selector`, worst first."""
    grouped: dict[tuple[tuple[str, str], ...], list[tuple[dict[str, str], float]]] = {}
    recorded: set[str] = set()
    for series in result:
        labels = series["metric"]
        if (window := window_of(labels["__name__"])) is not None:
            recorded.add(window)
        identity = tuple(sorted((k, v) for k, v in labels.items() if k not in NOT_IDENTITY))
        value = float(series["value"][1])
        if math.isfinite(value):  # NaN or Inf: a window with no usable data, reported as None
            grouped.setdefault(identity, []).append((labels, value))
    windows = sorted(recorded, key=_seconds)
    states = [_slo_state(dict(identity), series, windows) for identity, series in grouped.items()]
    return sorted(states, key=_worst_first)


def slo_report(states: list[SloState], limit: int) -> SloReport:
    counts: dict[str, int] = {status: sum(1 for s in states if s.status == status) for status in STATUS_RANK}
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    summary = f"{len(states)} SLOs: {', '.join(parts)}"
    if states and states[0].status != "ok":
        worst = states[0]
        name = " ".join(part for part in (worst.model, worst.slo) if part)
        summary += f"; worst {name}: {worst.reason}"
    return SloReport(summary=summary, counts=counts, slos=Capped.of(states, limit))


def _slo_state(identity: dict[str, str], series: list[tuple[dict[str, str], float]],
               recorded: list[str]) -> SloState:
    """One SLO's row; `recorded` lists every window any SLO has, so a window without traffic shows as None."""
    ratios: dict[str, float] = {}
    burns: dict[str, float] = {}
    scalars: dict[str, float] = {}
    time_scale = None
    for labels, value in series:
        name = labels["__name__"]
        time_scale = labels.get("time_scale", time_scale)
        if name.startswith(SLI_ERROR_PREFIX):
            ratios[name.removeprefix(SLI_ERROR_PREFIX)] = value
        elif name.startswith(BURN_RATE_PREFIX):
            burns[name.removeprefix(BURN_RATE_PREFIX)] = value
        else:
            scalars[name] = value
    budget = scalars.get(ERROR_BUDGET)
    remaining = scalars.get(BUDGET_REMAINING)
    if remaining is None and budget and PERIOD in ratios:
        remaining = 1 - ratios[PERIOD] / budget
    windows = [SloWindow(window=w, error_ratio=ratios.get(w), burn_rate=burns.get(w)) for w in recorded]
    page, ticket = _burning(burns, PAGE_WINDOWS), _burning(burns, TICKET_WINDOWS)
    status: SloStatus = "burning-page" if page else "burning-ticket" if ticket else "ok"
    quiet = "no alerting window pair burns above its threshold" if burns else "no traffic recorded in any window"
    reason = page or ticket or quiet
    rest = {k: v for k, v in identity.items() if k not in ("service", "slo", "model")}
    return SloState(service=identity.get("service"), slo=identity.get("slo"), model=identity.get("model"),
                    labels=rest, status=status, reason=reason, objective=scalars.get(OBJECTIVE),
                    error_budget=budget, budget_remaining=remaining, time_scale=time_scale, windows=windows)


def _burning(burn: dict[str, float], pairs: tuple[BurnRateWindow, ...]) -> str | None:
    """The first pair whose long and short windows both burn faster than its factor, in words."""
    for pair in pairs:
        long, short = burn.get(pair.long), burn.get(pair.short)
        if long is not None and short is not None and long > pair.factor and short > pair.factor:
            return (f"burn rate {long:.1f}x over {pair.long} and {short:.1f}x over {pair.short}, both above "
                    f"{pair.factor:g}x")
    return None


def _worst_first(state: SloState) -> tuple[int, float]:
    fastest = max((w.burn_rate for w in state.windows if w.burn_rate is not None), default=0.0)
    return STATUS_RANK[state.status], -fastest


def _seconds(window: str) -> float:
    """A window's length, for sorting; one that is not a duration sorts last."""
    try:
        return parse_duration(window)
    except ValueError:
        return math.inf


def _promql_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid PromQL string literal
