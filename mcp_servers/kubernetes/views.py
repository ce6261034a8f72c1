"""kubectl-style views of raw API objects: a pod's STATUS, a node's row, folded events, a revision.

Pure functions from the API's JSON to the server's models (`models.py`): no request, no clock but the ages.
"""

from __future__ import annotations

from mcp_servers.kubernetes.models import (
    Condition,
    ContainerInfo,
    DeploymentRow,
    EventRow,
    NodeRow,
    PodRow,
    Revision,
    Termination,
)
from mcp_servers.kubernetes.objects import (
    CHANGE_CAUSE,
    GPU,
    ApiObject,
    age,
    age_seconds,
    annotations_of,
    gpus_of,
    parse_time,
    revision_of,
)


def condition(raw: ApiObject) -> Condition:
    return Condition(type=raw.get("type", ""), status=raw.get("status", ""), reason=raw.get("reason"),
                     message=raw.get("message"))


def deployment_row(dep: ApiObject) -> DeploymentRow:
    status = dep.get("status") or {}
    desired = int(dep["spec"].get("replicas", 1))
    ready, available = status.get("readyReplicas", 0), status.get("availableReplicas", 0)
    updated = status.get("updatedReplicas", 0)
    if desired == 0:
        state = "ScaledToZero"
    elif available < desired:
        state = "Degraded"
    elif updated < desired or status.get("replicas", 0) > desired:
        state = "RollingOut"
    else:
        state = "Healthy"
    containers = dep["spec"]["template"]["spec"].get("containers") or []
    return DeploymentRow(name=dep["metadata"]["name"], namespace=dep["metadata"]["namespace"], state=state,
                         desired=desired, ready=ready, available=available, updated=updated,
                         revision=revision_of(dep), image=", ".join(c.get("image", "") for c in containers))


