"""Prometheus recording and alerting rules from SLO specs: multi-window, multi-burn-rate alerts.

For every SLO instance one rule group holds, in evaluation order:

* `slo:sli_error:ratio_rate<W>` for W in 5m 30m 1h 2h 6h 1d 3d: the error ratio over that window;
* `slo:sli_error:ratio_rate30d`: the period's error ratio (mean of the 5m ratio over the period, as
  Sloth does, so no query ranges over 30 days of raw counters);
* `slo:burn_rate:ratio_rate<W>` for the same windows and 30d: error ratio / error budget;
* `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`,
  `slo:period_error_budget_remaining:ratio`;
* the alerts of the Google SRE Workbook (page: 14.4x over 1h and 5m, or 6x over 6h and 30m;
  ticket: 3x over 1d and 2h, or 1x over 3d and 6h), one rule per severity.

Every series carries the SLO's labels (`service`, `slo`, the `for_each` keys such as `model`, and the
spec's extra labels), `window` on the windowed ones, and `time_scale`. With a time scale K (the sandbox
runs K SLO-seconds per wall second) every range, `for` and the period are divided by K, but names and
the `window` label keep the SLO window: `slo:sli_error:ratio_rate1h` ranges over 60s at K=60.

A last group, `firebreak-self`, is the dead man's switch: `FirebreakDown` pages when the agent itself is
down, unscraped, or its watcher's heartbeat stops advancing. Nothing else would notice that SLOs are no
longer being watched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from agent.slo.durations import scale_duration, scale_seconds
from agent.slo.spec import WINDOW_PLACEHOLDER, Severity, SLOInstance, SLOSpec, expand_all, substitute
from mcp_servers.prometheus.durations import format_duration, parse_duration
from mcp_servers.prometheus.slo_conventions import (
    BUDGET_REMAINING,
    ERROR_BUDGET,
    OBJECTIVE,
    PAGE_WINDOWS,
    PERIOD,
    SHORTEST_WINDOW,
    TICKET_WINDOWS,
    TIME_PERIOD_DAYS,
    WINDOWS,
    BurnRateWindow,
    burn_rate,
    sli_error,
)

# rate() needs at least two samples in its range, and a range of a few scrapes to be more than noise;
# four scrape intervals is the usual rule of thumb. Compressed windows are clamped up to this.
MIN_SCRAPES_PER_WINDOW = 4

# The agent's own liveness: /metrics exports the Unix time of the watcher's last pass that read the burn rates,
# scraped as this job.
HEARTBEAT_METRIC = "firebreak_heartbeat_timestamp_seconds"
AGENT_JOB = "firebreak"
DOWN_ALERT = "FirebreakDown"
# (SLO-time duration, wall-clock floor in seconds). The watcher passes every few wall seconds whatever K
# is, so a compressed bound still has to outlast a slow pass or two and a missed scrape.
HEARTBEAT_STALE_AFTER = ("2m", 15.0)
DOWN_FOR = ("2m", 5.0)


@dataclass(frozen=True)
class Scale:
    """How SLO time maps onto the wall clock for one rendering."""

    time_scale: float
    scrape_interval_s: float

    @property
    def min_window_s(self) -> float:
        return MIN_SCRAPES_PER_WINDOW * self.scrape_interval_s

    @property
    def label(self) -> str:
        return f"{self.time_scale:g}"

    def window(self, slo_window: str) -> str:
        return format_duration(scale_seconds(parse_duration(slo_window), self.time_scale, self.min_window_s))

    def for_(self, slo_duration: str) -> str:
        return scale_duration(slo_duration, self.time_scale)


def _num(x: float) -> str:
    return f"{x:.12g}"


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def selector(labels: Mapping[str, str]) -> str:
    """`{service="...",slo="...",model="..."}`: the series of exactly one SLO instance."""
    return "{" + ",".join(f"{k}={_promql_string(v)}" for k, v in labels.items()) + "}"


def _sum(query: str, rng: str) -> str:
    # Summing makes the SLI one label-less series whatever the query returns, so the rule's own labels
    # identify it and `or vector(0)` below matches it.
    return f"sum({substitute(query, {WINDOW_PLACEHOLDER: rng}).strip()})"


def sli_error_ratio_expr(inst: SLOInstance, rng: str) -> str:
    """Error ratio over one range; no series at all when there was no traffic.

    `total > 0` drops the zero-traffic case instead of dividing 0/0 into NaN, and `or vector(0)` makes a
    missing numerator (no 5xx series has ever been exported) count as zero errors, not as no data.
    """
    total = f"({_sum(inst.total_query, rng)} > 0)"
    if inst.errors_query is not None:
        return f"({_sum(inst.errors_query, rng)} or vector(0))\n/\n{total}"
    assert inst.good_query is not None
    return f"1 - (\n  ({_sum(inst.good_query, rng)} or vector(0))\n  /\n  {total}\n)"


def _record(name: str, expr: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": dict(labels)}


def _recordings(inst: SLOInstance, scale: Scale) -> list[dict[str, Any]]:
    base = {**inst.labels, "time_scale": scale.label}
    sel = selector(inst.identity)
    budget = _num(inst.error_budget)
    rules = [
        _record(
            sli_error(w), sli_error_ratio_expr(inst, scale.window(w)), {**base, "window": w}
        )
        for w in WINDOWS
    ]
    period_range = scale.window(PERIOD)
    rules.append(
        _record(
            sli_error(PERIOD),
            f"avg_over_time({sli_error(SHORTEST_WINDOW)}{sel}[{period_range}])",
            {**base, "window": PERIOD},
        )
    )
    rules += [
        _record(
            burn_rate(w),
            f"{sli_error(w)}{sel} / {budget}",
            {**base, "window": w},
        )
        for w in (*WINDOWS, PERIOD)
    ]
    rules += [
        _record(OBJECTIVE, f"vector({_num(inst.objective / 100)})", base),
        _record(ERROR_BUDGET, f"vector({budget})", base),
        _record(TIME_PERIOD_DAYS, f"vector({_num(parse_duration(PERIOD) / 86400)})", base),
        _record(
            BUDGET_REMAINING,
            f"1 - max without (window) ({burn_rate(PERIOD)}{sel})",
            base,
        ),
    ]
    return rules


def burn_rate_alert_expr(inst: SLOInstance, windows: Iterable[BurnRateWindow]) -> str:
    """OR of the rows, each an AND of its long and short window; the value is the long window's burn rate."""
    sel = selector(inst.identity)

    def above(window: str, factor: float) -> str:
        # `window` differs between the two sides, so drop it before `and` matches the label sets.
        return f"max without (window) ({burn_rate(window)}{sel} > {_num(factor)})"

    rows = [f"(\n  {above(r.long, r.factor)}\n  and\n  {above(r.short, r.factor)}\n)" for r in windows]
    return "\nor\n".join(rows)


