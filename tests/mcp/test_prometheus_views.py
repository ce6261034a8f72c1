"""The prometheus server's views alone: API objects in, the answers a model reads out, no Prometheus needed."""

from __future__ import annotations

import pytest

from mcp_servers.failures import Failure
from mcp_servers.prometheus.alerts import Alert, alerts_report, from_prometheus, merge_alertmanager, silence_matchers
from mcp_servers.prometheus.discovery import label_infos, metadata_of, name_pattern, target_health_view
from mcp_servers.prometheus.series import instant_result
from mcp_servers.prometheus.slo import slo_report, slo_selector, slo_states
from mcp_servers.prometheus.slo_conventions import (
    ERROR_BUDGET,
    PAGE_BURN_RATE,
    burn_rate,
    sli_error,
    window_of,
)


def slo_series(model: str, burns: dict[str, float], budget: float = 0.001) -> list[dict[str, object]]:
    identity = {"service": "inference", "slo": "availability", "model": model, "time_scale": "60"}
    series: list[dict[str, object]] = [
        {"metric": {**identity, "__name__": burn_rate(w), "window": w}, "value": [0, str(b)]} for w, b in burns.items()]
    series += [{"metric": {**identity, "__name__": sli_error(w), "window": w}, "value": [0, str(b * budget)]}
               for w, b in burns.items()]
    series.append({"metric": {**identity, "__name__": "slo:error_budget:ratio"}, "value": [0, str(budget)]})
    return series


def test_both_windows_of_a_page_pair_above_the_rate_page_and_the_worst_comes_first() -> None:
    fast = {"5m": PAGE_BURN_RATE + 5, "1h": PAGE_BURN_RATE + 1, "30m": 0.5, "6h": 0.5}
    one_window = {"5m": PAGE_BURN_RATE + 5, "1h": 2.0}  # the long window calm: no page
    ticket = {"2h": 3.5, "1d": 3.2}
    states = slo_states([*slo_series("calm", one_window), *slo_series("burning", fast),
                         *slo_series("slow", ticket)])
    assert [(s.model, s.status) for s in states] == [
        ("burning", "burning-page"), ("slow", "burning-ticket"), ("calm", "ok")]
    assert states[0].reason == "burn rate 15.4x over 1h and 19.4x over 5m, both above 14.4x"
    assert [w.window for w in states[0].windows] == ["5m", "30m", "1h", "2h", "6h", "1d"], "every recorded window"
    assert states[0].time_scale == "60" and states[0].labels == {}
    report = slo_report(states, limit=1)
    assert report.counts == {"burning-page": 1, "burning-ticket": 1, "ok": 1}
    assert report.summary.startswith("3 SLOs: 1 burning-page, 1 burning-ticket, 1 ok; worst burning availability: ")
    assert report.slos.truncated and report.slos.total == 3


def test_a_window_without_traffic_reads_as_none_not_as_nan() -> None:
    [state] = slo_states(slo_series("idle", {"5m": float("nan"), "1h": 0.2}))
    assert {w.window: w.burn_rate for w in state.windows} == {"5m": None, "1h": 0.2}
    assert state.status == "ok"


def test_a_series_window_comes_from_the_conventions_prefixes_and_an_odd_one_sorts_last() -> None:
    assert (window_of(burn_rate("1h")), window_of(sli_error("3d")), window_of(ERROR_BUDGET)) == ("1h", "3d", None)
    [state] = slo_states(slo_series("odd", {"1d": 0.1, "custom": 0.1, "5m": 0.1}))
    assert [w.window for w in state.windows] == ["5m", "1d", "custom"]


def test_the_slo_selector_reads_only_the_reported_series_of_the_one_asked_for() -> None:
    selector = slo_selector("availability", None)
    assert selector.startswith('{__name__=~"slo:sli_error:ratio_rate.+|slo:burn_rate:ratio_rate.+|')
    assert selector.endswith(',slo="availability"}') and "model=" not in selector


