"""The kubernetes MCP server: deployments, pods, nodes, events, rollout history and pod logs, and the writes.

Answers lead with what is abnormal (unhealthy pods, NotReady or cordoned nodes, warning events) and cap every
list; `detail=True` adds the raw specifics where a model may need them. Every namespaced tool defaults to the
settings' namespace; "*" or "all" means every namespace.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastmcp import FastMCP
from pydantic import BaseModel, Field

from mcp_servers import kube_writes
from mcp_servers.errors import ToolFailure, fail
from mcp_servers.kube_client import (
    GPU,
    Kube,
    Obj,
    age,
    controller_of,
    gpus_of,
    holds_resources,
    inline_first,
    parse_time,
    selector_string,
)
from mcp_servers.kube_mirror import Mirror
from mcp_servers.settings import Settings
from mcp_servers.toolkit import Capped, clip, read_tool

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
ERROR_LINE = re.compile(r"error|exception|fatal|panic|killed|traceback", re.IGNORECASE)
Namespace = Annotated[str | None, Field(description='default: the configured namespace; "*" or "all": every one')]


class Condition(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class EventRow(BaseModel):
    type: str
    reason: str
    object: str = Field(description="Kind/name of the object the event is about")
    message: str
    count: int
    last_seen: str = Field(description="age of the newest occurrence, e.g. 3m")


class Termination(BaseModel):
    reason: str
    exit_code: int
    finished: str = Field(description="age, e.g. 2m")
    message: str | None = None


class PodRow(BaseModel):
    name: str
    namespace: str
    status: str = Field(description="as kubectl's STATUS column: Running, CrashLoopBackOff, Pending, Terminating...")
    ready: str
    restarts: int
    last_termination: Termination | None = None
    node: str | None = None
    gpus: int
    age: str


class Restarter(BaseModel):
    name: str
    restarts: int
    last_reason: str | None = None


class PodList(BaseModel):
    total: int
    unhealthy: int
    by_status: dict[str, int]
    top_restarters: list[Restarter]
    pods: Capped[PodRow] = Field(description="unhealthy pods first, then by restarts")


class ContainerInfo(BaseModel):
    name: str
    image: str
    state: str
    ready: bool
    restarts: int
    last_termination: Termination | None = None


class PodDetail(BaseModel):
    name: str
    namespace: str
    status: str
    ready: str
    problems: list[str] = Field(description="what is wrong, in plain words; empty when the pod is healthy")
    owner: str | None = None
    node: str | None = None
    node_state: str | None = None
    gpus: int
    age: str
    containers: list[ContainerInfo]
    conditions: list[Condition] = Field(description="the conditions that are not True (all with detail)")
    events: Capped[EventRow]
    previous_log_tail: list[str] = Field(description="last lines of the container that terminated last")
    spec: dict[str, Any] | None = Field(default=None, description="containers' args and resources (detail only)")


class DeploymentRow(BaseModel):
    name: str
    namespace: str
    state: str = Field(description="Healthy, Degraded (fewer available than desired), RollingOut or ScaledToZero")
    desired: int
    ready: int
    available: int
    updated: int
    revision: int | None = None
    image: str


class DeploymentList(BaseModel):
    total: int
    not_healthy: list[str]
    deployments: Capped[DeploymentRow]


class DeploymentDetail(BaseModel):
    deployment: DeploymentRow
    change_cause: str | None = None
    strategy: str
    max_unavailable: int | None = Field(description="pods a rollout may take down at once (Recreate: all); "
                                        "resolved from percentages as Kubernetes rounds them")
    conditions: list[Condition]
    pods_by_status: dict[str, int]
    unhealthy_pods: list[PodRow]
    events: Capped[EventRow]


class NodeRow(BaseModel):
    name: str
    ready: bool
    cordoned: bool
    status: str = Field(description="as kubectl: Ready, NotReady, Ready,SchedulingDisabled...")
    problems: list[str] = Field(description="pressure conditions and NoExecute/NoSchedule taints")
    gpu_capacity: int
    gpu_allocatable: int
    gpu_allocated: int = Field(description="GPUs requested by the node's running and pending pods")
    pods: int


class NodeList(BaseModel):
    total: int
    ready: int
    not_ready: list[str]
    cordoned: list[str]
    gpus: dict[str, int] = Field(description="capacity, allocatable, allocated and free over all nodes")
    nodes: list[NodeRow] = Field(description="abnormal nodes first")


class NodePod(BaseModel):
    name: str
    namespace: str
    status: str
    ready: str
    restarts: int
    gpus: int


class NodeDetail(BaseModel):
    node: NodeRow
    conditions: list[Condition]
    taints: list[str]
    info: dict[str, str]
    pods: Capped[NodePod]
    events: Capped[EventRow]


class EventList(BaseModel):
    total: int = Field(description="distinct events after folding repeats")
    warnings: int
    events: Capped[EventRow] = Field(description="warnings first, newest first")


class Revision(BaseModel):
    revision: int
    replicaset: str
    images: list[str]
    change_cause: str | None = None
    created: str
    replicas: int
    ready: int
    current: bool


class RolloutHistory(BaseModel):
    deployment: str
    namespace: str
    current_revision: int | None
    revisions: list[Revision] = Field(description="newest first")


class PodLogs(BaseModel):
    pod: str
    namespace: str
    container: str | None
    previous: bool
    lines: int
    text: str
    truncated: bool


def build(settings: Settings, mirror: Mirror | None = None) -> FastMCP:
    """The kubernetes server; `mirror` defaults to a new one on the settings' cluster (the server stops it)."""
    mirror = mirror or Mirror(Kube(settings), watch=settings.kube_watch)
    kube = mirror.kube

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(mirror.stop)  # it waits for the watch threads: not on the loop
            kube.close()

    mcp = FastMCP("kubernetes", instructions="Kubernetes state of the inference fleet: deployments, pods, nodes "
                  "(GPU allocation, cordons), events, rollout history, pod logs; and remediations.",
                  lifespan=lifespan)
    _register_reads(mcp, kube, mirror)
    kube_writes.register(mcp, kube)
    return mcp