def _describe(windows: Iterable[BurnRateWindow], scale: Scale) -> str:
    rows = [f"above {_num(r.factor)}x over {r.long} and {r.short}" for r in windows]
    text = ", or ".join(rows)
    if scale.time_scale != 1:
        pairs = [f"{scale.window(r.long)}/{scale.window(r.short)}" for r in windows]
        text += f" (SLO time; compressed {scale.label}x, i.e. {', '.join(pairs)} of wall time)"
    return text


def _alert(
    inst: SLOInstance, severity: str, settings: Severity, windows: tuple[BurnRateWindow, ...], scale: Scale
) -> dict[str, Any]:
    what = " ".join([inst.service, inst.slo, *inst.identity_values()])
    condition = _describe(windows, scale)
    annotations = {
        "summary": f'{what}: error budget burning at {{{{ printf "%.1f" $value }}}}x ({severity})',
        "description": (
            f"{inst.description.rstrip('.') + '. ' if inst.description else ''}"
            f"Objective {_num(inst.objective)}% over {PERIOD}; {severity} when the burn rate is {condition}."
        ),
        **inst.annotations,
        **settings.annotations,
    }
    rule: dict[str, Any] = {"alert": inst.alert_name, "expr": burn_rate_alert_expr(inst, windows)}
    for_ = scale.for_(settings.for_)
    if for_ != "0s":
        rule["for"] = for_
    # The identity labels repeat what the expression returns; they keep promtool's lint from seeing
    # the same alert name with the same labels in every SLO's group as duplicates.
    rule["labels"] = {**inst.alert_labels, **settings.labels, **inst.identity, "severity": severity}
    rule["annotations"] = annotations
    return rule


def rule_group(inst: SLOInstance, scale: Scale) -> dict[str, Any]:
    """One group per SLO: rules in a group run in order, so alerts see this evaluation's recordings."""
    rules = _recordings(inst, scale)
    if not inst.page.disable:
        rules.append(_alert(inst, "page", inst.page, PAGE_WINDOWS, scale))
    if not inst.ticket.disable:
        rules.append(_alert(inst, "ticket", inst.ticket, TICKET_WINDOWS, scale))
    return {"name": f"slo-{inst.key}", "rules": rules}


