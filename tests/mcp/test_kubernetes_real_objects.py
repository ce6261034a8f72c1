"""The kubernetes tools on objects as real clusters hold them (tests/fixtures/real/kubernetes, see its README),
served by a fake API server, and the runbooks' signals on what the tools make of them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from agent.diagnose.diagnosis import diagnose
from agent.diagnose.runbooks import IncidentContext, load_runbook
from mcp_servers.compose import build
from mcp_servers.settings import Settings
from tests.mcp.calls import call
from tests.mcp.fake_kube import serving

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "real" / "kubernetes"
LLAMA = IncidentContext(model="llama-70b", slo="availability")


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    with serving(FIXTURES, tmp_path) as path:
        yield path


@pytest.fixture
async def k8s(kubeconfig: Path) -> AsyncIterator[Client]:
    settings = Settings(kubeconfig=str(kubeconfig), kube_watch=False, namespace="inference")
    async with Client(build("kubernetes", settings)) as connected:
        yield connected


async def pods_by_name(k8s: Client) -> dict[str, dict[str, Any]]:
    answer = await call(k8s, "list_pods", deployment="llama-70b", namespace="inference")
    return {p["name"].rsplit("-", 1)[1]: p for p in answer["pods"]["items"]}


async def test_a_pod_on_a_not_ready_node_reads_ready_in_kubectl_and_not_ready_in_its_condition(k8s: Client) -> None:
    pod = (await pods_by_name(k8s))["x2k4q"]

    assert (pod["status"], pod["ready"], pod["conditions"], pod["reason"]) == ("Running", "1/1", ["Ready=False"], None)


async def test_an_evicted_pod_shows_its_container_status_and_keeps_the_reason(k8s: Client) -> None:
    pod = (await pods_by_name(k8s))["7hq2m"]

    assert (pod["status"], pod["ready"], pod["reason"]) == ("Error", "0/1", "Evicted")
    assert set(pod["conditions"]) == {"DisruptionTarget=True", "Ready=False", "ContainersReady=False"}
    assert (pod["last_termination"]["reason"], pod["last_termination"]["exit_code"]) == ("Error", 137)


async def test_oom_killed_and_crash_looping_containers(k8s: Client) -> None:
    pods = await pods_by_name(k8s)

    assert (pods["p9w3z"]["status"], pods["p9w3z"]["restarts"], pods["p9w3z"]["last_termination"]["reason"]) == (
        "Running", 1, "OOMKilled")
    assert (pods["m4t8n"]["status"], pods["m4t8n"]["last_termination"]["exit_code"]) == ("CrashLoopBackOff", 137)
    assert pods["p9w3z"]["conditions"] == []


async def test_nodes_not_ready_and_under_memory_pressure(k8s: Client) -> None:
    nodes = {n["name"]: n for n in (await call(k8s, "list_nodes"))["nodes"]}

    assert (nodes["gpu-node-3"]["ready"], nodes["gpu-node-3"]["status"]) == (False, "NotReady")
    assert "node.kubernetes.io/unreachable:NoExecute" in nodes["gpu-node-3"]["problems"]
    assert nodes["gpu-node-4"]["ready"] and "MemoryPressure=True" in nodes["gpu-node-4"]["problems"]
    assert nodes["gpu-node-1"]["problems"] == []


async def test_a_node_whose_device_plugin_withdrew_a_gpu_says_how_many_and_comes_first(k8s: Client) -> None:
    answer = await call(k8s, "list_nodes")
    nodes = {n["name"]: n for n in answer["nodes"]}

    assert (nodes["gpu-node-2"]["gpu_capacity"], nodes["gpu-node-2"]["gpu_allocatable"]) == (8, 7)
    assert nodes["gpu-node-2"]["gpus_unhealthy"] == 1
    assert nodes["gpu-node-1"]["gpus_unhealthy"] == 0
    assert [n["name"] for n in answer["nodes"]][-1] == "gpu-node-1", "the one node with nothing wrong comes last"


async def test_events_name_the_component_that_recorded_them(k8s: Client) -> None:
    rows = (await call(k8s, "list_events", namespace="all", limit=50))["events"]["items"]
    sources = {(r["reason"], r["object"]): r["source"] for r in rows}

    assert sources[("OOMKilling", "Node/gpu-node-1")] == "kernel-monitor"
    assert sources[("SystemOOM", "Node/gpu-node-4")] == "kubelet"
    assert sources[("EvictionThresholdMet", "Node/gpu-node-4")] == "kubelet"
    assert sources[("NodeNotReady", "Pod/llama-70b-6d8f7c9b5-x2k4q")] == "node-controller"


async def evidence_for(k8s: Client, runbook_id: str) -> tuple[Any, dict[str, Any]]:
    runbook = load_runbook(ROOT / "runbooks" / f"{runbook_id}.md")
    evidence: dict[str, Any] = {}
    for tool_call in runbook.calls(LLAMA).values():
        result = await k8s.call_tool(tool_call.tool, tool_call.args, raise_on_error=False)
        evidence[tool_call.key] = result.structured_content if not result.is_error else {"error": str(result.content)}
    return runbook, evidence


def matched(runbook: Any, evidence: dict[str, Any]) -> tuple[set[str], str, list[str]]:
    """The runbook's matched signals, the component it names, and its evidence lines."""
    (hypothesis,) = diagnose([runbook], LLAMA, evidence, burning=True, min_confidence=0.0).hypotheses
    return {s.id for s in hypothesis.signals if s.matched}, hypothesis.component, hypothesis.evidence


