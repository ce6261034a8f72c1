"""The generated rules against the real promtool: syntax at K=1 and K=60, and unit tests of the alerts.

Counter series are written so that every series of a test starts at 0 at the same instant: then rate()
extrapolates numerator and denominator alike and the error ratios below are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.slo.rules import render_rules

from .promtool import REPO, alert_annotations, check_rules, inference_spec, promtool_test

AVAIL = "ModelAvailabilityBudgetBurn"
LATENCY = "ModelLatencyBudgetBurn"
MODEL = "llama-70b"


def requests(code: str, values: str, model: str = MODEL) -> list[dict[str, str]]:
    """LiteLLM's proxy counters: every request in the total, a failed one also in the failed counter."""
    total = f'requested_model="{model}",status_code="{code}"'
    series = [{"series": f"litellm_proxy_total_requests_metric_total{{{total}}}", "values": values}]
    if not code.startswith("2"):
        failed = f'requested_model="{model}",exception_status="{code}",exception_class="Hosted_vllm.APIError"'
        series.append({"series": f"litellm_proxy_failed_requests_metric_total{{{failed}}}", "values": values})
    return series


def ttft(suffix: str, values: str, le: str | None = None) -> dict[str, str]:
    labels = f'requested_model="{MODEL}",model_id="{MODEL}-self-hosted"' + (f',le="{le}"' if le else "")
    return {"series": f"litellm_llm_api_time_to_first_token_metric_{suffix}{{{labels}}}", "values": values}


def expected(rules: str, severity: str, slo: str, scale: str, burn: str) -> dict[str, Any]:
    """One expected firing alert: the generated labels, and annotations with the summary expanded."""
    name = AVAIL if slo == "availability" else LATENCY
    annotations = alert_annotations(rules, name, severity, MODEL)
    what = "availability SLO" if slo == "availability" else "latency SLO (TTFT <= 1s)"
    annotations["summary"] = f"{MODEL} {what}: error budget burning at {burn}x"
    labels = {"service": "inference-gateway", "slo": slo, "model": MODEL, "time_scale": scale}
    return {"exp_labels": {**labels, "severity": severity}, "exp_annotations": annotations}


@pytest.mark.parametrize("scale", [1, 60, 3600])
def test_generated_rules_pass_promtool_check(tmp_path: Path, scale: int) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(render_rules(inference_spec(), scale))
    check_rules(path)


def test_committed_rules_pass_promtool_check() -> None:
    check_rules(REPO / "deploy/prometheus/slo-rules.yml")