def heartbeat_alert_expr(stale_after_s: float) -> str:
    """Firebreak is down, unscraped, or its heartbeat is older than `stale_after_s`.

    Every branch yields the one label set `{job="firebreak"}` (absent() keeps the `job` matcher, the others
    aggregate `by (job)`), so whichever branches hold, `or` leaves a single alert. Aggregating over the
    job's targets means a fleet of agent replicas pages only when none of them is alive.
    """
    sel = selector({"job": AGENT_JOB})
    return "\nor\n".join(
        [
            f"time() - max by (job) ({HEARTBEAT_METRIC}{sel}) > {_num(stale_after_s)}",
            f"absent({HEARTBEAT_METRIC}{sel})",  # also what a failed scrape leaves: its series go stale
            f"max by (job) (up{sel}) == 0",
            f"absent(up{sel})",  # no target at all: not deployed, or service discovery lost it
        ]
    )


def self_monitoring_group(scale: Scale) -> dict[str, Any]:
    """The dead man's switch: pages a person, never the agent (Alertmanager routes it to on-call)."""
    stale = scale_seconds(parse_duration(HEARTBEAT_STALE_AFTER[0]), scale.time_scale, HEARTBEAT_STALE_AFTER[1])
    # The heartbeat must outlive a scrape interval or few, or every scrape would race the bound.
    stale = max(stale, scale.min_window_s)
    for_ = scale_duration(DOWN_FOR[0], scale.time_scale, DOWN_FOR[1])
    rule: dict[str, Any] = {
        "alert": DOWN_ALERT,
        "expr": heartbeat_alert_expr(stale),
        "for": for_,
        "labels": {"severity": "page", "service": AGENT_JOB, "time_scale": scale.label},
        "annotations": {
            "summary": "Firebreak is down: SLO burns are not being watched, healed or escalated",
            "description": (
                f'Prometheus cannot scrape the Firebreak agent (up{{job="{AGENT_JOB}"}} is 0 or missing), or '
                f"{HEARTBEAT_METRIC} (the watcher's last pass that read the burn rates) has not advanced for "
                f"over {format_duration(stale)} (for {for_}). Until it is back, watch the SLO alerts yourself. "
                "Check the agent's process or pod (restarts, OOM kills), its logs for a stuck or failing "
                "watcher (Prometheus, the MCP servers or the database unreachable), its /metrics endpoint, and "
                f'Prometheus\' scrape target for job="{AGENT_JOB}".'
            ),
        },
    }
    return {"name": "firebreak-self", "rules": [rule]}


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(data: Any) -> str:
    """YAML with block scalars for multi-line PromQL, keys in the order written."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def _header(scale: Scale) -> str:
    lines = ["# Generated by Firebreak (`firebreak slo rules`) from SLO specs: do not edit by hand."]
    if scale.time_scale == 1:
        lines.append("# Time scale 1: the textbook windows (5m ... 3d) over a 30-day period.")
    else:
        lines += [
            f"# Time scale {scale.label}: the sandbox runs {scale.label} SLO seconds per wall second,",
            f"# so every range, `for` and the 30-day period below is divided by {scale.label}.",
            "# Rule names and the `window` label keep the SLO window (slo:sli_error:ratio_rate1h",
            f'# ranges over {scale.window("1h")} here); every series carries time_scale="{scale.label}".',
        ]
    lines.append(
        f"# Ranges are never shorter than {format_duration(scale.min_window_s)} "
        f"({MIN_SCRAPES_PER_WINDOW} x the {format_duration(scale.scrape_interval_s)} scrape interval)."
    )
    return "\n".join(lines) + "\n"


def render_rules(
    specs: SLOSpec | Iterable[SLOSpec],
    time_scale: float = 1.0,
    *,
    scrape_interval_s: float = 1.0,
    watch_agent: bool = True,
) -> str:
    """The Prometheus rule file (YAML) for the given specs at time scale K (1 = real time).

    `scrape_interval_s` only sets the floor for compressed windows (4 scrapes); at K=1 every window is
    far above it. `watch_agent=False` leaves out the dead man's switch, for a fleet no agent works.
    """
    if scrape_interval_s <= 0:
        raise ValueError("scrape interval must be positive")
    scale = Scale(time_scale, scrape_interval_s)
    scale.for_("1s")  # validates the time scale early, with its own message
    spec_list = [specs] if isinstance(specs, SLOSpec) else list(specs)
    groups = [rule_group(inst, scale) for inst in expand_all(spec_list)]
    if watch_agent:
        groups.append(self_monitoring_group(scale))
    return _header(scale) + dump_yaml({"groups": groups})
