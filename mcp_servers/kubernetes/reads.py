"""The kubernetes server's read tools: deployments, pods, nodes, events, rollout history and pod logs.

Answers lead with what is abnormal (unhealthy pods, NotReady or cordoned nodes, warning events) and cap every
list; `detail=True` adds the raw specifics where a model may need them. Every namespaced tool defaults to the
settings' namespace; "*" or "all" means every namespace. A tool that the mirror can answer alone runs on the
event loop (`on_loop_else_thread`); the others run in a worker thread, as FastMCP runs every plain function.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mcp_servers.errors import fail
from mcp_servers.kubernetes import answers, queries
from mcp_servers.kubernetes.client import on_loop_else_thread
from mcp_servers.kubernetes.mirror import Mirror
from mcp_servers.kubernetes.models import (
    DeploymentDetail,
    DeploymentList,
    EventList,
    NodeDetail,
    NodeList,
    PodDetail,
    PodList,
    PodLogs,
    RolloutHistory,
)
from mcp_servers.toolkit import ToolSpec, held, reads

Namespace = Annotated[str | None, Field(description='default: the configured namespace; "*" or "all": every one')]


def list_deployments(namespace: Namespace = None, mirror: Mirror = held(Mirror)) -> DeploymentList:
    """Deployments with desired/ready/available/updated replicas and revision; not-healthy ones first."""
    kube = mirror.kube
    items = queries.listed(kube, kube.apps.list_namespaced_deployment, kube.apps.list_deployment_for_all_namespaces,
                           kube.namespace(namespace))
    return answers.deployment_list(items)


def describe_deployment(name: str, namespace: Namespace = None, mirror: Mirror = held(Mirror)) -> DeploymentDetail:
    """Replicas, rollout state, conditions, current revision and image, unhealthy pods and recent events."""
    kube = mirror.kube
    ns = queries.one_namespace(kube, namespace)
    dep = queries.deployment(kube, name, ns)
    pods = queries.pods_of(kube, dep)
    replicasets = queries.replicasets_of(kube, dep)
    names = {name} | {p["metadata"]["name"] for p in pods} | {rs["metadata"]["name"] for rs in replicasets}
    events = [e for e in queries.events(kube, ns) if e["involvedObject"].get("name") in names]
    return answers.deployment_detail(dep, pods, events)


@on_loop_else_thread
def list_pods(namespace: Namespace = None, deployment: str | None = None, node: str | None = None,
              only_unhealthy: bool = False, limit: Annotated[int, Field(ge=1, le=500)] = 50,
              mirror: Mirror = held(Mirror)) -> PodList:
    """Pods with status, readiness, restarts, last termination (reason, exit code), node, GPUs and age.

    With `node` and no namespace, lists the node's pods in every namespace (what runs there matters).
    """
    kube = mirror.kube
    ns = kube.namespace(namespace) if namespace or node is None else None
    if deployment:
        pods = queries.pods_of(kube, queries.deployment(kube, deployment, queries.one_namespace(kube, namespace)))
        pods = [p for p in pods if node is None or p["spec"].get("nodeName") == node]
    else:
        pods = mirror.pods(namespace=ns, node=node)
    return answers.pod_list(pods, only_unhealthy, limit)


@on_loop_else_thread
def describe_pod(name: str, namespace: Namespace = None, detail: bool = False,
                 mirror: Mirror = held(Mirror)) -> PodDetail:
    """Status, container states and last termination, events (warnings first), its node's condition, and the
    last log lines of a crashed container: what is wrong with this pod, in one compact answer."""
    kube = mirror.kube
    ns = queries.one_namespace(kube, namespace)
    pod = mirror.pod(ns, name)
    if pod is None:
        raise fail("not_found", f"pod {name} not found in namespace {ns}")
    crashed = answers.crashed_container(pod)
    return answers.pod_detail(
        pod, node=queries.node_of(mirror, pod["spec"].get("nodeName")), owner=queries.owner(mirror, pod),
        events=mirror.events_about(name, namespace=ns), detail=detail,
        previous_log_tail=answers.last_words(queries.previous_log(kube, name, ns, crashed)) if crashed else [])


@on_loop_else_thread
def list_nodes(mirror: Mirror = held(Mirror)) -> NodeList:
    """Nodes with Ready, cordon state, pressure and taints, GPU capacity/allocatable/allocated, the GPUs the device
    plugin withdrew as unhealthy, and pod counts."""
    return answers.node_list(mirror.nodes(), mirror.pods(active=True))


@on_loop_else_thread
def describe_node(name: str, mirror: Mirror = held(Mirror)) -> NodeDetail:
    """A node's conditions, taints, GPU allocation, the pods on it (unhealthy first) and its events."""
    node = mirror.node(name)
    if node is None:
        raise fail("not_found", f"node {name} not found")
    return answers.node_detail(node, mirror.pods(node=name), mirror.events_about(name, kind="Node"))


def list_events(namespace: Namespace = None, object_name: str | None = None, kind: str | None = None,
                limit: Annotated[int, Field(ge=1, le=200)] = 30, mirror: Mirror = held(Mirror)) -> EventList:
    """Events, repeats folded into one row with a count, warnings first and newest first.

    `object_name` and `kind` (Pod, Node, Deployment, ReplicaSet...) narrow them to one object or kind.
    """
    kube = mirror.kube
    terms = [f"involvedObject.name={object_name}" if object_name else "",
             f"involvedObject.kind={kind}" if kind else ""]
    events = queries.events(kube, kube.namespace(namespace), ",".join(t for t in terms if t) or None)
    return answers.event_list(events, limit)


def rollout_history(deployment: str, namespace: Namespace = None, mirror: Mirror = held(Mirror)) -> RolloutHistory:
    """A deployment's revisions from its ReplicaSets: image, change cause, age, replicas, failing pods; newest first."""
    kube = mirror.kube
    dep = queries.deployment(kube, deployment, queries.one_namespace(kube, namespace))
    return answers.rollout_history(dep, queries.replicasets_of(kube, dep), queries.pods_of(kube, dep), mirror.nodes())


def pod_logs(pod: str, namespace: Namespace = None, tail: Annotated[int, Field(ge=1, le=5000)] = 100,
             since_minutes: Annotated[int | None, Field(ge=1)] = None, previous: bool = False,
             container: str | None = None, mirror: Mirror = held(Mirror)) -> PodLogs:
    """The last lines of a pod's log (the previous, crashed container with previous=true), clipped to a cap."""
    kube = mirror.kube
    ns = queries.one_namespace(kube, namespace)
    options: dict[str, Any] = {"tail_lines": tail, "previous": previous}
    if since_minutes:
        options["since_seconds"] = since_minutes * 60
    if container:
        options["container"] = container
    text = kube.text(kube.core.read_namespaced_pod_log, pod, ns, missing=f"pod {pod} not found in namespace {ns}",
                     **options)
    return answers.pod_logs(pod, ns, container, previous, text)


READS: tuple[ToolSpec, ...] = (
    reads(list_deployments, "List deployments"),
    reads(describe_deployment, "Describe a deployment"),
    reads(list_pods, "List pods"),
    reads(describe_pod, "What is wrong with this pod"),
    reads(list_nodes, "List nodes"),
    reads(describe_node, "Describe a node"),
    reads(list_events, "List events"),
    reads(rollout_history, "Rollout history"),
    reads(pod_logs, "Pod logs"),
)
