"""The gpu server reads real dcgm-exporter pages (tests/fixtures/real/dcgm/) through a local fake Prometheus, and
the GPU runbooks' signals fire on what it answers.

The fake Prometheus answers the gpu server's five query shapes from two scrapes ("before" and "now") the way
Prometheus would evaluate them over those samples: the selector and the lost-GPU `unless` from the pages, the
violation `rate()` from two scrapes 30 s apart, and the recent-Xid query as "series new since before".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import pytest

from agent.diagnose.diagnosis import diagnose
from agent.diagnose.runbooks import IncidentContext, load_runbooks
from mcp_servers.answers import Capped
from mcp_servers.gpu.dcgm import read_dcgm
from mcp_servers.gpu.health import unhealthy_report
from mcp_servers.kubernetes.models import NodeList, NodeRow, PodList, PodRow
from mcp_servers.logs.lines import LogLine
from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import HttpEndpoint
from tests.json_server import json_server
from tests.signals import fires

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "dcgm"
ROOT = Path(__file__).parents[2]
SCRAPE_INTERVAL_S = 30.0

Series = dict[tuple[tuple[str, str], ...], float]  # labels (with __name__) -> value


SAMPLE = re.compile(r'^(\w+)\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')


def page(*names: str) -> Series:
    """The samples of exposition files, as Prometheus stores them (names as written; no `_total` added)."""
    series: Series = {}
    for name in names:
        for line in (REAL / name).read_text().splitlines():
            if sample := SAMPLE.match(line):
                labels = {"__name__": sample.group(1), **dict(LABEL.findall(sample.group(2)))}
                series[tuple(sorted(labels.items()))] = float(sample.group(3))
    return series


def without(series: Series, **labels: str) -> Series:
    return {k: v for k, v in series.items() if not set(labels.items()) <= set(k)}


class FakePrometheus:
    def __init__(self, before: Series, now: Series) -> None:
        self.before, self.now = before, now

    def answer(self, promql: str) -> list[dict[str, Any]]:
        if selector := re.fullmatch(r'\{__name__=~"([^"]+)"\}', promql):
            names = set(selector.group(1).split("|"))
            return self._vector((k, v) for k, v in self.now.items() if dict(k)["__name__"] in names)
        if rate := re.fullmatch(r"rate\((\w+)\[1m\]\) / 1e9", promql):
            return self._vector((k, (v - self.before[k]) / SCRAPE_INTERVAL_S / 1e9) for k, v in self.now.items()
                                if dict(k)["__name__"] == rate.group(1) and k in self.before)
        if promql.startswith("last_over_time(DCGM_FI_DEV_GPU_TEMP"):
            live = {dict(k)["UUID"] for k in self.now if dict(k)["__name__"] == "DCGM_FI_DEV_GPU_TEMP"}
            return self._vector((k, v) for k, v in self.before.items()
                                if dict(k)["__name__"] == "DCGM_FI_DEV_GPU_TEMP" and dict(k)["UUID"] not in live)
        if promql.startswith("(DCGM_FI_DEV_XID_ERRORS != 0 unless on(UUID, err_code)"):
            def gpu_and_xid(key: Any) -> tuple[str, str]:
                return dict(key)["UUID"], dict(key).get("err_code", "")
            earlier = {gpu_and_xid(k) for k in self.before if dict(k)["__name__"] == "DCGM_FI_DEV_XID_ERRORS"}
            return self._vector((k, v) for k, v in self.now.items()
                                if dict(k)["__name__"] == "DCGM_FI_DEV_XID_ERRORS" and v
                                and gpu_and_xid(k) not in earlier)
        if promql == "up == 0":
            return []  # the exporter answered both scrapes
        raise AssertionError(f"the gpu server asked an unexpected query: {promql}")

    @staticmethod
    def _vector(series: Any) -> list[dict[str, Any]]:
        return [{"metric": dict(k), "value": [1763435560.0, repr(float(v))]} for k, v in series]


@pytest.fixture
def prometheus() -> Iterator[tuple[HttpEndpoint, list[FakePrometheus]]]:
    holder: list[FakePrometheus] = []

    def answer(path: str) -> tuple[int, Any]:
        promql = parse_qs(urlparse(path).query)["query"][0]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": holder[0].answer(promql)}}

    with json_server(answer) as url:
        yield HttpEndpoint(url=url), holder


def unhealthy(prometheus: tuple[HttpEndpoint, list[FakePrometheus]], before: Series, now: Series) -> dict[str, Any]:
    endpoint, holder = prometheus
    holder[:] = [FakePrometheus(before, now)]
    readings = anyio.run(read_dcgm, prometheus_api(endpoint))
    return unhealthy_report(readings, "dcgm").model_dump()


def by_gpu(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {g["gpu"]: g for g in report["gpus"]["items"]}


def test_the_stock_page_shows_the_clamped_hot_gpu_as_throttled_under_its_pod(prometheus: Any) -> None:
    default = page("metrics-default.prom")
    report = unhealthy(prometheus, default, default)
    [hot] = report["gpus"]["items"]
    assert (hot["gpu"], hot["pod"], hot["cordon_node"]) == (1, "qwen-7b-6f8d9c7b4d-lq7tw", False)
    assert hot["reasons"][0]["kind"] == "thermal_throttle"
    assert "SM clock 1095 of 1980 MHz while 100 % busy at 89 °C" in hot["reasons"][0]["detail"]
    assert fires("gpu-thermal-throttle", "throttled-gpu-under-model", report, model="qwen-7b")
    assert fires("hung-pod", "stuck-pod-on-a-throttled-gpu", report,
                 stuck={"labels": {"pod": "qwen-7b-6f8d9c7b4d-lq7tw"}})


def test_the_extras_give_the_thermal_share_in_ns_and_the_clock_event_reasons(prometheus: Any) -> None:
    before = page("metrics-default.prom", "metrics-extras.prom")
    now = page("metrics-default.prom", "metrics-extras.30s-later.prom")
    hot = by_gpu(unhealthy(prometheus, before, now))[1]
    detail = hot["reasons"][0]["detail"]
    assert "thermal slowdown active (sw_thermal_slowdown, hw_thermal_slowdown)" in detail
    assert "throttled 93% of the last 1m" in detail, "27.99 s of throttling in 30 s, counted in ns"


def test_new_xids_are_current_and_hardware_ones_fire_the_xid_runbook(prometheus: Any) -> None:
    before = page("metrics-default.prom")
    now = {**without(before, __name__="DCGM_FI_DEV_XID_ERRORS"), **page("metrics-xid.prom")}
    gpus = by_gpu(unhealthy(prometheus, before, now))
    assert gpus[0]["severity"] == "critical" and gpus[0]["cordon_node"]
    assert gpus[0]["reasons"][0]["detail"].startswith("last Xid 48 (ROBUST_CHANNEL_GPU_ECC_DBE)")
    report = unhealthy(prometheus, before, now)
    assert fires("gpu-xid", "hardware-fault-under-model", report, model="llama-70b")


def test_the_same_sticky_xids_an_hour_later_are_only_info(prometheus: Any) -> None:
    now = {**without(page("metrics-default.prom"), __name__="DCGM_FI_DEV_XID_ERRORS"), **page("metrics-xid.prom")}
    report = unhealthy(prometheus, now, now)
    assert {(g["gpu"], g["severity"], g["cordon_node"]) for g in report["gpus"]["items"]} >= {(0, "info", False)}
    assert not fires("gpu-xid", "hardware-fault-under-model", report, model="llama-70b")


def test_a_sticky_xid_seen_by_a_new_pod_on_its_gpu_is_still_old(prometheus: Any) -> None:
    before = {**without(page("metrics-default.prom"), __name__="DCGM_FI_DEV_XID_ERRORS"), **page("metrics-xid.prom")}
    # a rollout put a new pod on the GPUs: every series gets new pod labels, the Xids stay the old ones
    now = {tuple((name, value[:-5] + "q7w2x" if name == "pod" and value else value)
                 for name, value in key): v for key, v in before.items()}
    assert now != before

    report = unhealthy(prometheus, before, now)

    assert not any(g["cordon_node"] for g in report["gpus"]["items"])
    assert not fires("gpu-xid", "hardware-fault-under-model", report, model="llama-70b")


def test_a_gpu_whose_series_stopped_is_lost_under_its_last_pod_and_fires_the_xid_runbook(prometheus: Any) -> None:
    before = page("metrics-default.prom")
    now = without(before, UUID="GPU-5c2e7a91-0d3b-4f6a-8e2c-1b9d0a7f6e54")
    report = unhealthy(prometheus, before, now)
    lost = by_gpu(report)[1]
    assert [r["kind"] for r in lost["reasons"]] == ["gpu_lost"] and lost["cordon_node"]
    assert lost["pod"] == "qwen-7b-6f8d9c7b4d-lq7tw"
    assert fires("gpu-xid", "hardware-fault-under-model", report, model="qwen-7b")


def test_the_kernel_and_device_plugin_lines_name_the_same_xid_and_gpu() -> None:
    kernel = (REAL / "kernel-xid.log").read_text()
    plugin = (REAL / "device-plugin.log").read_text()
    xid = re.search(r"NVRM: Xid \(PCI:0000:(\w\w):00\): (\d+), ", kernel)
    critical = re.search(r"XidCriticalError: Xid=(\d+) on Device=(GPU-[0-9a-f-]+); marking device as unhealthy\.",
                         plugin)
    assert xid and critical and xid.group(2) == critical.group(1) == "79"
    gone = next(dict(k) for k in page("metrics-default.prom") if dict(k)["UUID"] == critical.group(2))
    assert gone["pci_bus_id"] == f"00000000:{xid.group(1)}:00.0", "the kernel's PCI address is the exporter's"


# -- the gpu-xid runbook as a whole: DCGM's answer beside what the cluster says --------------------------------
QWEN = IncidentContext(model="qwen-7b", slo="availability")
QWEN_POD = "qwen-7b-6f8d9c7b4d-lq7tw"  # on gpu-node-2 GPU 1 in the pages
GPU_1 = "GPU-5c2e7a91-0d3b-4f6a-8e2c-1b9d0a7f6e54"


def cluster(*, status: str, restarts: int, allocatable: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """list_pods (the qwen pod on gpu-node-2 and a healthy sibling) and list_nodes, as the kubernetes tools answer."""
    pods = [PodRow(name=QWEN_POD, namespace="inference", status=status, ready="1/1" if status == "Running" else "0/1",
                   restarts=restarts, node="gpu-node-2", gpus=1, age="3d"),
            PodRow(name="qwen-7b-6f8d9c7b4d-8fj2p", namespace="inference", status="Running", ready="1/1", restarts=0,
                   node="gpu-node-1", gpus=1, age="3d")]
    failing = int(status != "Running")
    listed = PodList(total=2, unhealthy=failing, by_status={"Running": 2 - failing, status: failing} if failing
                     else {"Running": 2}, top_restarters=[], pods=Capped[PodRow].of(pods))
    rows = [NodeRow(name=name, ready=True, cordoned=False, status="Ready", problems=[], gpu_capacity=8,
                    gpu_allocatable=free, gpus_unhealthy=8 - free, gpu_allocated=3, pods=3)
            for name, free in (("gpu-node-2", allocatable), ("gpu-node-1", 8))]
    nodes = NodeList(total=2, ready=2, not_ready=[], cordoned=[], gpus={}, nodes=rows)
    return listed.model_dump(), nodes.model_dump()


def plugin_log(*lines: str) -> dict[str, Any]:
    """search_logs' answer over namespace gpu-operator, as far as the runbook reads it."""
    at = datetime(2026, 11, 18, 3, 12, 40, tzinfo=UTC)
    items = [LogLine(timestamp=at, pod="nvidia-device-plugin-daemonset-7xkq2", text=line) for line in lines]
    return {"lines_matched": len(items), "lines": Capped[LogLine].of(items).model_dump()}


