"""The kubernetes read tools' whole answers, assembled from the objects a tool gathered (`views.py` makes the
rows): what is abnormal first, every list capped. Pure: no request, no clock but the ages."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from mcp_servers.answers import Capped, clip
from mcp_servers.kubernetes.models import (
    ContainerInfo,
    DeploymentDetail,
    DeploymentList,
    EventList,
    EventRow,
    NodeDetail,
    NodeList,
    NodePod,
    PodDetail,
    PodList,
    PodLogs,
    Restarter,
    RolloutHistory,
)
from mcp_servers.kubernetes.objects import (
    CHANGE_CAUSE,
    ApiObject,
    age,
    allocatable_gpus,
    annotations_of,
    holds_resources,
    revision_of,
)
from mcp_servers.kubernetes.views import (
    condition,
    container_state,
    deployment_row,
    fold_events,
    healthy,
    last_termination,
    max_unavailable,
    node_row,
    node_state,
    pod_problems,
    pod_row,
    revision_row,
    taint_text,
)

ERROR_LINE = re.compile(r"error|exception|fatal|panic|killed|traceback", re.IGNORECASE)


def deployment_list(deployments: list[ApiObject]) -> DeploymentList:
    rows = sorted((deployment_row(d) for d in deployments), key=lambda r: (r.state == "Healthy", r.namespace, r.name))
    return DeploymentList(total=len(rows), not_healthy=[r.name for r in rows if r.state != "Healthy"],
                          deployments=Capped.of(rows))


def deployment_detail(dep: ApiObject, pods: list[ApiObject], events: list[ApiObject]) -> DeploymentDetail:
    rows = [pod_row(p) for p in pods]
    strategy = dep["spec"].get("strategy") or {}
    bounds = ", ".join(f"{k} {v}" for k, v in (strategy.get("rollingUpdate") or {}).items())
    return DeploymentDetail(
        deployment=deployment_row(dep), change_cause=annotations_of(dep).get(CHANGE_CAUSE),
        strategy=f"{strategy.get('type', 'RollingUpdate')}" + (f" ({bounds})" if bounds else ""),
        max_unavailable=max_unavailable(strategy, int(dep["spec"].get("replicas", 1))),
        conditions=[condition(c) for c in (dep.get("status") or {}).get("conditions") or []],
        pods_by_status=dict(Counter(r.status for r in rows)),
        unhealthy_pods=[r for r in rows if not healthy(r)], events=Capped.of(fold_events(events), 10))


def pod_list(pods: list[ApiObject], only_unhealthy: bool, limit: int) -> PodList:
    rows = [pod_row(p) for p in pods]
    unhealthy = [r for r in rows if not healthy(r)]
    shown = unhealthy if only_unhealthy else rows
    shown = sorted(shown, key=lambda r: (healthy(r), -r.restarts, r.namespace, r.name))
    restarters = sorted((r for r in rows if r.restarts), key=lambda r: (-r.restarts, r.namespace, r.name))[:5]
    return PodList(total=len(rows), unhealthy=len(unhealthy), by_status=dict(Counter(r.status for r in rows)),
                   top_restarters=[Restarter(name=r.name, restarts=r.restarts,
                                             last_reason=r.last_termination.reason if r.last_termination else None)
                                   for r in restarters],
                   pods=Capped.of(shown, limit))


def crashed_container(pod: ApiObject) -> str | None:
    """The first container that restarted after a termination: its previous log holds its last words."""
    return next((c["name"] for c in (pod.get("status") or {}).get("containerStatuses") or []
                 if int(c.get("restartCount", 0)) and last_termination(c)), None)


def last_words(log: str, lines: int = 8) -> list[str]:
    """A crashed container's error lines when it printed any, else its last lines."""
    recent = log.splitlines()
    errors = [line for line in recent if ERROR_LINE.search(line)]
    return [line[:300] for line in (errors or recent)[-lines:]]


