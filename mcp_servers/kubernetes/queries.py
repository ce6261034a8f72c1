"""What the kubernetes read tools ask the cluster: live through the client, or from the mirror where it has it."""

from __future__ import annotations

from typing import Any

from mcp_servers.errors import BackendError, fail
from mcp_servers.kubernetes.client import Kube
from mcp_servers.kubernetes.mirror import Mirror
from mcp_servers.kubernetes.objects import ApiObject, controller_of, selector_string

# Where a pod's node is gone or unreadable: a pod's answer does not fail for it, the node's state says so.
UNKNOWN_NODE: ApiObject = {"spec": {}, "status": {"conditions": [
    {"type": "Ready", "status": "Unknown", "reason": "NodeNotFound"}]}}


def one_namespace(kube: Kube, namespace: str | None) -> str:
    ns = kube.namespace(namespace)
    if ns is None:
        raise fail("bad_input", "name one namespace: this tool reads one object, which lives in exactly one namespace")
    return ns


def listed(kube: Kube, namespaced: Any, everywhere: Any, ns: str | None, **query: Any) -> list[ApiObject]:
    query = {k: v for k, v in query.items() if v}
    return kube.list_all(namespaced, ns, **query)["items"] if ns else kube.list_all(everywhere, **query)["items"]


def deployment(kube: Kube, name: str, ns: str) -> ApiObject:
    return kube.call(kube.apps.read_namespaced_deployment, name, ns,
                     missing=f"deployment {name} not found in namespace {ns}")


def pods_of(kube: Kube, dep: ApiObject) -> list[ApiObject]:
    selector = selector_string(dep["spec"].get("selector"))
    return list(kube.call(kube.core.list_namespaced_pod, dep["metadata"]["namespace"],
                          label_selector=selector)["items"])


def replicasets_of(kube: Kube, dep: ApiObject) -> list[ApiObject]:
    items = kube.call(kube.apps.list_namespaced_replica_set, dep["metadata"]["namespace"],
                      label_selector=selector_string(dep["spec"].get("selector")))["items"]
    uid = dep["metadata"]["uid"]
    return [rs for rs in items if (controller_of(rs) or {}).get("uid") == uid]


def events(kube: Kube, ns: str | None, field_selector: str | None = None) -> list[ApiObject]:
    query = {"field_selector": field_selector} if field_selector else {}
    return listed(kube, kube.core.list_namespaced_event, kube.core.list_event_for_all_namespaces, ns, **query)


def owner(mirror: Mirror, pod: ApiObject) -> str | None:
    """The owning Deployment when the controller is one of its ReplicaSets, else the direct controller."""
    ref = controller_of(pod)
    if ref is None:
        return None
    if ref.get("kind") == "ReplicaSet":
        try:
            rs = mirror.replicaset(pod["metadata"]["namespace"], ref["name"])
        except BackendError:
            rs = None
        top = controller_of(rs) if rs else None  # none: an orphan being cleaned up, named as the pod names it
        if top is not None:
            return f"{top['kind']}/{top['name']}"
    return f"{ref['kind']}/{ref['name']}"


def node_of(mirror: Mirror, name: str | None) -> ApiObject | None:
    """The pod's node; a stand-in whose Ready condition is Unknown when it is gone or unreadable."""
    if not name:
        return None
    try:
        node = mirror.node(name)
    except BackendError:
        node = None
    return node or {"metadata": {"name": name}, **UNKNOWN_NODE}


def previous_log(kube: Kube, pod: str, ns: str, container: str) -> str:
    """The end of a crashed container's previous log; empty when it is gone (rotated, node lost)."""
    try:
        return kube.text(kube.core.read_namespaced_pod_log, pod, ns, container=container, previous=True,
                         tail_lines=60)
    except BackendError:  # the rest of the pod's answer still stands
        return ""