def _register_reads(mcp: FastMCP, kube: Kube, mirror: Mirror) -> None:
    @read_tool(mcp, "List deployments")
    def list_deployments(namespace: Namespace = None) -> DeploymentList:
        """Deployments with desired/ready/available/updated replicas and revision; not-healthy ones first."""
        ns = kube.namespace(namespace)
        items = _list(kube, kube.apps.list_namespaced_deployment, kube.apps.list_deployment_for_all_namespaces, ns)
        rows = sorted((_deployment_row(d) for d in items), key=lambda r: (r.state == "Healthy", r.namespace, r.name))
        return DeploymentList(total=len(rows), not_healthy=[r.name for r in rows if r.state != "Healthy"],
                              deployments=Capped.of(rows))

    @read_tool(mcp, "Describe a deployment")
    def describe_deployment(name: str, namespace: Namespace = None) -> DeploymentDetail:
        """Replicas, rollout state, conditions, current revision and image, unhealthy pods and recent events."""
        ns = _one_namespace(kube, namespace)
        dep = _deployment(kube, name, ns)
        pods = _pods_of(kube, dep)
        replicasets = _replicasets_of(kube, dep)
        names = {name} | {p["metadata"]["name"] for p in pods} | {rs["metadata"]["name"] for rs in replicasets}
        events = [e for e in _raw_events(kube, ns) if e["involvedObject"].get("name") in names]
        rows = [_pod_row(p) for p in pods]
        strategy = dep["spec"].get("strategy") or {}
        bounds = ", ".join(f"{k} {v}" for k, v in (strategy.get("rollingUpdate") or {}).items())
        return DeploymentDetail(
            deployment=_deployment_row(dep), change_cause=_annotations(dep).get(CHANGE_CAUSE),
            strategy=f"{strategy.get('type', 'RollingUpdate')}" + (f" ({bounds})" if bounds else ""),
            max_unavailable=_max_unavailable(strategy, int(dep["spec"].get("replicas", 1))),
            conditions=[_condition(c) for c in (dep.get("status") or {}).get("conditions") or []],
            pods_by_status=dict(Counter(r.status for r in rows)),
            unhealthy_pods=[r for r in rows if not _healthy(r)], events=Capped.of(_fold_events(events), 10))

    @read_tool(mcp, "List pods")
    @inline_first
    def list_pods(namespace: Namespace = None, deployment: str | None = None, node: str | None = None,
                  only_unhealthy: bool = False,
                  limit: Annotated[int, Field(ge=1, le=500)] = 50) -> PodList:
        """Pods with status, readiness, restarts, last termination (reason, exit code), node, GPUs and age.

        With `node` and no namespace, lists the node's pods in every namespace (what runs there matters).
        """
        ns = kube.namespace(namespace) if namespace or node is None else None
        if deployment:
            pods = _pods_of(kube, _deployment(kube, deployment, _one_namespace(kube, namespace)))
            pods = [p for p in pods if node is None or p["spec"].get("nodeName") == node]
        else:
            pods = mirror.pods(namespace=ns, node=node)
        rows = [_pod_row(p) for p in pods]
        unhealthy = [r for r in rows if not _healthy(r)]
        shown = unhealthy if only_unhealthy else rows
        shown = sorted(shown, key=lambda r: (_healthy(r), -r.restarts, r.namespace, r.name))
        restarters = sorted((r for r in rows if r.restarts), key=lambda r: (-r.restarts, r.namespace, r.name))[:5]
        return PodList(total=len(rows), unhealthy=len(unhealthy), by_status=dict(Counter(r.status for r in rows)),
                       top_restarters=[Restarter(name=r.name, restarts=r.restarts,
                                                 last_reason=r.last_termination.reason if r.last_termination else None)
                                       for r in restarters],
                       pods=Capped.of(shown, limit))

    @read_tool(mcp, "What is wrong with this pod")
    @inline_first
    def describe_pod(name: str, namespace: Namespace = None, detail: bool = False) -> PodDetail:
        """Status, container states and last termination, events (warnings first), its node's condition, and the
        last log lines of a crashed container: what is wrong with this pod, in one compact answer."""
        ns = _one_namespace(kube, namespace)
        pod = mirror.pod(ns, name)
        if pod is None:
            raise fail("not_found", f"pod {name} not found in namespace {ns}")
        return _pod_detail(kube, mirror, pod, detail)

    @read_tool(mcp, "List nodes")
    @inline_first
    def list_nodes() -> NodeList:
        """Nodes with Ready, cordon state, pressure and taints, GPU capacity/allocatable/allocated and pod counts."""
        nodes = mirror.nodes()
        pods_by_node: dict[str, list[Obj]] = defaultdict(list)
        for pod in mirror.pods(active=True):
            pods_by_node[pod["spec"].get("nodeName") or ""].append(pod)
        rows = sorted((_node_row(n, pods_by_node[n["metadata"]["name"]]) for n in nodes),
                      key=lambda r: (r.ready and not r.cordoned and not r.problems, r.name))
        gpus = {"capacity": sum(r.gpu_capacity for r in rows), "allocatable": sum(r.gpu_allocatable for r in rows),
                "allocated": sum(r.gpu_allocated for r in rows)}
        gpus["free"] = gpus["allocatable"] - gpus["allocated"]
        return NodeList(total=len(rows), ready=sum(r.ready for r in rows),
                        not_ready=[r.name for r in rows if not r.ready], cordoned=[r.name for r in rows if r.cordoned],
                        gpus=gpus, nodes=rows)

    @read_tool(mcp, "Describe a node")
    @inline_first
    def describe_node(name: str) -> NodeDetail:
        """A node's conditions, taints, GPU allocation, the pods on it (unhealthy first) and its events."""
        node = mirror.node(name)
        if node is None:
            raise fail("not_found", f"node {name} not found")
        pods = mirror.pods(node=name)
        events = mirror.events_about(name, kind="Node")
        rows = sorted((_pod_row(p) for p in pods), key=lambda r: (_healthy(r), r.namespace, r.name))
        info = (node.get("status") or {}).get("nodeInfo") or {}
        labels = node["metadata"].get("labels") or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        return NodeDetail(
            node=_node_row(node, [p for p in pods if holds_resources(p)]),
            conditions=[_condition(c) for c in (node.get("status") or {}).get("conditions") or []],
            taints=[_taint(t) for t in node["spec"].get("taints") or []],
            info={"kubelet": info.get("kubeletVersion", ""), "kernel": info.get("kernelVersion", ""),
                  "gpu_product": labels.get("nvidia.com/gpu.product", ""),
                  "instance_type": labels.get("node.kubernetes.io/instance-type", ""),
                  "cpu": allocatable.get("cpu", ""), "memory": allocatable.get("memory", ""),
                  "age": age(node["metadata"].get("creationTimestamp"))},
            pods=Capped.of([NodePod(name=r.name, namespace=r.namespace, status=r.status, ready=r.ready,
                                    restarts=r.restarts, gpus=r.gpus) for r in rows]),
            events=Capped.of(_fold_events(events), 15))

    @read_tool(mcp, "List events")
    def list_events(namespace: Namespace = None, object_name: str | None = None, kind: str | None = None,
                    limit: Annotated[int, Field(ge=1, le=200)] = 30) -> EventList:
        """Events, repeats folded into one row with a count, warnings first and newest first.

        `object_name` and `kind` (Pod, Node, Deployment, ReplicaSet...) narrow them to one object or kind.
        """
        ns = kube.namespace(namespace)
        terms = [f"involvedObject.name={object_name}" if object_name else "",
                 f"involvedObject.kind={kind}" if kind else ""]
        events = _raw_events(kube, ns, ",".join(t for t in terms if t) or None)
        folded = _fold_events(events)
        return EventList(total=len(folded), warnings=sum(e.type == "Warning" for e in folded),
                         events=Capped.of(folded, limit))

    @read_tool(mcp, "Rollout history")
    def rollout_history(deployment: str, namespace: Namespace = None) -> RolloutHistory:
        """A deployment's revisions from its ReplicaSets: image, change cause, age and replicas; newest first."""
        ns = _one_namespace(kube, namespace)
        dep = _deployment(kube, deployment, ns)
        current = _revision(dep)
        revisions = sorted((_revision_row(rs, current) for rs in _replicasets_of(kube, dep)),
                           key=lambda r: -r.revision)
        return RolloutHistory(deployment=deployment, namespace=ns, current_revision=current, revisions=revisions)

    @read_tool(mcp, "Pod logs")
    def pod_logs(pod: str, namespace: Namespace = None, tail: Annotated[int, Field(ge=1, le=5000)] = 100,
                 since_minutes: Annotated[int | None, Field(ge=1)] = None, previous: bool = False,
                 container: str | None = None) -> PodLogs:
        """The last lines of a pod's log (the previous, crashed container with previous=true), clipped to a cap."""
        ns = _one_namespace(kube, namespace)
        options: dict[str, Any] = {"tail_lines": tail, "previous": previous}
        if since_minutes:
            options["since_seconds"] = since_minutes * 60
        if container:
            options["container"] = container
        text = kube.text(kube.core.read_namespaced_pod_log, pod, ns, missing=f"pod {pod} not found in namespace {ns}",
                         **options)
        clipped, truncated = clip(text)
        return PodLogs(pod=pod, namespace=ns, container=container, previous=previous,
                       lines=text.count("\n") + (not text.endswith("\n") and bool(text)), text=clipped,
                       truncated=truncated)


