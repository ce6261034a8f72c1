"""The kubernetes server's views, alone: raw API objects in, kubectl-style rows and answers out, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mcp_servers.kubernetes import answers, views
from mcp_servers.kubernetes.objects import age, gpus_of, holds_resources, selector_string
from mcp_servers.kubernetes.queries import UNKNOWN_NODE


def stamp(ago: timedelta, now: datetime | None = None) -> str:
    """A timestamp `ago` before now (the call's now: ages are read against the clock when a test runs)."""
    return ((now or datetime.now(UTC)) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "llama-7d9f-abcde", *, phase: str = "Running", ready: bool = True, restarts: int = 0,
        waiting: str | None = None, terminated: dict[str, Any] | None = None, node: str | None = "gpu-1",
        gpus: int = 1, deleting: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": stamp(
        timedelta(minutes=3))}}
    status: dict[str, Any] = {"name": "vllm", "ready": ready, "restartCount": restarts, "state": state}
    if terminated:
        status["lastState"] = {"terminated": terminated}
    metadata: dict[str, Any] = {"name": name, "namespace": "inference", "creationTimestamp": stamp(timedelta(hours=2))}
    if deleting:
        metadata["deletionTimestamp"] = stamp(timedelta(seconds=5))
    return {"metadata": metadata,
            "spec": {"nodeName": node, "containers": [{"name": "vllm", "image": "vllm:0.8.5",
                                                        "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
            "status": {"phase": phase, "containerStatuses": [status], "conditions": []}}


def node(name: str, *, ready: str = "True", cordoned: bool = False, gpus: int = 8,
         conditions: list[dict[str, str]] | None = None, taints: list[dict[str, str]] | None = None
         ) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": stamp(timedelta(days=3))},
            "spec": {"unschedulable": cordoned, "taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletNotReady"},
                                      *(conditions or [])],
                       "capacity": {"nvidia.com/gpu": str(gpus)}, "allocatable": {"nvidia.com/gpu": str(gpus)}}}


def event(reason: str, *, kind: str = "Pod", name: str = "llama-7d9f-abcde", type_: str = "Warning",
          ago: timedelta = timedelta(minutes=1), count: int = 1, message: str = "Back-off restarting"
          ) -> dict[str, Any]:
    return {"metadata": {"namespace": "inference"}, "type": type_, "reason": reason, "message": message,
            "count": count, "lastTimestamp": stamp(ago), "involvedObject": {"kind": kind, "name": name}}


def test_age_reads_as_kubectl_prints_it() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    assert [age(stamp(timedelta(seconds=s), now), now) for s in (5, 125, 7300, 200_000)] == ["5s", "2m", "2h", "2d"]
    assert age(None) == "unknown"