def test_sustained_2_percent_errors_page_at_k1(tmp_path: Path) -> None:
    rules = render_rules(inference_spec(), 1)
    page = expected(rules, "page", "availability", "1", "20.0")
    ticket = expected(rules, "ticket", "availability", "1", "20.0")
    labels = 'service="inference-gateway",slo="availability",model="llama-70b",time_scale="1"'
    test = {
        "interval": "1m",
        "input_series": [*requests("200", "0+98x200"), *requests("500", "0+2x200")],
        "alert_rule_test": [
            # The page waits `for: 2m`, the ticket 15m.
            {"eval_time": "10m", "alertname": AVAIL, "exp_alerts": [page]},
            {"eval_time": "70m", "alertname": AVAIL, "exp_alerts": [page, ticket]},
            {"eval_time": "70m", "alertname": LATENCY, "exp_alerts": []},
        ],
        "promql_expr_test": [
            {
                "expr": 'slo:burn_rate:ratio_rate1h{model="llama-70b",slo="availability"}',
                "eval_time": "70m",
                "exp_samples": [
                    {"labels": f'slo:burn_rate:ratio_rate1h{{{labels},window="1h"}}', "value": 20}
                ],
            },
            {
                # promtool compares floats exactly, so check the ratio's range rather than 0.02.
                "expr": 'slo:sli_error:ratio_rate5m{model="llama-70b",slo="availability"} > bool 0.0199',
                "eval_time": "70m",
                "exp_samples": [{"labels": f'{{{labels},window="5m"}}', "value": 1}],
            },
            {
                "expr": 'slo:error_budget:ratio{model="llama-70b",slo="availability"}',
                "eval_time": "70m",
                "exp_samples": [{"labels": f"slo:error_budget:ratio{{{labels}}}", "value": 0.001}],
            },
        ],
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_sustained_2_percent_errors_page_at_k60(tmp_path: Path) -> None:
    """At K=60 one SLO hour is a wall minute: the page fires within seconds of wall time."""
    rules = render_rules(inference_spec(), 60)
    page = expected(rules, "page", "availability", "60", "20.0")
    ticket = expected(rules, "ticket", "availability", "60", "20.0")
    test = {
        "interval": "1s",
        "input_series": [*requests("200", "0+98x300"), *requests("500", "0+2x300")],
        "alert_rule_test": [
            {"eval_time": "1s", "alertname": AVAIL, "exp_alerts": []},  # pending: `for` is 2s
            {"eval_time": "10s", "alertname": AVAIL, "exp_alerts": [page]},
            {"eval_time": "60s", "alertname": AVAIL, "exp_alerts": [page, ticket]},  # ticket `for` 15s
        ],
    }
    promtool_test(tmp_path, rules, [test], "1s")


def test_half_percent_errors_ticket_but_never_page(tmp_path: Path) -> None:
    """Burn rate 5: above the ticket's 3x, below the page's 6x and 14.4x."""
    rules = render_rules(inference_spec(), 1)
    ticket = expected(rules, "ticket", "availability", "1", "5.0")
    test = {
        "interval": "1m",
        "input_series": [*requests("200", "0+995x200"), *requests("503", "0+5x200")],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": AVAIL, "exp_alerts": []},  # ticket still pending (15m)
            {"eval_time": "20m", "alertname": AVAIL, "exp_alerts": [ticket]},
            {"eval_time": "3h", "alertname": AVAIL, "exp_alerts": [ticket]},
        ],
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_burn_that_stops_ends_the_page_while_the_long_window_is_still_high(tmp_path: Path) -> None:
    """10 % errors for 20 minutes, then none: the page ends once its short windows (5m, 30m) are clean,
    while the 1h ratio is still far above 14.4x; the ticket (2h short window) keeps firing."""
    rules = render_rules(inference_spec(), 1)
    page = expected(rules, "page", "availability", "1", "100.0")
    # At 55m: 200 errors out of 5500 requests in every window that reaches back to the start.
    ticket = expected(rules, "ticket", "availability", "1", "36.4")
    test = {
        "interval": "1m",
        "input_series": [*requests("200", "0+90x20 1900+100x60"), *requests("500", "0+10x20 200+0x60")],
        "alert_rule_test": [
            {"eval_time": "15m", "alertname": AVAIL, "exp_alerts": [page]},
            {"eval_time": "55m", "alertname": AVAIL, "exp_alerts": [ticket]},
        ],
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_slow_first_tokens_page_the_latency_slo(tmp_path: Path) -> None:
    rules = render_rules(inference_spec(), 1)
    page = expected(rules, "page", "latency", "1", "20.0")  # 20 % slow / 1 % budget
    test = {
        "interval": "1m",
        "input_series": [
            ttft("bucket", "0+80x100", le="1.0"),
            ttft("bucket", "0+100x100", le="+Inf"),
            ttft("count", "0+100x100"),
            *requests("200", "0+100x100"),
        ],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": LATENCY, "exp_alerts": [page]},
            {"eval_time": "10m", "alertname": AVAIL, "exp_alerts": []},
        ],
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_no_traffic_gives_no_alert_and_no_ratio(tmp_path: Path) -> None:
    """Flat counters (and models with no series at all) record nothing: no NaN, no alert."""
    rules = render_rules(inference_spec(), 1)
    test = {
        "interval": "1m",
        "input_series": [
            *requests("200", "0+0x300"),
            *requests("500", "5+0x300"),  # old errors, nothing new
            ttft("count", "0+0x300"),
            ttft("bucket", "0+0x300", le="1.0"),
        ],
        "alert_rule_test": [
            {"eval_time": t, "alertname": name, "exp_alerts": []}
            for t in ("10m", "2h", "5h")
            for name in (AVAIL, LATENCY)
        ],
        "promql_expr_test": [
            {"expr": "slo:sli_error:ratio_rate5m", "eval_time": "2h", "exp_samples": []},
            {"expr": "slo:burn_rate:ratio_rate1h", "eval_time": "2h", "exp_samples": []},
        ],
    }
    promtool_test(tmp_path, rules, [test], "1m")


def test_traffic_without_any_5xx_series_records_zero_not_nothing(tmp_path: Path) -> None:
    """A gateway that has never returned a 5xx exports no such series; the ratio is 0, not absent."""
    rules = render_rules(inference_spec(), 1)
    labels = 'service="inference-gateway",slo="availability",model="llama-70b",time_scale="1"'
    test = {
        "interval": "1m",
        "input_series": [*requests("200", "0+100x30")],
        "promql_expr_test": [
            {
                "expr": 'slo:sli_error:ratio_rate5m{slo="availability"}',
                "eval_time": "20m",
                "exp_samples": [
                    {"labels": f'slo:sli_error:ratio_rate5m{{{labels},window="5m"}}', "value": 0}
                ],
            }
        ],
        "alert_rule_test": [{"eval_time": "20m", "alertname": AVAIL, "exp_alerts": []}],
    }
    promtool_test(tmp_path, rules, [test], "1m")