def _one_namespace(kube: Kube, namespace: str | None) -> str:
    ns = kube.namespace(namespace)
    if ns is None:
        raise fail("bad_input", "name one namespace: this tool reads one object, which lives in exactly one namespace")
    return ns


def _list(kube: Kube, namespaced: Any, everywhere: Any, ns: str | None, **query: Any) -> list[Obj]:
    query = {k: v for k, v in query.items() if v}
    return kube.list_all(namespaced, ns, **query)["items"] if ns else kube.list_all(everywhere, **query)["items"]


def _deployment(kube: Kube, name: str, ns: str) -> Obj:
    return kube.call(kube.apps.read_namespaced_deployment, name, ns,
                     missing=f"deployment {name} not found in namespace {ns}")


def _pods_of(kube: Kube, dep: Obj) -> list[Obj]:
    selector = selector_string(dep["spec"].get("selector"))
    return list(kube.call(kube.core.list_namespaced_pod, dep["metadata"]["namespace"],
                          label_selector=selector)["items"])


def _replicasets_of(kube: Kube, dep: Obj) -> list[Obj]:
    items = kube.call(kube.apps.list_namespaced_replica_set, dep["metadata"]["namespace"],
                      label_selector=selector_string(dep["spec"].get("selector")))["items"]
    uid = dep["metadata"]["uid"]
    return [rs for rs in items if (controller_of(rs) or {}).get("uid") == uid]