def test_selectors_gpus_and_resources_held() -> None:
    selector = {"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu", "cpu"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert selector_string(selector) == "a=1,b=2,tier in (gpu,cpu),!canary"
    assert gpus_of(pod(gpus=2)) == 2
    assert holds_resources(pod()) and not holds_resources(pod(phase="Succeeded"))


@pytest.mark.parametrize(("raw", "status"), [
    (pod(), "Running"),
    (pod(waiting="CrashLoopBackOff", ready=False), "CrashLoopBackOff"),
    (pod(phase="Pending", waiting="ContainerCreating", ready=False), "ContainerCreating"),
    (pod(deleting=True), "Terminating"),
])
def test_a_pods_status_is_kubectls_status_column(raw: dict[str, Any], status: str) -> None:
    assert views.pod_status(raw) == status


def test_a_pod_row_counts_restarts_and_keeps_the_last_termination() -> None:
    crashed = pod(waiting="CrashLoopBackOff", ready=False, restarts=3,
                  terminated={"reason": "OOMKilled", "exitCode": 137, "finishedAt": stamp(timedelta(minutes=2))})
    row = views.pod_row(crashed)
    assert (row.status, row.ready, row.restarts, row.gpus, row.node) == ("CrashLoopBackOff", "0/1", 3, 1, "gpu-1")
    assert row.last_termination is not None and (row.last_termination.reason, row.last_termination.exit_code,
                                                 row.last_termination.finished) == ("OOMKilled", 137, "2m")
    assert not views.healthy(row) and views.healthy(views.pod_row(pod()))


@pytest.mark.parametrize(("strategy", "replicas", "expected"), [
    ({}, 8, 2), ({"rollingUpdate": {"maxUnavailable": "50%"}}, 5, 2), ({"rollingUpdate": {"maxUnavailable": 3}}, 8, 3),
    ({"type": "Recreate"}, 4, 4),
])
def test_max_unavailable_rounds_percentages_down_as_the_controller_does(strategy: dict[str, Any], replicas: int,
                                                                        expected: int) -> None:
    assert views.max_unavailable(strategy, replicas) == expected


def test_a_node_row_says_what_is_abnormal_and_counts_gpus_of_pods_holding_them() -> None:
    sick = node("gpu-2", ready="False", cordoned=True, conditions=[{"type": "MemoryPressure", "status": "True"}],
                taints=[{"key": "nvidia.com/xid", "value": "79", "effect": "NoSchedule"},
                        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    row = views.node_row(sick, [pod(gpus=2), pod(gpus=4)])
    assert (row.ready, row.cordoned, row.status) == (False, True, "NotReady,SchedulingDisabled")
    assert row.problems == ["MemoryPressure=True", "nvidia.com/xid=79:NoSchedule"]
    assert (row.gpu_capacity, row.gpu_allocated, row.pods) == (8, 6, 2)
    assert views.node_state(sick) == "NotReady (KubeletNotReady), cordoned"


def test_events_fold_repeats_warnings_first_newest_first() -> None:
    rows = views.fold_events([
        event("Scheduled", type_="Normal", ago=timedelta(hours=1), message="assigned"),
        event("BackOff", ago=timedelta(minutes=5), count=2),
        event("BackOff", ago=timedelta(minutes=1), count=3),
        event("Unhealthy", ago=timedelta(minutes=2), message="probe failed"),
    ])
    assert [(r.type, r.reason, r.count, r.last_seen) for r in rows] == [
        ("Warning", "BackOff", 5, "1m"), ("Warning", "Unhealthy", 1, "2m"), ("Normal", "Scheduled", 1, "1h")]


def test_deployment_states() -> None:
    def dep(desired: int, **status: int) -> dict[str, Any]:
        return {"metadata": {"name": "llama", "namespace": "inference", "annotations": {
                    "deployment.kubernetes.io/revision": "4"}},
                "spec": {"replicas": desired, "template": {"spec": {"containers": [{"image": "vllm:0.8.5"}]}}},
                "status": status}
    assert views.deployment_row(dep(0)).state == "ScaledToZero"
    assert views.deployment_row(dep(4, availableReplicas=2, updatedReplicas=4)).state == "Degraded"
    assert views.deployment_row(dep(4, availableReplicas=4, updatedReplicas=2)).state == "RollingOut"
    healthy = views.deployment_row(dep(4, availableReplicas=4, updatedReplicas=4, readyReplicas=4, replicas=4))
    assert (healthy.state, healthy.revision, healthy.image) == ("Healthy", 4, "vllm:0.8.5")


def test_pod_list_puts_unhealthy_pods_first_and_names_the_top_restarters() -> None:
    pods = [pod("a"), pod("b", waiting="CrashLoopBackOff", ready=False, restarts=7), pod("c", restarts=1)]
    listed = answers.pod_list(pods, only_unhealthy=False, limit=2)
    assert (listed.total, listed.unhealthy, listed.by_status) == (3, 1, {"Running": 2, "CrashLoopBackOff": 1})
    assert [p.name for p in listed.pods.items] == ["b", "c"] and listed.pods.truncated
    assert [(r.name, r.restarts) for r in listed.top_restarters] == [("b", 7), ("c", 1)]
    assert [p.name for p in answers.pod_list(pods, only_unhealthy=True, limit=50).pods.items] == ["b"]


def test_node_list_sums_gpus_and_lists_abnormal_nodes_first() -> None:
    nodes = [node("gpu-1"), node("gpu-2", ready="False"), node("gpu-3", cordoned=True)]
    active = [pod(node="gpu-1", gpus=4), pod(node="gpu-3", gpus=1)]
    listed = answers.node_list(nodes, active)
    assert [n.name for n in listed.nodes] == ["gpu-2", "gpu-3", "gpu-1"]
    assert listed.gpus == {"capacity": 24, "allocatable": 24, "allocated": 5, "free": 19}
    assert (listed.ready, listed.not_ready, listed.cordoned) == (2, ["gpu-2"], ["gpu-3"])


def test_a_crashed_containers_last_words_are_its_error_lines() -> None:
    crashed = pod(restarts=2, terminated={"reason": "Error", "exitCode": 1, "finishedAt": stamp(timedelta(0))})
    assert answers.crashed_container(crashed) == "vllm" and answers.crashed_container(pod()) is None
    log = "loading weights\nTraceback (most recent call last):\n  File x\nRuntimeError: CUDA error\nbye\n"
    assert answers.last_words(log) == ["Traceback (most recent call last):", "RuntimeError: CUDA error"]
    assert answers.last_words("a\nb\nc", lines=2) == ["b", "c"]


def test_a_pod_on_a_lost_node_says_so_among_its_problems() -> None:
    lost = {"metadata": {"name": "gpu-9"}, **UNKNOWN_NODE}
    detail = answers.pod_detail(pod(node="gpu-9"), node=lost, owner="Deployment/llama", events=[],
                                previous_log_tail=[], detail=False)
    assert detail.node_state == "NotReady (NodeNotFound)"
    assert detail.problems == ["node gpu-9 is NotReady (NodeNotFound)"]
    assert detail.owner == "Deployment/llama" and detail.spec is None


def test_pod_logs_count_lines_and_clip_long_text() -> None:
    assert answers.pod_logs("p", "ns", None, False, "a\nb\n").lines == 2
    assert answers.pod_logs("p", "ns", None, False, "a\nb").lines == 2
    clipped = answers.pod_logs("p", "ns", None, False, "x" * 10_000)
    assert clipped.truncated and clipped.text.startswith("[truncated]")


def test_a_pod_waiting_for_gpus_a_full_cluster_uses_is_not_failing_one_no_node_can_hold_is() -> None:
    def unschedulable(gpus: int) -> dict[str, Any]:
        waiting = pod(phase="Pending", ready=False, node=None, gpus=gpus, waiting="ContainerCreating")
        waiting["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
        return waiting

    assert not views.failing(unschedulable(2), most_gpus=8)  # the nodes have GPUs, all in use
    assert views.failing(unschedulable(16), most_gpus=8)  # no node has that many, however empty
    assert views.failing(pod(waiting="ImagePullBackOff", ready=False), most_gpus=8)