async def test_the_node_not_ready_runbook_fires_on_the_node_controllers_evidence(k8s: Client) -> None:
    runbook, evidence = await evidence_for(k8s, "node-not-ready")

    signals, component, lines = matched(runbook, evidence)
    assert {"node-not-ready", "model-pod-on-that-node", "node-unreachable-taint"} <= signals
    assert component == "node/gpu-node-3"
    assert any(line.startswith("list_pods: llama-70b-6d8f7c9b5-x2k4q on gpu-node-3 is Running (Ready=False)")
               for line in lines), lines


async def test_the_host_oom_runbook_fires_on_an_evicted_pod_under_memory_pressure(k8s: Client) -> None:
    runbook, evidence = await evidence_for(k8s, "host-oom")

    signals, component, lines = matched(runbook, evidence)
    assert {"node-memory-pressure", "model-pod-evicted-or-oom-killed-there"} <= signals
    assert component == "node/gpu-node-4"
    evicted = "list_pods: llama-70b-6d8f7c9b5-7hq2m on gpu-node-4: Evicted Error"
    assert any(line.startswith(evicted) for line in lines), lines


async def test_the_memory_leak_runbook_counts_the_oom_killed_replicas_and_the_pressure_against_itself(
        k8s: Client) -> None:
    runbook, evidence = await evidence_for(k8s, "memory-leak")

    signals, _, _ = matched(runbook, evidence)
    assert {"replicas-oom-killed", "node-memory-pressure"} <= signals
    assert "no-node-memory-pressure" not in signals


NO_GPU_SERIES = {"source": "dcgm", "gpus_checked": 0, "unhealthy_count": 0, "critical_count": 0, "nodes_affected": [],
                 "pods_affected": [], "criteria": "", "gpus": {"items": [], "total": 0, "truncated": False}}


async def test_the_gpu_xid_runbook_finds_a_lost_gpu_by_the_allocatable_drop_alone(k8s: Client) -> None:
    """A GPU off the bus whose series aged out (or whose exporter restarted): no DCGM finding and no XID gauge,
    only the node's allocatable below its capacity under the model's crash-looping pod."""
    runbook, evidence = await evidence_for(k8s, "gpu-xid")
    evidence[runbook.calls(LLAMA)["gpus"].key] = NO_GPU_SERIES

    signals, component, lines = matched(runbook, evidence)
    assert {"model-pod-failing-on-that-node", "node-withdrew-gpus"} <= signals
    assert "hardware-fault-under-model" not in signals
    assert component == "node/gpu-node-2"
    assert "list_nodes: gpu-node-2: the device plugin withdrew 1 of its 8 GPUs" in lines
    (hypothesis,) = diagnose([runbook], LLAMA, evidence, burning=True).hypotheses
    assert [(a.action, a.target, a.ready) for a in hypothesis.remediation] == [
        ("cordon_node", "node/gpu-node-2", True), ("delete_pod", "pod/llama-70b-6d8f7c9b5-m4t8n", True)]