def _annotations(obj: Obj) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def _revision(obj: Obj) -> int | None:
    value = _annotations(obj).get(REVISION)
    return int(value) if value and value.isdigit() else None


def _condition(raw: Obj) -> Condition:
    return Condition(type=raw.get("type", ""), status=raw.get("status", ""), reason=raw.get("reason"),
                     message=raw.get("message"))


def _deployment_row(dep: Obj) -> DeploymentRow:
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
                         revision=_revision(dep), image=", ".join(c.get("image", "") for c in containers))


def pod_status(pod: Obj) -> str:
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


def _last_termination(container: Obj) -> Termination | None:
    ended = (container.get("lastState") or {}).get("terminated") or (container.get("state") or {}).get("terminated")
    if not ended:
        return None
    return Termination(reason=ended.get("reason") or "Unknown", exit_code=int(ended.get("exitCode", 0)),
                       finished=age(ended.get("finishedAt")), message=ended.get("message"))


def _pod_row(pod: Obj) -> PodRow:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    terminations = [t for t in (_last_termination(c) for c in statuses) if t]
    return PodRow(name=pod["metadata"]["name"], namespace=pod["metadata"]["namespace"], status=pod_status(pod),
                  ready=f"{sum(bool(c.get('ready')) for c in statuses)}/{total}",
                  restarts=sum(int(c.get("restartCount", 0)) for c in statuses),
                  last_termination=terminations[0] if terminations else None, node=pod["spec"].get("nodeName"),
                  gpus=gpus_of(pod), age=age(pod["metadata"].get("creationTimestamp")))