def pod_status(pod: ApiObject) -> str:
    """kubectl's STATUS: a container's waiting or terminated reason beats the phase."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    shown = status.get("reason") or status.get("phase") or "Unknown"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason:
            shown = reason
    return str(shown)


def last_termination(container: ApiObject) -> Termination | None:
    ended = (container.get("lastState") or {}).get("terminated") or (container.get("state") or {}).get("terminated")
    if not ended:
        return None
    return Termination(reason=ended.get("reason") or "Unknown", exit_code=int(ended.get("exitCode", 0)),
                       finished=age(ended.get("finishedAt")), message=ended.get("message"))


def pod_row(pod: ApiObject) -> PodRow:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    terminations = [t for t in (last_termination(c) for c in statuses) if t]
    status = pod.get("status") or {}
    return PodRow(name=pod["metadata"]["name"], namespace=pod["metadata"]["namespace"], status=pod_status(pod),
                  ready=f"{sum(bool(c.get('ready')) for c in statuses)}/{total}", reason=status.get("reason"),
                  conditions=[f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or []
                              if _condition_is_a_problem(c)],
                  restarts=sum(int(c.get("restartCount", 0)) for c in statuses),
                  last_termination=terminations[0] if terminations else None, node=pod["spec"].get("nodeName"),
                  gpus=gpus_of(pod), age=age(pod["metadata"].get("creationTimestamp")),
                  replicaset=owner_replicaset(pod))


def owner_replicaset(pod: ApiObject) -> str | None:
    return next((ref.get("name") for ref in pod["metadata"].get("ownerReferences") or []
                 if ref.get("kind") == "ReplicaSet"), None)


def _condition_is_a_problem(raw: ApiObject) -> bool:
    """Every pod condition is good when True but DisruptionTarget, which says the pod is being ended."""
    return (raw.get("status") == "True") == (raw.get("type") == "DisruptionTarget")


def healthy(row: PodRow) -> bool:
    """Running and ready; or done, for a pod no ReplicaSet owns (a Job's): a serving pod that completed has crashed
    (vLLM exits 0 when its engine dies)."""
    ready, total = row.ready.split("/")
    return (row.status == "Completed" and row.replicaset is None) or (row.status == "Running" and ready == total)


def container_state(container: ApiObject) -> str:
    state = container.get("state") or {}
    if "running" in state:
        return f"running for {age((state['running'] or {}).get('startedAt'))}"
    if "waiting" in state:
        waiting = state["waiting"] or {}
        message = waiting.get("message")
        return f"waiting: {waiting.get('reason', 'unknown')}" + (f" ({message})" if message else "")
    if "terminated" in state:
        ended = state["terminated"] or {}
        return f"terminated: {ended.get('reason', 'unknown')} (exit code {ended.get('exitCode')})"
    return "unknown"


def max_unavailable(strategy: ApiObject, replicas: int) -> int:
    """As the deployment controller computes it: a percentage rounds down (and maxSurge's up), 25 % by default."""
    if strategy.get("type") == "Recreate":
        return replicas
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * float(value[:-1]) / 100)
    return int(value)


def pod_problems(pod: ApiObject, row: PodRow, containers: list[ContainerInfo], conditions: list[Condition],
                  node: ApiObject | None) -> list[str]:
    problems: list[str] = []
    if pod["metadata"].get("deletionTimestamp"):
        problems.append("the pod is terminating")
    for c in containers:
        if not c.state.startswith("running"):
            problems.append(f"container {c.name} is {c.state}")
        if c.restarts and c.last_termination:
            t = c.last_termination
            times = "time" if c.restarts == 1 else "times"
            problems.append(f"container {c.name} restarted {c.restarts} {times}; last termination: {t.reason}, "
                            f"exit code {t.exit_code}, {t.finished} ago")
    scheduled = next((c for c in conditions if c.type == "PodScheduled" and c.status != "True"), None)
    if scheduled:
        problems.append(f"not scheduled: {scheduled.message or scheduled.reason}")
    if not containers and row.status == "Pending" and not scheduled:
        problems.append("pending: no container has started yet")
    if node is not None and node_state(node) != "Ready":
        problems.append(f"node {row.node} is {node_state(node)}")
    return problems


def ready_condition(node: ApiObject) -> ApiObject:
    conditions = (node.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {"status": "Unknown"})


def node_state(node: ApiObject) -> str:
    ready = ready_condition(node)
    state = "Ready" if ready.get("status") == "True" else f"NotReady ({ready.get('reason') or 'no status'})"
    return state + (", cordoned" if node["spec"].get("unschedulable") else "")


def taint_text(taint: ApiObject) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


def node_row(node: ApiObject, pods: list[ApiObject]) -> NodeRow:
    """`pods`: the node's pods that hold resources."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    ready = ready_condition(node).get("status") == "True"
    cordoned = bool(node["spec"].get("unschedulable"))
    pressure = [f"{c['type']}={c['status']}" for c in status.get("conditions") or []
                if c.get("type") != "Ready" and c.get("status") != "False"]
    taints = [taint_text(t) for t in node["spec"].get("taints") or []
              if t.get("key") != "node.kubernetes.io/unschedulable"]
    capacity = int((status.get("capacity") or {}).get(GPU, 0))
    allocatable = int((status.get("allocatable") or {}).get(GPU, 0))
    return NodeRow(name=name, ready=ready, cordoned=cordoned,
                   status=("Ready" if ready else "NotReady") + (",SchedulingDisabled" if cordoned else ""),
                   problems=pressure + taints, gpu_capacity=capacity, gpu_allocatable=allocatable,
                   gpus_unhealthy=max(0, capacity - allocatable),
                   gpu_allocated=sum(gpus_of(p) for p in pods), pods=len(pods))


def fold_events(events: list[ApiObject]) -> list[EventRow]:
    """Repeats (same type, reason, object and message) become one row; warnings first, newest first."""
    folded: dict[tuple[str, ...], tuple[EventRow, str]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        row = EventRow(type=event.get("type") or "Normal", reason=event.get("reason") or "",
                       object=f"{involved.get('kind', '')}/{involved.get('name', '')}",
                       message=(event.get("message") or "")[:400], count=int(event.get("count") or 1), last_seen="",
                       source=(event.get("source") or {}).get("component") or event.get("reportingComponent") or None)
        last = (event.get("lastTimestamp") or (event.get("series") or {}).get("lastObservedTime")
                or event.get("eventTime") or event["metadata"].get("creationTimestamp") or "")
        key = (row.type, row.reason, row.object, row.message)
        if key in folded:
            seen, newest = folded[key]
            row.count += seen.count
            last = max(last, newest, key=_sort_time)
        folded[key] = (row, last)
    rows = []
    # Ties (timestamps are whole seconds) are broken by content, so the order does not depend on the list's.
    for row, last in sorted(folded.values(), key=lambda pair: (pair[0].type != "Warning", -_sort_time(pair[1]),
                                                                 pair[0].object, pair[0].reason, pair[0].message)):
        row.last_seen = age(last) if last else "unknown"
        rows.append(row)
    return rows


def _sort_time(value: str) -> float:
    moment = parse_time(value) if value else None
    return moment.timestamp() if moment else 0.0


# kubectl STATUS values of a container that cannot run: waiting on an image or a start that keeps failing, or
# terminated though its pod's restartPolicy is Always (a serving container that exits, even with 0, has crashed).
_CANNOT_RUN = frozenset({"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                         "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "Error",
                         "OOMKilled", "ContainerCannotRun", "Completed", "StartError"})


def failing(pod: ApiObject, most_gpus: int) -> bool:
    """A pod that cannot serve for a reason of its own: it crashed or restarted, cannot pull or start, or asks for
    more GPUs than any node has (`most_gpus`). A pod still loading its model (Running, not yet ready, no restart)
    is not failing, nor one the kubelet evicted (the node's doing), nor one waiting for GPUs that a full cluster
    has in use (the cluster's state, not the revision's)."""
    if (pod.get("status") or {}).get("phase") == "Failed":
        return False
    row = pod_row(pod)
    unschedulable = any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                        and c.get("reason") == "Unschedulable"
                        for c in (pod.get("status") or {}).get("conditions") or [])
    return row.status in _CANNOT_RUN or row.restarts > 0 or (unschedulable and gpus_of(pod) > most_gpus)


def revision_row(rs: ApiObject, current: int | None, pods: list[ApiObject], most_gpus: int) -> Revision:
    status = rs.get("status") or {}
    revision = revision_of(rs) or 0
    containers = rs["spec"]["template"]["spec"].get("containers") or []
    cause = annotations_of(rs).get(CHANGE_CAUSE) or ((rs["spec"]["template"].get("metadata") or {}).get(
        "annotations") or {}).get(CHANGE_CAUSE)
    return Revision(revision=revision, replicaset=rs["metadata"]["name"],
                    images=[c.get("image", "") for c in containers], change_cause=cause,
                    created=age(rs["metadata"].get("creationTimestamp")),
                    age_s=age_seconds(rs["metadata"].get("creationTimestamp")),
                    replicas=int(rs["spec"].get("replicas", 0)), ready=int(status.get("readyReplicas", 0)),
                    failing=sum(failing(p, most_gpus) for p in pods if owner_replicaset(p) == rs["metadata"]["name"]),
                    current=revision == current)
