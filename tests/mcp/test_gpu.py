"""The gpu server: health per node and GPU from DCGM metrics in the sandbox's Prometheus, the finder of unhealthy
GPUs with the pods on them, and the Xid catalogue."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import pytest
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.gpu import xid
from mcp_servers.gpu.health import health_report, unhealthy_report
from mcp_servers.gpu.reading import GpuReading
from mcp_servers.settings import HttpEndpoint, Settings
from tests.mcp.calls import failure

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]  # the `mcp` fixtures of conftest.py

EVIDENCE_DEADLINE_S = 60.0


async def _call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments or {}, raise_on_error=False)
    assert not result.is_error, result.content[0].text
    return dict(result.structured_content or {})


# --- a healthy fleet ------------------------------------------------------------------------------------------


async def test_healthy_fleet_summary_counts_four_nodes_of_eight_gpus_and_nothing_abnormal(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        report = await _call(client, "gpu_health")
    assert (report["source"], report["node_count"], report["gpu_count"], report["abnormal_count"]) == \
        ("dcgm", 4, 32, 0)
    assert report["top_offenders"] == []
    nodes = report["nodes"]["items"]
    assert [n["node"] for n in nodes] == ["gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4"]
    for node in nodes:
        assert node["gpu_count"] == 8 and node["abnormal_count"] == 0
        assert node["gpus"]["items"] == [], "without detail only abnormal GPUs are listed"
        assert 20 < node["max_gpu_temp_c"] < 85
        assert 0 <= node["mean_util_pct"] <= 100


async def test_detail_lists_every_gpu_with_its_readings_and_pod(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        report = await _call(client, "gpu_health", {"node": "gpu-node-2", "detail": True})
    [node] = report["nodes"]["items"]
    gpus = {g["gpu"]: g for g in node["gpus"]["items"]}
    assert sorted(gpus) == list(range(8))
    llama = gpus[1]
    assert llama["status"] == "ok" and llama["problems"] == []
    assert llama["pod"].startswith("llama-70b-") and llama["namespace"] == "inference"
    assert llama["model"] == "NVIDIA H100 80GB HBM3"
    assert 80_000 < llama["memory_total_mib"] < 82_000 and llama["memory_used_mib"] > 0
    assert llama["sm_clock_mhz"] > 0 and llama["power_w"] > 0
    assert llama["ecc_dbe_volatile"] is None, "the volatile ECC totals are not among dcgm-exporter's defaults"
    assert llama["last_xid"] is None
    assert gpus[1]["pod"] == gpus[0]["pod"], "llama-70b replica 1 holds GPUs 0 and 1"
    assert gpus[2]["pod"].startswith("qwen-7b-")
    assert gpus[5]["pod"] == "none", "a free GPU of a fleet with the pod mapping on has no pod"


async def test_a_healthy_fleet_has_no_unhealthy_gpus(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        report = await _call(client, "unhealthy_gpus")
    assert report["gpus_checked"] == 32
    assert (report["unhealthy_count"], report["critical_count"]) == (0, 0)
    assert report["gpus"] == {"items": [], "total": 0, "truncated": False}


async def test_an_unknown_node_is_refused_with_the_nodes_that_have_gpus(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        refused = await failure(client, "gpu_health", node="gpu-node-9")
    assert refused == ("not_found", "node 'gpu-node-9' has no GPU readings; nodes with GPUs: gpu-node-1, "
                                    "gpu-node-2, gpu-node-3, gpu-node-4")


# --- faults ---------------------------------------------------------------------------------------------------


async def _wait_for_unhealthy(client: Client, expected: int) -> dict[str, Any]:
    """Polls until `expected` GPUs are flagged with their thermal evidence in, or the deadline passes."""
    deadline = time.monotonic() + EVIDENCE_DEADLINE_S
    while True:
        report = await _call(client, "unhealthy_gpus")
        kinds = {r["kind"] for g in report["gpus"]["items"] for r in g["reasons"]}
        if report["unhealthy_count"] >= expected and {"gpu_lost", "thermal_throttle"} <= kinds:
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"no evidence of the faults in {EVIDENCE_DEADLINE_S:.0f} s: {report}")
        await anyio.sleep(0.5)


async def test_an_xid_and_a_hot_gpu_are_flagged_worst_first_with_their_pods(fresh_fleet: RunningSandbox,
                                                                            fresh_mcp: ClientFactory) -> None:
    fresh_fleet.inject([
        {"kind": "gpu_xid", "at_s": 0, "target": {"node": "gpu-node-2", "gpu": 1}, "params": {"xid": 79}},
        {"kind": "gpu_thermal_throttle", "at_s": 0, "target": {"node": "gpu-node-4", "gpu": 2}, "params": {}},
    ])
    async with fresh_mcp("gpu") as client:
        report = await _wait_for_unhealthy(client, expected=2)
        health = await _call(client, "gpu_health")

    flagged = report["gpus"]["items"]
    assert [(g["node"], g["gpu"]) for g in flagged] == [("gpu-node-2", 1), ("gpu-node-4", 2)], "worst first"
    fallen, hot = flagged

    assert fallen["severity"] == "critical" and fallen["cordon_node"] is True
    assert [r["kind"] for r in fallen["reasons"]] == ["gpu_lost"], "DCGM cannot read Xid 79 here: its series stop"
    assert "Xid 79" in fallen["reasons"][0]["detail"] and "fallen off the bus" in fallen["reasons"][0]["detail"]
    assert fallen["recommended_action"] == xid.CATALOGUE[79].recommended_action
    assert fallen["pod"].startswith("llama-70b-") and fallen["namespace"] == "inference", "llama-70b replica 1"

    assert hot["severity"] == "warning" and hot["cordon_node"] is False
    kinds = [r["kind"] for r in hot["reasons"]]
    assert kinds[0] == "thermal_throttle" and "xid" not in kinds
    assert "SM clock 1080 of 1980 MHz while" in hot["reasons"][0]["detail"], "the stock fields alone show it"
    assert hot["pod"].startswith("mistral-7b-"), "mistral-7b replica 0 runs on gpu-node-4 GPU 2"

    assert (report["unhealthy_count"], report["critical_count"]) == (2, 1)
    assert report["nodes_affected"] == ["gpu-node-2", "gpu-node-4"]
    assert report["pods_affected"] == [f"inference/{fallen['pod']}", f"inference/{hot['pod']}"]

    assert health["abnormal_count"] == 2
    assert health["top_offenders"][0].startswith(f"gpu-node-2 GPU 1 (pod inference/{fallen['pod']}): critical")
    by_node = {n["node"]: n for n in health["nodes"]["items"]}
    [shown] = by_node["gpu-node-2"]["gpus"]["items"]
    assert shown["status"] == "critical" and "stopped reporting" in shown["problems"][0]
    [throttled] = by_node["gpu-node-4"]["gpus"]["items"]
    assert throttled["throttle"]["reasons"] == [], "no clock-event field among the defaults"
    assert by_node["gpu-node-1"]["abnormal_count"] == by_node["gpu-node-3"]["abnormal_count"] == 0


# --- the Xid catalogue ----------------------------------------------------------------------------------------


async def test_explain_xid_gives_the_catalogue_entry(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        fallen = await _call(client, "explain_xid", {"code": 79})
        app_bug = await _call(client, "explain_xid", {"code": 13})
    assert fallen["known"] is True
    assert fallen["entry"]["name"] == "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS"
    assert fallen["entry"]["usual_cause"] == "hardware" and fallen["entry"]["cordon_node"] is True
    assert fallen["message"].startswith("Xid 79 (ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS): GPU has fallen off")
    assert app_bug["entry"]["usual_cause"] == "application" and app_bug["entry"]["cordon_node"] is False


async def test_explain_xid_answers_plainly_for_a_code_not_in_the_catalogue(mcp: ClientFactory) -> None:
    async with mcp("gpu") as client:
        unknown = await _call(client, "explain_xid", {"code": 9999})
        negative = await client.call_tool("explain_xid", {"code": -1}, raise_on_error=False)
    assert unknown["known"] is False and unknown["entry"] is None
    assert unknown["message"].startswith("Xid 9999 is not in the catalogue; see NVIDIA's Xid documentation")
    assert negative.is_error


def test_the_catalogue_covers_the_fleet_xids_and_separates_hardware_from_application_faults() -> None:
    required = {13, 31, 32, 43, 45, 48, 61, 62, 63, 64, 69, 74, 79, 92, 94, 95, 109, 119, 120, 154}
    assert required <= set(xid.CATALOGUE)
    for code in (48, 64, 74, 79, 95):
        entry = xid.CATALOGUE[code]
        assert entry.cordon_node and entry.severity == "critical", code
        assert "drain" in entry.recommended_action, code
    for code in (13, 31, 43):
        entry = xid.CATALOGUE[code]
        assert entry.usual_cause == "application" and not entry.cordon_node, code
        assert "restart the pod" in entry.recommended_action, code


# --- where Prometheus cannot help -----------------------------------------------------------------------------


async def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    settings = Settings(prometheus=HttpEndpoint(url="http://127.0.0.1:9"))
    async with Client(build("gpu", settings)) as client:
        kind, message = await failure(client, "unhealthy_gpus")
        still_up = await _call(client, "explain_xid", {"code": 48})
    assert kind == "unreachable"
    assert message.startswith("Prometheus at http://127.0.0.1:9 is unreachable: [Errno 111] Connection refused")
    assert "check PROMETHEUS_URL" in message
    assert still_up["known"] is True, "the server stays up"


async def test_without_prometheus_the_error_names_the_setting() -> None:
    async with Client(build("gpu", Settings())) as client:
        result = await client.call_tool("gpu_health", {}, raise_on_error=False)
    assert result.is_error and "set PROMETHEUS_URL" in result.content[0].text


# --- judgement on readings, whatever their source -------------------------------------------------------------


def _gpu(node: str = "n1", gpu: int = 0, **fields: Any) -> GpuReading:
    return GpuReading.model_validate({"node": node, "gpu": gpu, "uuid": f"GPU-{node}-{gpu}", "gpu_temp_c": 50,
                                      "util_pct": 40, **fields})


def test_a_gpu_that_stops_reporting_is_taken_for_fallen_off_the_bus() -> None:
    readings = [_gpu(gpu=0), GpuReading(node="n1", gpu=1, reporting=False)]
    [lost] = unhealthy_report(readings, "dcgm").gpus.items
    assert lost.gpu == 1 and lost.severity == "critical" and lost.cordon_node
    assert [r.kind for r in lost.reasons] == ["gpu_lost"] and "Xid 79" in lost.reasons[0].detail


def test_a_node_whose_gpus_all_went_silent_names_the_node_too_and_still_asks_for_a_cordon() -> None:
    readings = [GpuReading(node="n2", gpu=i, reporting=False) for i in range(2)] + [_gpu(node="n1")]
    report = unhealthy_report(readings, "dcgm")
    assert [(g.node, g.gpu) for g in report.gpus.items] == [("n2", 0), ("n2", 1)]
    assert all("while its dcgm-exporter answers" in g.reasons[0].detail and g.cordon_node for g in report.gpus.items)


def test_gpus_quiet_because_their_exporter_did_not_answer_are_no_evidence_against_them() -> None:
    readings = [GpuReading(node="n2", gpu=i, reporting=False, exporter_down=True) for i in range(2)]
    report = unhealthy_report([*readings, _gpu(node="n1")], "dcgm")
    assert all(g.severity == "warning" and not g.cordon_node for g in report.gpus.items)
    assert "did not answer the last scrape" in report.gpus.items[0].reasons[0].detail


def test_memory_faults_are_critical_and_sorted_before_heat() -> None:
    readings = [_gpu(gpu=0, gpu_temp_c=90), _gpu(gpu=1, ecc_dbe=2), _gpu(gpu=2, row_remap_failure=True),
                _gpu(gpu=3, xid=48, ecc_dbe=1), _gpu(gpu=4)]
    report = unhealthy_report(readings, "dcgm")
    order = [(g.gpu, g.severity, [r.kind for r in g.reasons]) for g in report.gpus.items]
    assert order == [(3, "critical", ["xid", "ecc_dbe"]), (1, "critical", ["ecc_dbe"]),
                     (2, "critical", ["row_remap_failure"]), (0, "warning", ["gpu_temperature"])]
    assert report.gpus_checked == 5 and report.critical_count == 3


def test_an_xid_outside_the_catalogue_is_still_flagged_and_says_where_to_look() -> None:
    [gpu] = unhealthy_report([_gpu(xid=9999)], "dcgm").gpus.items
    assert gpu.severity == "warning"
    assert gpu.recommended_action.startswith("Xid 9999 is not in the catalogue")


def test_throttling_over_the_threshold_counts_even_when_it_has_stopped_now() -> None:
    report = unhealthy_report([_gpu(thermal_fraction=0.3), _gpu(gpu=1, thermal_fraction=0.05)], "dcgm")
    [gpu] = report.gpus.items
    assert gpu.gpu == 0 and gpu.reasons[0].detail == "throttled 30% of the last 1m"


def test_pods_are_unknown_when_the_exporter_has_no_pod_mapping() -> None:
    [gpu] = unhealthy_report([_gpu(xid=31), _gpu(gpu=1)], "dcgm").gpus.items
    assert gpu.pod == "unknown" and gpu.namespace is None


def test_long_answers_are_capped_and_say_so() -> None:
    readings = [_gpu(node=f"n{i:03}", xid=13) for i in range(60)]
    report = unhealthy_report(readings, "dcgm")
    assert (report.unhealthy_count, report.gpus.total, len(report.gpus.items), report.gpus.truncated) == \
        (60, 60, 50, True)
    health = health_report(readings, "dcgm")
    assert (health.nodes.total, len(health.nodes.items), health.nodes.truncated) == (60, 50, True)
    assert len(health.top_offenders) == 5


def test_a_sticky_xid_from_before_the_window_is_only_info_and_asks_for_no_cordon() -> None:
    stale, current = unhealthy_report([_gpu(gpu=0, xid=79, xid_recent=False), _gpu(gpu=1, xid=79, xid_recent=True)],
                                      "dcgm").gpus.items[::-1]
    assert (current.gpu, current.severity, current.cordon_node) == (1, "critical", True)
    assert (stale.gpu, stale.severity, stale.cordon_node) == (0, "info", False)
    assert "holds the last Xid" in stale.reasons[0].detail


def test_a_lost_gpu_whose_xid_dcgm_read_from_the_kernel_log_shows_both() -> None:
    readings = [_gpu(gpu=0), GpuReading(node="n1", gpu=1, reporting=False, xid=79, xid_recent=True)]
    [lost] = unhealthy_report(readings, "dcgm").gpus.items
    assert [r.kind for r in lost.reasons] == ["gpu_lost", "xid"] and lost.cordon_node


HOT_AND_BUSY = {"model": "NVIDIA H100 80GB HBM3", "util_pct": 95, "gpu_temp_c": 89}


@pytest.mark.parametrize(("fields", "throttled"), [
    ({"sm_clock_mhz": 1080}, True),
    ({"sm_clock_mhz": 1755}, False),  # 89 % of the H100's 1980 MHz: not held back
    ({"sm_clock_mhz": 1080, "gpu_temp_c": 70}, False),  # cool: a power cap or an application clock setting
    ({"sm_clock_mhz": 345, "util_pct": 0}, False),  # idle clocks
])
def test_stock_fields_show_thermal_throttling_as_a_slow_clock_on_a_busy_hot_gpu(fields: dict[str, Any],
                                                                               throttled: bool) -> None:
    report = unhealthy_report([_gpu(**{**HOT_AND_BUSY, **fields})], "dcgm")
    kinds = [r.kind for g in report.gpus.items for r in g.reasons]
    assert ("thermal_throttle" in kinds) is throttled


def test_a_model_outside_the_clock_table_is_compared_with_its_busy_peers() -> None:
    model = {"model": "NVIDIA Future GPU", "util_pct": 95}
    readings = [_gpu(gpu=0, sm_clock_mhz=2100, **model), _gpu(gpu=1, sm_clock_mhz=1200, gpu_temp_c=90, **model)]
    [slow] = unhealthy_report(readings, "dcgm").gpus.items
    assert slow.gpu == 1 and "SM clock 1200 of 2100 MHz" in slow.reasons[0].detail