def _healthy(row: PodRow) -> bool:
    ready, total = row.ready.split("/")
    return row.status == "Completed" or (row.status == "Running" and ready == total)


def _container_state(container: Obj) -> str:
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


def _max_unavailable(strategy: Obj, replicas: int) -> int:
    """As the deployment controller computes it: a percentage rounds down (and maxSurge's up), 25 % by default."""
    if strategy.get("type") == "Recreate":
        return replicas
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return int(replicas * float(value[:-1]) / 100)
    return int(value)


def _pod_detail(kube: Kube, mirror: Mirror, pod: Obj, detail: bool) -> PodDetail:
    name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
    row = _pod_row(pod)
    images = {c["name"]: c.get("image", "") for c in pod["spec"].get("containers") or []}
    containers = [ContainerInfo(name=c["name"], image=images.get(c["name"], c.get("image", "")),
                                state=_container_state(c), ready=bool(c.get("ready")),
                                restarts=int(c.get("restartCount", 0)), last_termination=_last_termination(c))
                  for c in (pod.get("status") or {}).get("containerStatuses") or []]
    conditions = [_condition(c) for c in (pod.get("status") or {}).get("conditions") or []]
    crashed = next((c for c in containers if c.restarts and c.last_termination), None)
    node = _node_of(mirror, row.node)
    events = _fold_events(mirror.events_about(name, namespace=ns))
    return PodDetail(
        name=name, namespace=ns, status=row.status, ready=row.ready,
        problems=_pod_problems(pod, row, containers, conditions, node), owner=_owner(mirror, pod), node=row.node,
        node_state=_node_state(node) if node else None, gpus=row.gpus, age=row.age, containers=containers,
        conditions=conditions if detail else [c for c in conditions if c.status != "True"],
        events=Capped.of(events, 10),
        previous_log_tail=_log_tail(kube, name, ns, crashed.name) if crashed else [],
        spec={c["name"]: {"args": c.get("args"), "resources": c.get("resources")}
              for c in pod["spec"].get("containers") or []} if detail else None)


def _pod_problems(pod: Obj, row: PodRow, containers: list[ContainerInfo], conditions: list[Condition],
                  node: Obj | None) -> list[str]:
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
    if node is not None and _node_state(node) != "Ready":
        problems.append(f"node {row.node} is {_node_state(node)}")
    return problems