def gpu_xid(gpus: dict[str, Any], pods: dict[str, Any], nodes: dict[str, Any], plugin: dict[str, Any]) -> Any:
    runbook = load_runbooks(ROOT / "runbooks").get("gpu-xid")
    assert runbook is not None
    calls = runbook.calls(QWEN)
    evidence = {calls["gpus"].key: gpus, calls["pods"].key: pods, calls["nodes"].key: nodes,
                calls["plugin"].key: plugin}
    hypotheses = diagnose([runbook], QWEN, evidence, burning=True).hypotheses
    return hypotheses[0] if hypotheses else None


def test_the_xid_gauge_reading_79_under_a_crash_looping_pod_cordons_its_node(prometheus: Any) -> None:
    """Where DCGM may read /dev/kmsg: GPU 1's other series stop and its XID gauge newly reads 79."""
    before = page("metrics-default.prom")
    xid_79 = {k: v for k, v in page("metrics-xid.prom").items() if dict(k)["UUID"] == GPU_1}
    now = {**without(before, UUID=GPU_1), **xid_79}
    pods, nodes = cluster(status="CrashLoopBackOff", restarts=4, allocatable=7)
    plugin = plugin_log((REAL / "device-plugin.log").read_text().strip())

    found = gpu_xid(unhealthy(prometheus, before, now), pods, nodes, plugin)

    assert found is not None and found.confidence == 1.0
    assert {s.id for s in found.signals if s.matched} == {
        "hardware-fault-under-model", "model-pod-failing-on-that-node", "node-withdrew-gpus",
        "device-plugin-marked-the-gpu-unhealthy"}
    assert found.component == "node/gpu-node-2"
    assert [(a.action, a.target, a.ready) for a in found.remediation] == [
        ("cordon_node", "node/gpu-node-2", True), ("delete_pod", f"pod/{QWEN_POD}", True)]


