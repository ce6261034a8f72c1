"""Durations under time compression, the Alertmanager config (checked by amtool), committed files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from agent.slo import render_alertmanager_config, render_rules, slo_rules_command, stale_generated_files
from agent.slo.durations import scale_duration
from mcp_servers.prometheus.durations import format_duration, parse_duration

from .promtool import INFERENCE_SPEC, inference_spec, require, run


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("1500ms", 1.5), ("3d", 259200), ("0s", 0)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (4320, "72m"), (1.5, "1500ms"), (86400, "1d"), (0, "0s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("5 minutes")


@pytest.mark.parametrize(
    ("slo", "scale", "wall"), [("5m", 60, "5s"), ("3d", 60, "72m"), ("1h", 1, "1h"), ("2m", 3600, "33ms")]
)
def test_scale_duration(slo: str, scale: float, wall: str) -> None:
    assert scale_duration(slo, scale) == wall


def ranges(rules_text: str, record: str) -> set[str]:
    """The range selectors used by one recording rule across all groups."""
    found: set[str] = set()
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == record:
                found.update(re.findall(r"\[([0-9a-z]+)\]", rule["expr"]))
    return found


def test_windows_are_scaled_and_clamped_but_keep_slo_names() -> None:
    k60 = render_rules(inference_spec(), 60)
    assert ranges(k60, "slo:sli_error:ratio_rate5m") == {"5s"}
    assert ranges(k60, "slo:sli_error:ratio_rate1h") == {"1m"}
    assert ranges(k60, "slo:sli_error:ratio_rate3d") == {"72m"}
    assert ranges(k60, "slo:sli_error:ratio_rate30d") == {"12h"}
    assert 'time_scale: "60"' in k60 or "time_scale: '60'" in k60
    assert "Time scale 60" in k60
    k3600 = render_rules(inference_spec(), 3600)
    # 5m / 3600 would be 83ms: clamped to 4 scrape intervals.
    assert ranges(k3600, "slo:sli_error:ratio_rate5m") == {"4s"}
    assert ranges(
        render_rules(inference_spec(), 3600, scrape_interval_s=2), "slo:sli_error:ratio_rate5m"
    ) == {"8s"}
    k1 = render_rules(inference_spec(), 1)
    assert ranges(k1, "slo:sli_error:ratio_rate3d") == {"3d"}
    assert ranges(k1, "slo:sli_error:ratio_rate30d") == {"30d"}


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time scale"):
        render_rules(inference_spec(), 0)


def test_alert_rules_carry_labels_and_scaled_for() -> None:
    groups = yaml.safe_load(render_rules(inference_spec(), 60))["groups"]
    # The SLO groups, then Firebreak's own dead man's switch (tests/slo/test_heartbeat_rule.py).
    assert groups[-1]["name"] == "firebreak-self" and all(g["name"].startswith("slo-") for g in groups[:-1])
    alerts = [r for g in groups[:-1] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 18  # 9 SLOs (3 models x availability, latency, overhead) x (page, ticket)
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}
    assert all({"slo", "model", "severity"} <= set(a["labels"]) for a in alerts)
    assert all({"summary", "runbook_url", "description"} <= set(a["annotations"]) for a in alerts)
    assert {a["for"] for a in alerts} == {"2s", "15s"}


def test_slo_rules_command_writes_and_returns(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    text = slo_rules_command(INFERENCE_SPEC, 60, out)
    assert out.read_text() == text == render_rules(inference_spec(), 60)


@pytest.mark.parametrize("scale", [1, 60])
@pytest.mark.parametrize("token", ["s3cret", None])
def test_alertmanager_config_passes_amtool(tmp_path: Path, scale: float, token: str | None) -> None:
    text = render_alertmanager_config("http://127.0.0.1:8089/webhook/alertmanager", token, scale)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    result = run(require("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    route, hook = config["route"], config["receivers"][0]["webhook_configs"][0]
    assert route["group_by"] == ["slo", "model"] and hook["send_resolved"] is True
    assert config["inhibit_rules"][0]["equal"] == ["slo", "model"]
    if token:
        assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials": token}
    else:
        assert "http_config" not in hook
    if scale == 60:
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("1s", "5s", "4m")
    else:
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")


def test_committed_generated_files_are_up_to_date() -> None:
    stale = stale_generated_files()
    assert not stale, f"regenerate with `firebreak slo regenerate`: {[str(p) for p in stale]}"


def test_committed_alertmanager_config_passes_amtool() -> None:
    path = Path(__file__).resolve().parents[2] / "deploy/alertmanager/alertmanager.yml"
    result = run(require("amtool"), "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