def pod_detail(pod: ApiObject, node: ApiObject | None, owner: str | None, events: list[ApiObject],
               previous_log_tail: list[str], detail: bool) -> PodDetail:
    row = pod_row(pod)
    images = {c["name"]: c.get("image", "") for c in pod["spec"].get("containers") or []}
    containers = [ContainerInfo(name=c["name"], image=images.get(c["name"], c.get("image", "")),
                                state=container_state(c), ready=bool(c.get("ready")),
                                restarts=int(c.get("restartCount", 0)), last_termination=last_termination(c))
                  for c in (pod.get("status") or {}).get("containerStatuses") or []]
    conditions = [condition(c) for c in (pod.get("status") or {}).get("conditions") or []]
    return PodDetail(
        name=row.name, namespace=row.namespace, status=row.status, ready=row.ready,
        problems=pod_problems(pod, row, containers, conditions, node), owner=owner, node=row.node,
        node_state=node_state(node) if node else None, gpus=row.gpus, age=row.age, containers=containers,
        conditions=conditions if detail else [c for c in conditions if c.status != "True"],
        events=Capped.of(fold_events(events), 10), previous_log_tail=previous_log_tail,
        spec={c["name"]: {"args": c.get("args"), "resources": c.get("resources")}
              for c in pod["spec"].get("containers") or []} if detail else None)


def node_list(nodes: list[ApiObject], active_pods: list[ApiObject]) -> NodeList:
    """`active_pods`: the pods that hold resources, on every node."""
    pods_by_node: dict[str, list[ApiObject]] = defaultdict(list)
    for pod in active_pods:
        pods_by_node[pod["spec"].get("nodeName") or ""].append(pod)
    rows = sorted((node_row(n, pods_by_node[n["metadata"]["name"]]) for n in nodes),
                  key=lambda r: (r.ready and not r.cordoned and not r.problems and not r.gpus_unhealthy, r.name))
    gpus = {"capacity": sum(r.gpu_capacity for r in rows), "allocatable": sum(r.gpu_allocatable for r in rows),
            "allocated": sum(r.gpu_allocated for r in rows)}
    gpus["free"] = gpus["allocatable"] - gpus["allocated"]
    return NodeList(total=len(rows), ready=sum(r.ready for r in rows),
                    not_ready=[r.name for r in rows if not r.ready], cordoned=[r.name for r in rows if r.cordoned],
                    gpus=gpus, nodes=rows)


def node_detail(node: ApiObject, pods: list[ApiObject], events: list[ApiObject]) -> NodeDetail:
    rows = sorted((pod_row(p) for p in pods), key=lambda r: (healthy(r), r.namespace, r.name))
    info = (node.get("status") or {}).get("nodeInfo") or {}
    labels = node["metadata"].get("labels") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return NodeDetail(
        node=node_row(node, [p for p in pods if holds_resources(p)]),
        conditions=[condition(c) for c in (node.get("status") or {}).get("conditions") or []],
        taints=[taint_text(t) for t in node["spec"].get("taints") or []],
        info={"kubelet": info.get("kubeletVersion", ""), "kernel": info.get("kernelVersion", ""),
              "gpu_product": labels.get("nvidia.com/gpu.product", ""),
              "instance_type": labels.get("node.kubernetes.io/instance-type", ""),
              "cpu": allocatable.get("cpu", ""), "memory": allocatable.get("memory", ""),
              "age": age(node["metadata"].get("creationTimestamp"))},
        pods=Capped.of([NodePod(name=r.name, namespace=r.namespace, status=r.status, ready=r.ready,
                                restarts=r.restarts, gpus=r.gpus) for r in rows]),
        events=Capped.of(fold_events(events), 15))


def event_list(events: list[ApiObject], limit: int) -> EventList:
    folded: list[EventRow] = fold_events(events)
    return EventList(total=len(folded), warnings=sum(e.type == "Warning" for e in folded),
                     events=Capped.of(folded, limit))


def rollout_history(dep: ApiObject, replicasets: list[ApiObject], pods: list[ApiObject],
                    nodes: list[ApiObject]) -> RolloutHistory:
    current, most_gpus = revision_of(dep), max((allocatable_gpus(n) for n in nodes), default=0)
    revisions = sorted((revision_row(rs, current, pods, most_gpus) for rs in replicasets), key=lambda r: -r.revision)
    completed = any(c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
                    for c in (dep.get("status") or {}).get("conditions") or [])
    for revision in revisions:
        if revision.current:
            revision.completed = completed
    return RolloutHistory(deployment=dep["metadata"]["name"], namespace=dep["metadata"]["namespace"],
                          current_revision=current, revisions=revisions)


def pod_logs(pod: str, namespace: str, container: str | None, previous: bool, text: str) -> PodLogs:
    clipped, truncated = clip(text)
    return PodLogs(pod=pod, namespace=namespace, container=container, previous=previous,
                   lines=text.count("\n") + (not text.endswith("\n") and bool(text)), text=clipped,
                   truncated=truncated)
