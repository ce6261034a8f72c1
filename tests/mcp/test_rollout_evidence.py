"""What the kubernetes tools show of a Deployment change that never becomes ready: the recent revision, its
ReplicaSet's failing pods beside the old ReplicaSet's healthy one, and the controller's and kubelet's words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from tests.mcp.calls import call
from tests.mcp.test_kubernetes import ClientFactory

pytestmark = pytest.mark.anyio
NO_SURGE_TO_A_MISSING_TAG = {"spec": {
    "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
    "template": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.9.9"}]}}}}


@pytest.fixture
async def stalled(fresh_fleet: RunningSandbox, fresh_mcp: ClientFactory) -> AsyncIterator[Client]:
    fresh_fleet.inject([{"kind": "deployment_patch", "target": {"deployment": "mistral-7b"},
                         "params": {"patch": NO_SURGE_TO_A_MISSING_TAG}}])
    async with fresh_mcp("kubernetes") as k8s:
        with anyio.fail_after(60):
            while (await progressing(k8s))["status"] != "False":
                await anyio.sleep(0.5)
        yield k8s


async def progressing(k8s: Client) -> dict[str, Any]:
    described = await call(k8s, "describe_deployment", name="mistral-7b")
    return next(c for c in described["conditions"] if c["type"] == "Progressing")


async def test_the_current_revision_is_the_new_one_and_its_pods_alone_fail(stalled: Client) -> None:
    history = await call(stalled, "rollout_history", deployment="mistral-7b")
    pods = (await call(stalled, "list_pods", deployment="mistral-7b"))["pods"]["items"]

    current, previous = history["revisions"][0], history["revisions"][1]
    assert current["current"] and current["images"] == ["vllm/vllm-openai:v0.9.9"] and current["ready"] == 0
    assert previous["ready"] == previous["replicas"] == 1
    by_rs = {rs["replicaset"]: {p["status"] for p in pods if p["name"].startswith(rs["replicaset"] + "-")}
             for rs in (current, previous)}
    assert by_rs == {current["replicaset"]: {"ImagePullBackOff"}, previous["replicaset"]: {"Running"}} or \
        by_rs == {current["replicaset"]: {"ErrImagePull"}, previous["replicaset"]: {"Running"}}


async def test_the_deployment_and_its_events_say_why(stalled: Client) -> None:
    condition = await progressing(stalled)
    described = await call(stalled, "describe_deployment", name="mistral-7b")

    assert condition["reason"] == "ProgressDeadlineExceeded" and condition["message"].endswith(
        "has timed out progressing.")
    messages = {(e["reason"], e["message"].split(":", 1)[0]) for e in described["events"]["items"]}
    assert {("Failed", 'Failed to pull image "vllm/vllm-openai'), ("Failed", "Error"),
            ("BackOff", 'Back-off pulling image "vllm/vllm-openai')} <= messages
