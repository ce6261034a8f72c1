"""The SLO conventions every part of Firebreak shares: the windows the recording rules cover, the burn rates
that page or open a ticket, and the names of the `slo:*` series.

The rules generator writes these series, the prometheus tools classify them, the agent watches them and the
harness measures a run by them; all read them from here, so the rules and their readers cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")  # SLO time: a compressed sandbox keeps the names
PERIOD = "30d"  # the error budget's period
SHORTEST_WINDOW = WINDOWS[0]  # the first to tell that a burn has stopped


@dataclass(frozen=True)
class BurnRateWindow:
    """An alerting pair: both windows must burn faster than `factor` times the budget's even pace."""

    long: str
    short: str
    factor: float


# Google SRE Workbook, "Alerting on SLOs", for a 30-day budget.
PAGE_WINDOWS = (BurnRateWindow("1h", "5m", 14.4), BurnRateWindow("6h", "30m", 6))
TICKET_WINDOWS = (BurnRateWindow("1d", "2h", 3), BurnRateWindow("3d", "6h", 1))
PAGE_BURN_RATE = PAGE_WINDOWS[0].factor  # the fastest burn that pages: 2 % of the budget in an hour
BUDGET_PACE = 1.0  # a burn rate of 1 spends the budget exactly over the period: above it, the SLO burns

# The recording rules' series. A windowed series' name ends in its window: `slo:burn_rate:ratio_rate1h`.
SLI_ERROR_PREFIX = "slo:sli_error:ratio_rate"
BURN_RATE_PREFIX = "slo:burn_rate:ratio_rate"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD_DAYS = "slo:time_period:days"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
# What an SLO report reads: every windowed ratio and the per-SLO scalars (not the period's length).
REPORTED_SERIES = "|".join((f"{SLI_ERROR_PREFIX}.+", f"{BURN_RATE_PREFIX}.+", OBJECTIVE, ERROR_BUDGET,
                            BUDGET_REMAINING))


def sli_error(window: str) -> str:
    """The error ratio over `window`."""
    return f"{SLI_ERROR_PREFIX}{window}"


def burn_rate(window: str) -> str:
    """The burn rate over `window`: error ratio / error budget."""
    return f"{BURN_RATE_PREFIX}{window}"


def window_of(name: str) -> str | None:
    """The window a windowed series covers (`1h` for `slo:burn_rate:ratio_rate1h`); None for any other series."""
    for prefix in (SLI_ERROR_PREFIX, BURN_RATE_PREFIX):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return None
