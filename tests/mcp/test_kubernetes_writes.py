"""The kubernetes server's writes, each on its own sandbox: what they change, dry runs, refusals, idempotency.

These tests need the Kubernetes API only, so each takes a bare sandbox (started in well under a second) rather
than `fresh_fleet`, which also waits for Prometheus's first scrapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from fastmcp import Client
from kubernetes import client, config

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.kubernetes.client import VersionConflict
from mcp_servers.kubernetes.idempotency import KEYS, Request, fingerprint, patch_once
from mcp_servers.settings import Settings
from tests.mcp.calls import call, failure
from tests.mcp.calls import refusal as error

pytestmark = pytest.mark.anyio
NS = "inference"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with RunningSandbox() as running:
        yield running


def server(sandbox: RunningSandbox) -> Client:
    """A new server instance each time: nothing but the cluster carries state between two of them."""
    return Client(build("kubernetes", Settings.load(env=sandbox.agent_env())))


@pytest.fixture
async def k8s(sandbox: RunningSandbox) -> AsyncIterator[Client]:
    async with server(sandbox) as connected:
        yield connected


@pytest.fixture
def api(sandbox: RunningSandbox) -> client.ApiClient:
    return config.new_client_from_config(str(sandbox.kubeconfig))


def write(**args: Any) -> dict[str, Any]:
    return {"reason": "test", **args}


async def test_scale_sets_replicas_and_reports_before_and_after(k8s: Client, api: client.ApiClient) -> None:
    result = await call(k8s, "scale_deployment", **write(deployment="qwen-7b", replicas=5, idempotency_key="s1"))

    assert (result["before"]["replicas"], result["after"]["replicas"]) == (3, 5)
    assert result["replayed"] is False and result["dry_run"] is False
    dep = client.AppsV1Api(api).read_namespaced_deployment("qwen-7b", NS)
    assert dep.spec.replicas == 5
    assert fingerprint("s1") in dep.metadata.annotations[KEYS]


async def test_scale_refuses_bad_input(k8s: Client) -> None:
    too_many = await failure(k8s, "scale_deployment", **write(deployment="qwen-7b", replicas=33, idempotency_key="b1"))
    negative = await failure(k8s, "scale_deployment", **write(deployment="qwen-7b", replicas=-1, idempotency_key="b2"))
    missing = await failure(k8s, "scale_deployment", **write(deployment="nope", replicas=1, idempotency_key="b3"))
    no_reason_kind, no_reason = await failure(k8s, "scale_deployment", deployment="qwen-7b", replicas=1, reason=" ",
                                              idempotency_key="b4")

    assert too_many == negative == ("bad_input", "replicas must be 0..32")
    assert missing == ("not_found", "deployment nope not found in namespace inference")
    assert no_reason_kind == "bad_input" and "reason must not be empty" in no_reason


async def test_dry_run_computes_the_change_and_applies_nothing(k8s: Client, api: client.ApiClient) -> None:
    dry = await call(k8s, "scale_deployment", **write(deployment="qwen-7b", replicas=6, idempotency_key="d1",
                                                      dry_run=True))
    dep = client.AppsV1Api(api).read_namespaced_deployment("qwen-7b", NS)
    real = await call(k8s, "scale_deployment", **write(deployment="qwen-7b", replicas=6, idempotency_key="d1"))

    assert dry["dry_run"] is True and dry["after"]["replicas"] == 6 and dry["message"].startswith("dry run")
    assert dep.spec.replicas == 3 and KEYS not in (dep.metadata.annotations or {})
    assert real["replayed"] is False and real["after"]["replicas"] == 6  # the dry run recorded no key


async def test_a_key_applies_once_even_across_server_restarts(sandbox: RunningSandbox, api: client.ApiClient) -> None:
    async with server(sandbox) as first:
        applied = await call(first, "scale_deployment", **write(deployment="qwen-7b", replicas=4, idempotency_key="k"))
        again = await call(first, "scale_deployment", **write(deployment="qwen-7b", replicas=5, idempotency_key="k"))
    async with server(sandbox) as restarted:
        replayed = await call(restarted, "scale_deployment",
                              **write(deployment="qwen-7b", replicas=6, idempotency_key="k"))

    assert applied["replayed"] is False
    assert again["replayed"] is True and replayed["replayed"] is True
    assert replayed["after"]["replicas"] == 4
    assert client.AppsV1Api(api).read_namespaced_deployment("qwen-7b", NS).spec.replicas == 4


def test_a_concurrent_call_with_the_same_key_that_wins_the_race_makes_the_other_a_replay() -> None:
    stored = {"metadata": {"resourceVersion": "1"}, "spec": {"unschedulable": False}}
    sent: list[dict[str, Any]] = []

    def send(body: dict[str, Any], dry_run: str | None) -> dict[str, Any]:
        sent.append(body)
        # Meanwhile the other call applied the same key: this patch carries a stale resourceVersion.
        stored["metadata"] = {"resourceVersion": "2", "annotations": {KEYS: f'["{fingerprint("race")}"]'}}
        raise VersionConflict("the object has been modified")

    req = Request("cordon_node", "node/n", "test", "race", dry_run=False)
    result = patch_once(req, lambda: stored, lambda o: {"rv": o["metadata"]["resourceVersion"]},
                        lambda _: ({"spec": {"unschedulable": True}}, "cordoned n"), send)

    assert sent[0]["metadata"]["resourceVersion"] == "1"
    assert result.replayed is True and result.after == {"rv": "2"} and len(sent) == 1


async def test_cordon_and_uncordon(k8s: Client) -> None:
    cordoned = await call(k8s, "cordon_node", **write(node="gpu-node-3", idempotency_key="c1"))
    nodes = await call(k8s, "list_nodes")
    uncordoned = await call(k8s, "uncordon_node", **write(node="gpu-node-3", idempotency_key="c2"))
    replay = await call(k8s, "cordon_node", **write(node="gpu-node-3", idempotency_key="c1"))
    missing = await failure(k8s, "cordon_node", **write(node="gpu-node-9", idempotency_key="c3"))

    assert (cordoned["before"]["cordoned"], cordoned["after"]["cordoned"]) == (False, True)
    assert nodes["cordoned"] == ["gpu-node-3"]
    assert (uncordoned["before"]["cordoned"], uncordoned["after"]["cordoned"]) == (True, False)
    assert replay["replayed"] is True and replay["after"]["cordoned"] is False  # not cordoned a second time
    assert missing == ("not_found", "node gpu-node-9 not found")


async def test_drain_evicts_respecting_pdbs_and_skips_node_daemons(k8s: Client, api: client.ApiClient) -> None:
    # qwen-7b may lose no pod at all: its replica on gpu-node-2 must stay.
    client.PolicyV1Api(api).patch_namespaced_pod_disruption_budget("qwen-7b", NS, {"spec": {"maxUnavailable": 0}})
    dry = await call(k8s, "drain_node", **write(node="gpu-node-2", idempotency_key="dr0", dry_run=True))
    assert dry["after"]["evicted"] and client.CoreV1Api(api).read_node("gpu-node-2").spec.unschedulable is None

    drained = await call(k8s, "drain_node", **write(node="gpu-node-2", idempotency_key="dr1"))

    after = drained["after"]
    assert after["cordoned"] is True
    assert sorted(p.split("/")[1].rsplit("-", 2)[0] for p in after["evicted"]) == [
        "auth-service", "inference-gateway", "llama-70b", "tokenizer-service"]
    assert [b["pod"].split("/")[1].rsplit("-", 2)[0] for b in after["blocked_by_pdb"]] == ["qwen-7b"]
    assert "disruption budget" in after["blocked_by_pdb"][0]["why"]
    assert {s["pod"].split("/")[0] for s in after["skipped"]} == {"gpu-operator"} and len(after["skipped"]) == 2
    on_node = client.CoreV1Api(api).list_pod_for_all_namespaces(field_selector="spec.nodeName=gpu-node-2").items
    assert [p.metadata.name for p in on_node if p.metadata.deletion_timestamp is None
            and p.metadata.namespace != "gpu-operator"] == [after["blocked_by_pdb"][0]["pod"].split("/")[1]]
    replay = await call(k8s, "drain_node", **write(node="gpu-node-2", idempotency_key="dr1"))
    assert replay["replayed"] is True


async def test_drain_refuses_node_daemons_unless_ignored(k8s: Client, api: client.ApiClient) -> None:
    message = await error(k8s, "drain_node", **write(node="gpu-node-4", idempotency_key="dd",
                                                     ignore_daemonsets=False))

    assert "ignore_daemonsets" in message and "nvidia-dcgm-exporter" in message
    assert client.CoreV1Api(api).read_node("gpu-node-4").spec.unschedulable is None  # refused before cordoning


async def wait_for_revision(k8s: Client, deployment: str, revision: int) -> dict[str, Any]:
    with anyio.fail_after(30):
        while True:
            history = await call(k8s, "rollout_history", deployment=deployment)
            if history["current_revision"] == revision:
                return history
            await anyio.sleep(0.1)


async def test_rollback_restores_the_previous_template(k8s: Client, api: client.ApiClient) -> None:
    before = await call(k8s, "rollout_history", deployment="mistral-7b")
    start = before["current_revision"]
    client.AppsV1Api(api).patch_namespaced_deployment("mistral-7b", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.33.0"}]}}}})
    await wait_for_revision(k8s, "mistral-7b", start + 1)

    unknown = await failure(k8s, "rollback_deployment", **write(deployment="mistral-7b", idempotency_key="r1",
                                                                to_revision=7))
    rolled = await call(k8s, "rollback_deployment", **write(deployment="mistral-7b", idempotency_key="r2"))
    history = await wait_for_revision(k8s, "mistral-7b", start + 2)

    assert unknown[0] == "not_found" and unknown[1].startswith("deployment mistral-7b has no revision 7 (revisions: ")
    assert rolled["before"]["images"] == ["vllm/vllm-openai:v0.33.0"]
    assert rolled["after"]["images"] == ["vllm/vllm-openai:v0.32.0"]
    current = next(r for r in history["revisions"] if r["current"])
    assert current["images"] == ["vllm/vllm-openai:v0.32.0"]  # the earlier ReplicaSet, renumbered as kube does
    assert start not in [r["revision"] for r in history["revisions"]]


async def test_a_deployment_with_a_single_revision_has_nothing_to_roll_back_to(k8s: Client,
                                                                              api: client.ApiClient) -> None:
    labels = {"app": "solo"}
    client.AppsV1Api(api).create_namespaced_deployment(NS, {
        "metadata": {"name": "solo", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "solo", "image": "ghcr.io/firebreak-sim/tokenizer-service:2.4.1"}]}}}})
    await wait_for_revision(k8s, "solo", 1)

    kind, message = await failure(k8s, "rollback_deployment", **write(deployment="solo", idempotency_key="r0"))

    assert kind == "conflict" and "no previous revision" in message


async def test_restart_sets_the_template_annotation(k8s: Client, api: client.ApiClient) -> None:
    start = (await call(k8s, "rollout_history", deployment="inference-gateway"))["current_revision"]
    result = await call(k8s, "restart_deployment", **write(deployment="inference-gateway", idempotency_key="rs"))

    template = client.AppsV1Api(api).read_namespaced_deployment("inference-gateway", NS).spec.template
    assert result["before"]["restarted_at"] is None
    assert template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == result["after"]["restarted_at"]
    assert (await wait_for_revision(k8s, "inference-gateway", start + 1))["revisions"][0]["current"]


async def test_delete_pod_once_and_only_pods_that_come_back(k8s: Client, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pod = core.list_namespaced_pod(NS, label_selector="app=llama-70b").items[0].metadata.name
    daemon = core.list_namespaced_pod("gpu-operator").items[0].metadata.name

    deleted = await call(k8s, "delete_pod", **write(pod=pod, idempotency_key="p1", grace_period_s=0))
    replay = await call(k8s, "delete_pod", **write(pod=pod, idempotency_key="p1"))
    refused_kind, refused = await failure(k8s, "delete_pod", **write(pod=daemon, namespace="gpu-operator",
                                                                     idempotency_key="p2"))
    missing = await failure(k8s, "delete_pod", **write(pod="nope", idempotency_key="p3"))

    assert deleted["before"]["exists"] is True and deleted["after"]["exists"] is False
    assert "llama-70b replaces it" in deleted["message"]
    assert replay["replayed"] is True  # found on the Deployment, though the pod is gone
    assert pod not in [p.metadata.name for p in core.list_namespaced_pod(NS).items]
    assert refused_kind == "bad_input" and "not managed by a Deployment" in refused
    assert missing == ("not_found", "pod nope not found in namespace inference")


async def test_writes_carry_honest_annotations(k8s: Client) -> None:
    tools = {t.name: t.annotations for t in await k8s.list_tools()}

    assert tools["cordon_node"].destructive_hint is False and tools["cordon_node"].idempotent_hint is True
    assert tools["drain_node"].destructive_hint is True
    assert tools["restart_deployment"].idempotent_hint is False
    assert all(tools[name].read_only_hint is False for name in ("scale_deployment", "delete_pod",
                                                              "rollback_deployment", "uncordon_node"))