def test_a_sticky_xid_from_long_ago_cordons_nothing_even_under_a_failing_pod(prometheus: Any) -> None:
    now = {**without(page("metrics-default.prom"), __name__="DCGM_FI_DEV_XID_ERRORS"), **page("metrics-xid.prom")}
    pods, nodes = cluster(status="CrashLoopBackOff", restarts=4, allocatable=8)

    assert gpu_xid(unhealthy(prometheus, now, now), pods, nodes, plugin_log()) is None


def test_an_application_xid_13_leaves_the_node_alone(prometheus: Any) -> None:
    """Xid 13 is the application's: DCGM reports it as new, the device plugin ignores it (no line, allocatable
    unchanged), and the pod restarted once. The gauge's err_msg is dcgm-exporter's text for 13
    (internal/pkg/collector/xid_errors.go), as the sandbox prints it."""
    before = page("metrics-default.prom")
    xid_13 = {tuple((name, {"err_code": "13", "err_msg": "Graphics Engine Exception"}.get(name, value))
                    for name, value in k): 13.0
              for k in page("metrics-xid.prom") if dict(k)["UUID"] == GPU_1}
    now = {**without(before, __name__="DCGM_FI_DEV_XID_ERRORS"), **xid_13}
    gpus = unhealthy(prometheus, before, now)
    assert [(g["gpu"], g["cordon_node"]) for g in gpus["gpus"]["items"] if g["gpu"] == 1] == [(1, False)]
    pods, nodes = cluster(status="Running", restarts=1, allocatable=8)

    assert gpu_xid(gpus, pods, nodes, plugin_log()) is None