def test_instant_results_of_each_type() -> None:
    assert instant_result("1+1", [1700000000, "2"], 50).model_dump(include={"result_type", "scalar"}) == {
        "result_type": "scalar", "scalar": 2.0}
    assert instant_result('"x"', [1700000000, "x"], 50).result_type == "string"
    vector = instant_result("up", [{"metric": {"__name__": "up", "job": "a"}, "value": [0, "0"]},
                                   {"metric": {"__name__": "up", "job": "b"}, "value": [0, "1"]}], 1)
    assert vector.result_type == "vector" and vector.series.items[0].labels == {"job": "b"} and vector.series.truncated
    matrix = instant_result("up[1m]", [{"metric": {"job": "a"}, "values": [[0, "1"], [1, "2"]]}], 50)
    assert matrix.result_type == "matrix" and matrix.summary.endswith("values are each series' last point")


def test_alertmanager_view_joins_prometheus_alerts_and_adds_its_own() -> None:
    prometheus = [from_prometheus({"labels": {"alertname": "Burn", "severity": "page", "model": "m"},
                                   "state": "firing", "activeAt": "t1", "value": "1.5e+01",
                                   "annotations": {"summary": "burning"}}),
                  from_prometheus({"labels": {"alertname": "Slow", "severity": "ticket"}, "state": "pending",
                                   "value": "NaN"})]
    alertmanager = [{"labels": {"alertname": "Burn", "severity": "page", "model": "m", "cluster": "c"},
                     "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}},
                    {"labels": {"alertname": "Watchdog", "severity": "info"}, "startsAt": "t0",
                     "status": {"state": "active"}}]
    merged = merge_alertmanager(prometheus, alertmanager)
    burn, slow, watchdog = merged
    assert burn.value == 15.0 and burn.silenced_by == ["s1"] and burn.alertmanager_state == "suppressed"
    assert slow.value is None and slow.alertmanager_state is None
    assert watchdog == Alert(name="Watchdog", severity="info", state="firing", labels={}, summary=None,
                             active_since="t0", value=None, in_prometheus=False, alertmanager_state="active",
                             silenced_by=[], inhibited_by=[])
    report = alerts_report(merged, include_pending=False, warnings=[], limit=50)
    assert report.counts == {"firing": 2, "pending": 1, "silenced_or_inhibited": 1, "firing_page": 1,
                             "firing_info": 1}
    assert [a.name for a in report.alerts.items] == ["Burn", "Watchdog"]
    assert "(pending not listed: include_pending=true)" in report.summary


def test_a_silence_without_matchers_is_refused() -> None:
    with pytest.raises(Failure) as refused:
        silence_matchers({})
    assert refused.value.kind == "bad_input"
    assert silence_matchers({"model": "m"}) == [{"name": "model", "value": "m", "isRegex": False, "isEqual": True}]


def test_target_health_counts_per_job_and_lists_what_is_not_up() -> None:
    active = [{"labels": {"job": "vllm", "instance": "a"}, "health": "up"},
              {"labels": {"job": "vllm", "instance": "b"}, "health": "down", "lastError": "refused"},
              {"labels": {"job": "dcgm", "instance": "c"}, "health": "up"}]
    health = target_health_view(active, limit=50)
    assert health.summary == "2/3 targets up in 2 jobs; not up: vllm 1"
    assert [j.job for j in health.jobs] == ["vllm", "dcgm"]
    assert health.not_up.items[0].last_error == "refused"


def test_metric_metadata_is_found_through_its_family_and_labels_by_fewest_values() -> None:
    metadata = {"ttft_seconds": {"type": "histogram", "help": "time to first token", "unit": ""}}
    assert metadata_of("ttft_seconds_bucket", metadata).type == "histogram"
    assert metadata_of("slo:objective:ratio", metadata).type == "recording rule"
    assert name_pattern("kv_cache(").search("vllm:kv_cache(") is not None, "not a regex: the text itself"
    infos = label_infos([{"__name__": "x", "job": "a", "pod": "p1"}, {"__name__": "x", "job": "a", "pod": "p2"}], 1)
    assert [(i.name, i.distinct_values) for i in infos] == [("job", 1), ("pod", 2)]
    assert [v.value for v in infos[1].top_values] == ["p1"]
