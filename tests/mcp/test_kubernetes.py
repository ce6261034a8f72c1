"""The kubernetes server's reads against the shared default fleet, and against a fault in a fresh one."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.settings import Settings
from tests.mcp.calls import call, failure

pytestmark = pytest.mark.anyio
ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]  # the `mcp` fixtures of conftest.py
# The default fleet's placement: llama-70b takes 2 GPUs, qwen-7b and mistral-7b one each.
GPUS_ALLOCATED = {"gpu-node-1": 4, "gpu-node-2": 3, "gpu-node-3": 3, "gpu-node-4": 3}


@pytest.fixture
async def k8s(mcp: ClientFactory) -> AsyncIterator[Client]:
    async with mcp("kubernetes") as connected:
        yield connected


def base(name: str) -> str:
    """The deployment of a pod name (`llama-70b-<hash>-<suffix>`)."""
    return name.rsplit("-", 2)[0]


async def test_every_read_tool_is_read_only_and_answers_without_arguments(k8s: Client) -> None:
    tools = {t.name: t for t in await k8s.list_tools()}
    reads = [name for name, tool in tools.items() if tool.annotations.read_only_hint]

    assert sorted(reads) == ["describe_deployment", "describe_node", "describe_pod", "list_deployments",
                             "list_events", "list_nodes", "list_pods", "pod_logs", "rollout_history"]
    for name in reads:
        if not tools[name].input_schema.get("required"):
            await call(k8s, name)


async def test_nodes_show_the_gpu_placement_of_the_default_fleet(k8s: Client) -> None:
    nodes = await call(k8s, "list_nodes")

    assert {n["name"]: n["gpu_allocated"] for n in nodes["nodes"]} == GPUS_ALLOCATED
    assert all(n["gpu_capacity"] == n["gpu_allocatable"] == 8 and n["ready"] and not n["cordoned"]
               for n in nodes["nodes"])
    assert nodes["gpus"] == {"capacity": 32, "allocatable": 32, "allocated": 13, "free": 19}
    assert (nodes["ready"], nodes["not_ready"], nodes["cordoned"]) == (4, [], [])


async def test_describe_node_lists_its_pods_and_conditions(k8s: Client) -> None:
    node = await call(k8s, "describe_node", name="gpu-node-4")
    missing = await failure(k8s, "describe_node", name="gpu-node-9")

    assert node["node"]["gpu_allocated"] == 3
    assert {base(p["name"]): p["gpus"] for p in node["pods"]["items"] if p["namespace"] == "inference"} == {
        "llama-70b": 2, "mistral-7b": 1}
    assert {c["type"]: c["status"] for c in node["conditions"]}["Ready"] == "True"
    assert node["info"]["gpu_product"] == "NVIDIA-H100-80GB-HBM3"
    assert missing == ("not_found", "node gpu-node-9 not found")


async def test_deployments_of_the_default_fleet(k8s: Client) -> None:
    inference = await call(k8s, "list_deployments")
    everywhere = await call(k8s, "list_deployments", namespace="all")

    rows = {d["name"]: d for d in inference["deployments"]["items"]}
    assert {name: row["desired"] for name, row in rows.items()} == {
        "llama-70b": 4, "qwen-7b": 3, "mistral-7b": 2, "inference-gateway": 2}
    assert all(row["state"] == "Healthy" and row["ready"] == row["desired"] for row in rows.values())
    assert inference["not_healthy"] == []
    assert {d["name"] for d in everywhere["deployments"]["items"]} >= {"tokenizer-service", "auth-service"}


async def test_describe_deployment(k8s: Client) -> None:
    llama = await call(k8s, "describe_deployment", name="llama-70b")
    missing = await failure(k8s, "describe_deployment", name="nope")
    no_namespace_kind, no_namespace = await failure(k8s, "describe_deployment", name="llama-70b", namespace="*")

    assert llama["deployment"]["revision"] > 1
    assert llama["deployment"] | {"ready": 4, "revision": None} == {
        "name": "llama-70b", "namespace": "inference", "state": "Healthy", "desired": 4, "ready": 4,
        "available": 4, "updated": 4, "revision": None, "image": "vllm/vllm-openai:v0.32.0"}
    assert {c["type"]: c["status"] for c in llama["conditions"]} == {"Available": "True", "Progressing": "True"}
    assert llama["pods_by_status"] == {"Running": 4} and llama["unhealthy_pods"] == []
    assert {e["object"].split("/")[0] for e in llama["events"]["items"]} <= {"Pod", "ReplicaSet", "Deployment"}
    assert missing == ("not_found", "deployment nope not found in namespace inference")
    assert no_namespace_kind == "bad_input" and "name one namespace" in no_namespace


async def test_list_pods_filters_by_deployment_node_and_health(k8s: Client) -> None:
    qwen = await call(k8s, "list_pods", deployment="qwen-7b")
    on_node = await call(k8s, "list_pods", node="gpu-node-1")
    unhealthy = await call(k8s, "list_pods", only_unhealthy=True)

    assert qwen["total"] == 3 and {p["gpus"] for p in qwen["pods"]["items"]} == {1}
    assert sorted(p["node"] for p in qwen["pods"]["items"]) == ["gpu-node-1", "gpu-node-2", "gpu-node-3"]
    assert sum(p["gpus"] for p in on_node["pods"]["items"]) == GPUS_ALLOCATED["gpu-node-1"]
    assert {p["namespace"] for p in on_node["pods"]["items"]} == {"inference", "gpu-operator"}
    assert unhealthy["pods"]["items"] == [] and unhealthy["by_status"] == {"Running": 11}


async def test_events_for_one_object(k8s: Client) -> None:
    pod = (await call(k8s, "list_pods", deployment="mistral-7b"))["pods"]["items"][0]["name"]
    events = await call(k8s, "list_events", object_name=pod)
    of_kind = await call(k8s, "list_events", kind="Pod", limit=2)

    assert events["events"]["items"] and {e["object"] for e in events["events"]["items"]} == {f"Pod/{pod}"}
    assert "Scheduled" in {e["reason"] for e in events["events"]["items"]}
    assert {e["object"].split("/")[0] for e in of_kind["events"]["items"]} == {"Pod"}
    assert len(of_kind["events"]["items"]) == 2 and of_kind["events"]["truncated"] is True


async def test_rollout_history_of_a_deployment_rolled_out_days_ago(k8s: Client) -> None:
    history = await call(k8s, "rollout_history", deployment="qwen-7b")
    current, *older = history["revisions"]

    assert current["revision"] == history["current_revision"] > 1 and current["current"] is True
    assert (current["images"], current["replicas"], current["failing"]) == (["vllm/vllm-openai:v0.32.0"], 3, 0)
    assert current["age_s"] >= 86400 and current["change_cause"] is None
    assert older and [r["revision"] for r in older] == sorted((r["revision"] for r in older), reverse=True)
    assert all(r["replicas"] == 0 and not r["current"] and r["age_s"] > current["age_s"] for r in older)


async def test_pod_logs_tail_and_a_missing_previous_container(k8s: Client) -> None:
    pod = (await call(k8s, "list_pods", deployment="llama-70b"))["pods"]["items"][0]["name"]
    logs = await call(k8s, "pod_logs", pod=pod, tail=3)
    previous_kind, previous = await failure(k8s, "pod_logs", pod=pod, previous=True)
    missing = await failure(k8s, "pod_logs", pod="nope")

    assert logs["lines"] == 3 and len(logs["text"].splitlines()) == 3 and logs["truncated"] is False
    assert "previous terminated container" in previous
    # the API server's own class for it (kubectl prints "Error from server (BadRequest)"): the kind follows it
    assert previous_kind == "bad_input", previous
    assert missing == ("not_found", "pod nope not found in namespace inference")


async def test_an_unreachable_api_server_is_named(fleet: RunningSandbox, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = yaml.safe_load(fleet.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))

    async with Client(build("kubernetes", Settings(kubeconfig=str(tmp_path / "kubeconfig")))) as k8s:
        kind, message = await failure(k8s, "list_nodes")

    assert kind == "unreachable", "a refused connection is no timeout"
    assert message.startswith(f"the Kubernetes API at https://127.0.0.1:{port} is unreachable: ")


async def test_describe_pod_says_why_a_pod_crashed(fresh_fleet: RunningSandbox, fresh_mcp: ClientFactory) -> None:
    fresh_fleet.inject([{"kind": "cuda_oom", "target": {"deployment": "qwen-7b"}}])
    async with fresh_mcp("kubernetes") as k8s:
        crashed = await first_crashed_pod(k8s, "qwen-7b")
        pod = await call(k8s, "describe_pod", name=crashed["name"])
        listed = await call(k8s, "list_pods", deployment="qwen-7b")

    vllm = pod["containers"][0]
    # after EngineDeadError vLLM's server shuts down cleanly: the container completes with exit code 0
    assert vllm["last_termination"]["reason"] == "Completed" and vllm["last_termination"]["exit_code"] == 0
    assert any("last termination: Completed, exit code 0" in problem for problem in pod["problems"])
    assert pod["owner"] == "Deployment/qwen-7b" and pod["node_state"] == "Ready"
    assert any("CUDA out of memory" in line for line in pod["previous_log_tail"])
    assert listed["unhealthy"] >= 1 and listed["top_restarters"][0]["last_reason"] == "Completed"
    assert listed["pods"]["items"][0]["restarts"] >= 1  # unhealthy and restarting pods lead the list


async def first_crashed_pod(k8s: Client, deployment: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            pods = await call(k8s, "list_pods", deployment=deployment)
            crashed = [p for p in pods["pods"]["items"] if p["last_termination"]]
            if crashed:
                return crashed[0]
            await anyio.sleep(0.2)
