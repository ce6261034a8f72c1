"""Firebreak's dead man's switch (`FirebreakDown`) against the real promtool.

The heartbeat series are written with the value of their own timestamp (a watcher pass every interval), so
`time() - heartbeat` is exactly the heartbeat's age at each evaluation. Every expected list holds one alert:
promtool fails on any alert more or less, so the branches of the expression must never add up to two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slo.rules import AGENT_JOB, DOWN_ALERT, HEARTBEAT_METRIC, render_rules

from .promtool import REPO, inference_spec, promtool_test

UP = f'up{{job="{AGENT_JOB}",instance="firebreak-0:8080"}}'
HEARTBEAT = f'{HEARTBEAT_METRIC}{{job="{AGENT_JOB}",instance="firebreak-0:8080"}}'
# Another job's target, so that no test has an empty input and `absent()` sees a live Prometheus.
OTHER = 'up{job="gateway",instance="gw-0:9000"}'


def down_rule(rules_text: str) -> dict[str, Any]:
    groups = yaml.safe_load(rules_text)["groups"]
    assert groups[-1]["name"] == "firebreak-self", [g["name"] for g in groups]
    (rule,) = groups[-1]["rules"]
    assert rule["alert"] == DOWN_ALERT
    return rule


def firing(rules_text: str, scale: str) -> list[dict[str, Any]]:
    """The one FirebreakDown alert expected: `job` from the expression, the rule's labels and annotations."""
    rule = down_rule(rules_text)
    labels = {"job": AGENT_JOB, "severity": "page", "service": "firebreak", "time_scale": scale}
    return [{"exp_labels": labels, "exp_annotations": rule["annotations"]}]


def series(name: str, values: str) -> dict[str, str]:
    return {"series": name, "values": values}


def checks(alerts: list[dict[str, Any]], silent_at: list[str], firing_at: list[str]) -> list[dict[str, Any]]:
    return [{"eval_time": t, "alertname": DOWN_ALERT, "exp_alerts": []} for t in silent_at] + [
        {"eval_time": t, "alertname": DOWN_ALERT, "exp_alerts": alerts} for t in firing_at
    ]


def test_rule_is_a_paging_dead_mans_switch() -> None:
    rule = down_rule(render_rules(inference_spec(), 1))
    assert rule["for"] == "2m"
    assert rule["labels"] == {"severity": "page", "service": "firebreak", "time_scale": "1"}
    assert {"summary", "description"} <= set(rule["annotations"])
    assert HEARTBEAT_METRIC in rule["expr"] and f'up{{job="{AGENT_JOB}"}}' in rule["expr"]
    committed = down_rule((REPO / "deploy/prometheus/slo-rules.yml").read_text())
    assert committed == rule


def test_compressed_time_shortens_the_bounds_down_to_their_floors() -> None:
    k60 = down_rule(render_rules(inference_spec(), 60))
    assert k60["for"] == "5s" and "> 15\n" in k60["expr"]  # 2m/60 = 2s: floored at 5s and 15s
    k4 = down_rule(render_rules(inference_spec(), 4))
    assert k4["for"] == "30s" and "> 30\n" in k4["expr"]
    # A slow scrape interval raises the staleness bound to four scrapes.
    assert "> 40\n" in down_rule(render_rules(inference_spec(), 60, scrape_interval_s=10))["expr"]


def test_silent_while_up_and_the_heartbeat_advances(tmp_path: Path) -> None:
    rules = render_rules(inference_spec(), 1)
    test = {
        "interval": "1m",
        "input_series": [series(UP, "1x180"), series(HEARTBEAT, "0+60x180"), series(OTHER, "1x180")],
        "alert_rule_test": checks([], ["1m", "5m", "1h", "3h"], []),
    }
    promtool_test(tmp_path, rules, [test], "1m")


# name: (up, heartbeat, silent at, firing at); `for` is 2m and the staleness bound 120s at K=1.
CASES_K1 = {
    # The agent died: scrapes fail (up 0 from 6m) and its series go stale. Pending at 6m, firing at 8m.
    "crashed": ("1x5 0x20", "0+60x5 stale", ["5m", "7m"], ["8m", "20m"]),
    # Each branch alone, the others healthy:
    "target down": ("1x5 0x20", "0+60x25", ["7m"], ["8m", "20m"]),
    "target gone from discovery": ("1x5 stale", "0+60x25", ["7m"], ["8m", "20m"]),
    "never scraped": (None, None, ["1m"], ["2m", "20m"]),
    "no heartbeat exported": ("1x25", None, ["1m"], ["2m", "20m"]),
    # Watcher stuck at 10m, process still serving /metrics: 120s old at 12m, above it from 13m, firing 15m.
    "heartbeat stalls": ("1x25", "0+60x10 600x15", ["12m", "14m"], ["15m", "25m"]),
}


@pytest.mark.parametrize("case", list(CASES_K1))
def test_fires_when_firebreak_is_gone(tmp_path: Path, case: str) -> None:
    up, heartbeat, silent_at, firing_at = CASES_K1[case]
    rules = render_rules(inference_spec(), 1)
    inputs = [series(OTHER, "1x25")]
    inputs += [series(UP, up)] if up else []
    inputs += [series(HEARTBEAT, heartbeat)] if heartbeat else []
    test = {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": checks(firing(rules, "1"), silent_at, firing_at),
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_a_recovered_agent_ends_the_alert(tmp_path: Path) -> None:
    rules = render_rules(inference_spec(), 1)
    test = {
        "interval": "1m",
        # Down from 1m to 10m, then scraped again with a fresh heartbeat.
        "input_series": [series(UP, "1 0x9 1x20"), series(HEARTBEAT, "0 stale _x9 660+60x20")],
        "alert_rule_test": checks(firing(rules, "1"), ["11m", "30m"], ["5m"]),
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_compressed_sandbox_pages_within_seconds(tmp_path: Path) -> None:
    """At K=60 the bound is 15s and `for` 5s of wall time: a watcher that stops at 60s pages at 81s."""
    rules = render_rules(inference_spec(), 60)
    alerts = firing(rules, "60")
    stall = {
        "interval": "1s",
        "input_series": [series(UP, "1x300"), series(HEARTBEAT, "0+1x60 60x240")],
        "alert_rule_test": checks(alerts, ["30s", "75s", "80s"], ["81s", "5m"]),
    }
    crash = {
        "interval": "1s",
        "input_series": [series(UP, "1x30 0x200"), series(HEARTBEAT, "0+1x30 stale")],
        "alert_rule_test": checks(alerts, ["30s", "35s"], ["36s", "3m"]),
    }
    promtool_test(tmp_path, rules, [stall, crash], "1s")