def _owner(mirror: Mirror, pod: Obj) -> str | None:
    """The owning Deployment when the controller is one of its ReplicaSets, else the direct controller."""
    ref = controller_of(pod)
    if ref is None:
        return None
    if ref.get("kind") == "ReplicaSet":
        try:
            rs = mirror.replicaset(pod["metadata"]["namespace"], ref["name"])
        except ToolFailure:
            rs = None
        top = controller_of(rs) if rs else None  # none: an orphan being cleaned up, named as the pod names it
        if top is not None:
            return f"{top['kind']}/{top['name']}"
    return f"{ref['kind']}/{ref['name']}"


def _node_of(mirror: Mirror, name: str | None) -> Obj | None:
    if not name:
        return None
    try:
        node = mirror.node(name)
    except ToolFailure:
        node = None
    # a pod's answer does not fail because its node is gone or unreadable: the node state says so
    return node or {"metadata": {"name": name}, "spec": {}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeNotFound"}]}}


def _log_tail(kube: Kube, pod: str, ns: str, container: str, lines: int = 8) -> list[str]:
    """The crashed container's last words: its error lines when it printed any, else its last lines."""
    try:
        text = kube.text(kube.core.read_namespaced_pod_log, pod, ns, container=container, previous=True,
                         tail_lines=60)
    except ToolFailure:  # the previous log may be gone (rotated, node lost); the rest of the answer still stands
        return []
    recent = text.splitlines()
    errors = [line for line in recent if ERROR_LINE.search(line)]
    return [line[:300] for line in (errors or recent)[-lines:]]


def _ready(node: Obj) -> Obj:
    conditions = (node.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {"status": "Unknown"})


def _node_state(node: Obj) -> str:
    ready = _ready(node)
    state = "Ready" if ready.get("status") == "True" else f"NotReady ({ready.get('reason') or 'no status'})"
    return state + (", cordoned" if node["spec"].get("unschedulable") else "")


def _taint(taint: Obj) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


def _node_row(node: Obj, pods: list[Obj]) -> NodeRow:
    """`pods`: the node's pods that hold resources."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    ready = _ready(node).get("status") == "True"
    cordoned = bool(node["spec"].get("unschedulable"))
    pressure = [f"{c['type']}={c['status']}" for c in status.get("conditions") or []
                if c.get("type") != "Ready" and c.get("status") != "False"]
    taints = [_taint(t) for t in node["spec"].get("taints") or []
              if t.get("key") != "node.kubernetes.io/unschedulable"]
    return NodeRow(name=name, ready=ready, cordoned=cordoned,
                   status=("Ready" if ready else "NotReady") + (",SchedulingDisabled" if cordoned else ""),
                   problems=pressure + taints, gpu_capacity=int((status.get("capacity") or {}).get(GPU, 0)),
                   gpu_allocatable=int((status.get("allocatable") or {}).get(GPU, 0)),
                   gpu_allocated=sum(gpus_of(p) for p in pods), pods=len(pods))


def _raw_events(kube: Kube, ns: str | None, field_selector: str | None = None) -> list[Obj]:
    query = {"field_selector": field_selector} if field_selector else {}
    return _list(kube, kube.core.list_namespaced_event, kube.core.list_event_for_all_namespaces, ns, **query)


def _fold_events(events: list[Obj]) -> list[EventRow]:
    """Repeats (same type, reason, object and message) become one row; warnings first, newest first."""
    folded: dict[tuple[str, ...], tuple[EventRow, str]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        row = EventRow(type=event.get("type") or "Normal", reason=event.get("reason") or "",
                       object=f"{involved.get('kind', '')}/{involved.get('name', '')}",
                       message=(event.get("message") or "")[:400], count=int(event.get("count") or 1), last_seen="")
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


def _revision_row(rs: Obj, current: int | None) -> Revision:
    status = rs.get("status") or {}
    revision = _revision(rs) or 0
    containers = rs["spec"]["template"]["spec"].get("containers") or []
    cause = _annotations(rs).get(CHANGE_CAUSE) or ((rs["spec"]["template"].get("metadata") or {}).get(
        "annotations") or {}).get(CHANGE_CAUSE)
    return Revision(revision=revision, replicaset=rs["metadata"]["name"],
                    images=[c.get("image", "") for c in containers], change_cause=cause,
                    created=age(rs["metadata"].get("creationTimestamp")),
                    replicas=int(rs["spec"].get("replicas", 0)), ready=int(status.get("readyReplicas", 0)),
                    current=revision == current)
