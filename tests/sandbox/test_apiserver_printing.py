"""Server-side printing: the cells kubectl shows, for the pod and node states an incident produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.apiserver.printers.nodes import node_cells
from sandbox.apiserver.printers.pods import pod_cells
from sandbox.apiserver.timefmt import human_duration

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(state: dict, *, ready: bool = False, restarts: int = 0, last: dict | None = None, phase: str = "Running",
        deleting: bool = False, init: list[dict] | None = None) -> dict:
    meta: dict = {"name": "p", "creationTimestamp": stamp(600)}
    if deleting:
        meta["deletionTimestamp"] = stamp(-30)
    status: dict = {"phase": phase, "containerStatuses": [
        {"name": "vllm", "ready": ready, "restartCount": restarts, "state": state, "lastState": last or {}}]}
    spec: dict = {"containers": [{"name": "vllm"}], "nodeName": "gpu-node-1"}
    if init is not None:
        spec["initContainers"] = [{"name": "fetch-weights"}]
        status["initContainerStatuses"] = init
    return {"metadata": meta, "spec": spec, "status": status}


@pytest.mark.parametrize(("obj", "ready", "status"), [
    (pod({"running": {}}, ready=True), "1/1", "Running"),
    (pod({"waiting": {"reason": "ContainerCreating"}}, phase="Pending"), "0/1", "ContainerCreating"),
    (pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=3), "0/1", "CrashLoopBackOff"),
    (pod({"terminated": {"reason": "OOMKilled", "exitCode": 137}}), "0/1", "OOMKilled"),
    (pod({"terminated": {"exitCode": 1}}), "0/1", "ExitCode:1"),
    (pod({"terminated": {"reason": "Completed", "exitCode": 0}}, phase="Succeeded"), "0/1", "Completed"),
    (pod({"running": {}}, ready=True, deleting=True), "1/1", "Terminating"),
    (pod({"waiting": {"reason": "PodInitializing"}}, phase="Pending",
         init=[{"name": "fetch-weights", "state": {"running": {}}}]), "0/1", "Init:0/1"),
    (pod({"waiting": {"reason": "PodInitializing"}}, phase="Pending",
         init=[{"name": "fetch-weights", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
     "0/1", "Init:CrashLoopBackOff"),
])
def test_pod_ready_and_status(obj: dict, ready: str, status: str) -> None:
    assert pod_cells(obj, NOW)[1:3] == [ready, status]


def test_pod_restarts_say_when() -> None:
    crashed = pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=4,
                  last={"terminated": {"reason": "OOMKilled", "finishedAt": stamp(95)}})
    assert pod_cells(crashed, NOW)[3] == "4 (95s ago)"
    assert pod_cells(pod({"running": {}}, ready=True), NOW)[3:5] == ["0", "10m"]


@pytest.mark.parametrize(("ready", "unschedulable", "status"), [
    ("True", False, "Ready"), ("True", True, "Ready,SchedulingDisabled"), ("False", False, "NotReady"),
    ("Unknown", True, "NotReady,SchedulingDisabled"),
])
def test_node_status(ready: str, unschedulable: bool, status: str) -> None:
    node = {"metadata": {"name": "gpu-node-1", "labels": {"node-role.kubernetes.io/gpu": ""}},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": ready}], "nodeInfo": {"kubeletVersion": "v1.31.4"}}}
    assert node_cells(node, NOW)[1:3] == [status, "gpu"]


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 120, "3h2m"), (30 * 3600, "30h"),
    (3 * 86400 + 7200, "3d2h"), (40 * 86400, "40d"), (3 * 365 * 86400, "3y"),
])
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
