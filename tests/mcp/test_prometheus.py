"""The prometheus MCP server against the sandbox's real Prometheus and Alertmanager: answers are summaries
with caps, errors are sentences (Prometheus's parse error, "unreachable", the variable to set)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.prometheus.client import session_for
from mcp_servers.prometheus.series import change_points
from mcp_servers.settings import HttpEndpoint, Settings
from tests.mcp.calls import call, failure
from tests.polling import until

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]  # the `mcp` fixtures of conftest.py

MODELS = {"llama-70b", "qwen-7b", "mistral-7b"}


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------------ queries


async def test_query_of_up_counts_every_scrape_target(fleet: RunningSandbox, mcp: ClientFactory) -> None:
    targets = httpx.get(f"{fleet.endpoints['prometheus']}/api/v1/targets", timeout=5).json()["data"]
    async with mcp("prometheus") as client:
        answer = await call(client, "query", promql="up")
    assert answer["result_type"] == "vector"
    assert answer["series"]["total"] == len(targets["activeTargets"]) >= 20
    assert {s["value"] for s in answer["series"]["items"]} == {1.0}
    assert f"values: 1 x{len(targets['activeTargets'])}" in answer["summary"]


async def test_query_sorts_series_by_value_highest_first(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        answer = await call(client, "query", promql="count by (job) (up)")
    items = answer["series"]["items"]
    assert [s["value"] for s in items] == sorted((s["value"] for s in items), reverse=True)
    assert items[0] == {"metric": None, "labels": {"job": "vllm"}, "value": 9.0}  # 4 + 3 + 2 replicas


async def test_query_caps_the_series_and_says_it_truncated(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        answer = await call(client, "query", promql="up", limit=3)
    assert len(answer["series"]["items"]) == 3
    assert answer["series"]["total"] > 3 and answer["series"]["truncated"] is True


async def test_scalars_and_non_finite_values_are_reported_as_prometheus_writes_them(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        scalar = await call(client, "query", promql="scalar(count(up{job=\"vllm\"}))")
        nan = await call(client, "query", promql="vector(0) / 0")
    assert (scalar["result_type"], scalar["scalar"]) == ("scalar", 9.0)
    assert nan["series"]["items"][0]["value"] == "NaN"


async def test_bad_promql_gives_prometheus_own_parse_error(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        refused = await failure(client, "query", promql="sum(up")
        bad_time_kind, bad_time = await failure(client, "query", promql="up", time="yesterday-ish")
    assert refused == ("bad_input", "bad PromQL: 1:7: parse error: unclosed left parenthesis")
    assert bad_time_kind == "bad_input"
    assert bad_time.startswith("bad time: ") and "yesterday-ish" in bad_time


async def test_query_range_summarises_each_series_instead_of_returning_points(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        summary = await call(client, "query_range", promql="sum by (job) (up)", minutes=0.5, step_s=1)
        raw = await call(client, "query_range", promql="sum by (job) (up)", minutes=0.5, step_s=1, raw=True,
                         limit=1)
    series = {s["labels"]["job"]: s for s in summary["series"]["items"]}
    assert {"vllm", "dcgm-exporter", "inference-gateway"} <= series.keys()
    assert (series["vllm"]["last"], series["vllm"]["max"]) == (9.0, 9.0)
    for s in series.values():
        assert s["raw"] is None and s["points"] >= 1
        assert s["min"] <= s["mean"] <= s["max"]
    assert summary["summary"].startswith(f"{len(series)} series; ")
    assert raw["series"]["truncated"] is True and len(raw["series"]["items"]) == 1
    [shown] = raw["series"]["items"]
    assert len(shown["raw"]) == shown["points"] and all(len(point) == 2 for point in shown["raw"])


def test_a_level_shift_is_one_change_point_with_its_time_and_levels() -> None:
    points = [(float(t), 1.0 + 0.01 * (t % 2)) for t in range(30)] + [(float(t), 5.0) for t in range(30, 60)]
    [change] = change_points(points)
    assert (change.at, change.after) == (30.0, 5.0) and change.before == pytest.approx(1.0, abs=0.01)


def test_a_jump_into_noise_is_found_where_it_starts() -> None:
    calm = [(float(t), 0.0) for t in range(10)]
    noisy = [(float(t), (0.3, 0.9, 0.5, 0.95, 0.4)[t % 5]) for t in range(10, 40)]
    [change] = change_points(calm + noisy)
    assert (change.at, change.before) == (10.0, 0.0) and change.after > 0.3


def test_spikes_ramps_counters_and_noise_are_no_change() -> None:
    flat = [(float(t), 10.0 + (0.2 if t % 3 else -0.2)) for t in range(40)]
    spike = [*flat[:20], (20.0, 40.0), *flat[21:]]
    counter = [(float(t), 100.0 + 3 * t) for t in range(60)]
    assert change_points(flat) == change_points(spike) == change_points(counter) == []


# ---------------------------------------------------------------------------------------------------- SLOs


async def test_slo_status_lists_the_nine_slos_of_the_default_fleet_all_ok(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        report = await until(lambda: call(client, "slo_status"), "traffic in every window", lambda r: all(
            s["windows"] and all(w["burn_rate"] is not None for w in s["windows"]) for s in r["slos"]["items"]),
            timeout_s=30)
    slos = report["slos"]["items"]
    assert {(s["model"], s["slo"]) for s in slos} == {(m, n) for m in MODELS
                                                      for n in ("availability", "latency", "overhead")}
    assert report["counts"] == {"burning-page": 0, "burning-ticket": 0, "ok": 9}
    assert report["summary"] == "9 SLOs: 9 ok"
    for s in slos:
        assert s["objective"] == {"availability": 0.999, "latency": 0.99, "overhead": 0.99}[s["slo"]]
        assert s["error_budget"] == pytest.approx(1 - s["objective"])
        assert [w["window"] for w in s["windows"]] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
        assert 0 < s["budget_remaining"] <= 1 and s["time_scale"] == "60"


async def test_slo_status_filters_by_slo_and_model_and_names_what_exists(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        one_model = await call(client, "slo_status", model="qwen-7b")
        one = await call(client, "slo_status", slo="latency", model="qwen-7b")
        kind, unknown = await failure(client, "slo_status", model="gpt-9")
    assert {s["slo"] for s in one_model["slos"]["items"]} == {"availability", "latency", "overhead"}
    assert [(s["model"], s["slo"]) for s in one["slos"]["items"]] == [("qwen-7b", "latency")]
    assert kind == "not_found"
    assert unknown.startswith("no SLO matches slo=None model='gpt-9'") and "availability/llama-70b" in unknown


# ------------------------------------------------------------------------------------- alerts and targets


async def test_a_healthy_fleet_has_no_firing_alerts(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        report = await call(client, "firing_alerts")
    assert report["alerts"]["items"] == [] and report["warnings"] == []
    assert report["summary"].startswith("0 firing, ")


async def test_firing_alerts_still_answers_from_prometheus_when_alertmanager_is_down(mcp: ClientFactory) -> None:
    dead = HttpEndpoint(url=f"http://127.0.0.1:{dead_port()}")
    async with mcp("prometheus", alertmanager=dead) as client:
        report = await call(client, "firing_alerts")
    [warning] = report["warnings"]
    assert warning.startswith(f"Alertmanager at {dead.url} is unreachable: ")


async def test_target_health_counts_targets_per_job(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        health = await call(client, "target_health")
    jobs = {j["job"]: j for j in health["jobs"]}
    assert jobs["vllm"] == {"job": "vllm", "up": 9, "down": 0, "unknown": 0}
    assert jobs["dcgm-exporter"]["up"] == 4 and jobs["node-exporter"]["up"] == 4
    total = sum(j["up"] for j in health["jobs"])
    assert health["summary"] == f"{total}/{total} targets up in {len(jobs)} jobs"
    assert health["not_up"] == {"items": [], "total": 0, "truncated": False}


# ------------------------------------------------------------------------------------------------ metrics


async def test_find_metrics_by_substring_or_regex_with_metadata(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        kv = await call(client, "find_metrics", search="KV_CACHE")
        temps = await call(client, "find_metrics", search="^DCGM_FI_DEV_(GPU|MEMORY)_TEMP$")
        rules = await call(client, "find_metrics", search="^slo:(objective|error_budget|time_period)", limit=2)
    [usage] = kv["metrics"]["items"]
    assert (usage["name"], usage["type"]) == ("vllm:kv_cache_usage_perc", "gauge") and usage["help"]
    assert [m["name"] for m in temps["metrics"]["items"]] == ["DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP"]
    assert rules["metrics"]["total"] == 3 and rules["metrics"]["truncated"] is True
    assert {m["type"] for m in rules["metrics"]["items"]} == {"recording rule"}


async def test_metric_labels_gives_label_names_and_their_commonest_values(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        kv = await call(client, "metric_labels", metric="vllm:kv_cache_usage_perc")
        buckets = await call(client, "metric_labels", metric="litellm_llm_api_time_to_first_token_metric_bucket")
        missing_kind, missing = await failure(client, "metric_labels", metric="no_such_metric_total")
        bad_kind, bad = await failure(client, "metric_labels", metric="up{")
    assert (kv["type"], kv["series"]) == ("gauge", 9)
    labels = {label["name"]: label for label in kv["labels"]}
    assert labels["model_name"]["distinct_values"] == 3
    assert labels["model_name"]["top_values"][0] == {"value": "llama-70b", "series": 4}
    assert buckets["type"] == "histogram"  # found through the family's metadata
    assert missing_kind == "not_found" and missing.startswith("no series match 'no_such_metric_total'")
    assert bad_kind == "bad_input" and bad.startswith("bad series selector: ") and "parse error" in bad


# ------------------------------------------------------------------------------------------ configuration


async def test_an_unreachable_prometheus_is_reported_plainly() -> None:
    url = f"http://127.0.0.1:{dead_port()}"
    settings = Settings(prometheus=HttpEndpoint(url=url), alertmanager=HttpEndpoint(url=url))
    async with Client(build("prometheus", settings)) as client:
        for tool in ("query", "slo_status", "firing_alerts", "target_health"):
            args = {"promql": "up"} if tool == "query" else {}
            kind, message = await failure(client, tool, **args)
            assert kind == "unreachable", ("a refused connection is no timeout", tool, message)
            assert message.startswith(f"Prometheus at {url} is unreachable: "), (tool, message)
        silence_kind, silence = await failure(client, "expire_silence", silence_id="x", reason="test")
    assert silence_kind == "unreachable"
    assert silence.startswith(f"Alertmanager at {url} is unreachable: ")


async def test_missing_configuration_names_the_variable_to_set() -> None:
    async with Client(build("prometheus", Settings())) as client:
        prometheus_kind, prometheus = await failure(client, "query", promql="up")
        alertmanager_kind, alertmanager = await failure(client, "create_silence", matchers={"model": "qwen-7b"},
                                                        minutes=5, reason="test")
    assert prometheus_kind == alertmanager_kind == "unreachable", "an API that is not configured cannot be reached"
    assert prometheus.startswith("Prometheus is not configured: set PROMETHEUS_URL")
    assert alertmanager.startswith("Alertmanager is not configured: set ALERTMANAGER_URL")


# ------------------------------------------------------------------------------------------------- writes


async def test_silence_create_then_expire_shows_up_in_alertmanager(fresh_fleet: RunningSandbox,
                                                                   fresh_mcp: ClientFactory) -> None:
    silences_url = f"{fresh_fleet.endpoints['alertmanager']}/api/v2/silences"
    async with fresh_mcp("prometheus") as client:
        created = await call(client, "create_silence", matchers={"model": "qwen-7b", "slo": "latency"},
                             minutes=30, reason="load test", idempotency_key="inc-1")
        again = await call(client, "create_silence", matchers={"model": "qwen-7b", "slo": "latency"},
                           minutes=30, reason="load test", idempotency_key="inc-1")
        silence_id = created["after"]["id"]
        [held] = [s for s in httpx.get(silences_url, timeout=5).json() if s["id"] == silence_id]
        dry = await call(client, "expire_silence", silence_id=silence_id, reason="done", dry_run=True)
        still_active = httpx.get(f"{silences_url[:-1]}/{silence_id}", timeout=5).json()["status"]["state"]
        expired = await call(client, "expire_silence", silence_id=silence_id, reason="done")
        replay = await call(client, "expire_silence", silence_id=silence_id, reason="done")
        unknown = await failure(client, "expire_silence", silence_id="00000000-0000-0000-0000-000000000000",
                                reason="done")
    assert (created["action"], created["after"]["state"], created["replayed"]) == ("create_silence", "active", False)
    assert (again["replayed"], again["after"]["id"]) == (True, silence_id)
    assert held["status"]["state"] == "active" and held["createdBy"] == "firebreak"
    assert {(m["name"], m["value"]) for m in held["matchers"]} == {("model", "qwen-7b"), ("slo", "latency")}
    assert dry["dry_run"] is True and still_active == "active"
    assert (expired["before"]["state"], expired["after"]["state"], expired["replayed"]) == ("active", "expired",
                                                                                           False)
    assert httpx.get(f"{silences_url[:-1]}/{silence_id}", timeout=5).json()["status"]["state"] == "expired"
    assert replay["replayed"] is True
    assert unknown == ("not_found", "silence 00000000-0000-0000-0000-000000000000 not found in Alertmanager")


async def test_silence_inputs_alertmanager_refuses_come_back_as_its_reason(mcp: ClientFactory) -> None:
    async with mcp("prometheus") as client:
        empty_kind, empty = await failure(client, "create_silence", matchers={}, minutes=5, reason="test")
        match_all_kind, match_all = await failure(client, "create_silence", minutes=5, reason="test",
                                                  matchers=[{"name": "model", "value": ".*", "isRegex": True}])
    assert empty_kind == match_all_kind == "bad_input"
    assert empty.startswith("a silence needs at least one matcher")
    assert "at least one matcher must not match the empty string" in match_all


async def test_an_outage_burns_the_budget_pages_and_a_silence_suppresses_the_page(
        fresh_fleet: RunningSandbox, fresh_mcp: ClientFactory) -> None:
    # A few calm seconds first, so that the error ratio has a level to jump from.
    fresh_fleet.inject([{"kind": "primary_outage", "at_s": 3, "target": {"deployment": "mistral-7b"}}])
    async with fresh_mcp("prometheus") as client:
        report = await until(lambda: call(client, "slo_status"), "a burning SLO",
                             lambda r: r["slos"]["items"][0]["status"] == "burning-page", timeout_s=30)
        alerts = await until(lambda: call(client, "firing_alerts"), "the page in Alertmanager",
                             lambda r: any(a["severity"] == "page" and a["alertmanager_state"] == "active"
                                           for a in r["alerts"]["items"]), timeout_s=30)
        page = alerts["alerts"]["items"][0]  # pages come first
        silence = await call(client, "create_silence", matchers={"alertname": page["name"], "model": "mistral-7b"},
                             minutes=10, reason="known outage")
        silenced = await until(lambda: call(client, "firing_alerts"), "the silenced page",
                               lambda r: r["alerts"]["items"][0]["silenced_by"] != [], timeout_s=30)
        ratio = await call(client, "query_range", promql='slo:sli_error:ratio_rate5m{slo="availability"}',
                           minutes=1, step_s=1)
    worst = report["slos"]["items"][0]
    assert (worst["model"], worst["slo"]) == ("mistral-7b", "availability")
    assert "over 1h" in worst["reason"] and "above 14.4x" in worst["reason"]
    assert report["counts"]["burning-page"] == 1 and report["summary"].startswith("9 SLOs: 1 burning-page")
    assert (page["severity"], page["state"], page["labels"]["model"]) == ("page", "firing", "mistral-7b")
    assert page["in_prometheus"] is True and page["value"] > 14.4
    assert silenced["alerts"]["items"][0]["silenced_by"] == [silence["after"]["id"]]
    assert silenced["alerts"]["items"][0]["alertmanager_state"] == "suppressed"
    mistral = next(s for s in ratio["series"]["items"] if s["labels"]["model"] == "mistral-7b")
    assert mistral["change_points"] and mistral["change_points"][0]["after"] > mistral["change_points"][0]["before"]


def test_the_environments_proxy_and_ca_bundle_are_read_once_when_the_session_is_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "prometheus.monitoring")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corporate.pem")

    proxied = session_for(HttpEndpoint(url="http://prometheus.internal:9090"))
    direct = session_for(HttpEndpoint(url="http://prometheus.monitoring:9090"))
    unverified = session_for(HttpEndpoint(url="https://prometheus.internal:9090", insecure_skip_verify=True))

    assert proxied.proxies.get("http") == "http://proxy.internal:3128"
    assert "http" not in direct.proxies
    assert proxied.verify == "/etc/ssl/corporate.pem" and unverified.verify is False
    assert not proxied.trust_env, "requests reads the environment no more"
