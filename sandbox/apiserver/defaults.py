"""The defaults the real API server (and its admission plugins) fill in, where kubectl and clients rely on them.

Applied when an object is created through the API. (The real server also defaults on every update; doing
that here would add fields to objects the sandbox's controllers made, and bump their generation on a mere
label change.) `setdefault` keeps whatever the client already set.
"""

from __future__ import annotations

import zlib
from typing import Any

Obj = dict[str, Any]

TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]


def _pull_policy(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def _container(container: Obj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("imagePullPolicy", _pull_policy(str(container.get("image", ""))))
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(container, dict):
            _container(container)


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    # The DefaultTolerationSeconds admission plugin, which `kubectl describe pod` shows.
    tolerations = spec.setdefault("tolerations", [])
    for toleration in TOLERATIONS:
        if not any(t.get("key") == toleration["key"] for t in tolerations):
            tolerations.append(dict(toleration))
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _template(spec: Obj) -> None:
    pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    _template(spec)


def _replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)


def _cluster_ip(obj: Obj) -> str:
    """A stable address in the service range, derived from the name (there is no allocator to ask)."""
    meta = obj.get("metadata") or {}
    digest = zlib.crc32(f"{meta.get('namespace')}/{meta.get('name')}".encode())
    return f"10.96.{(digest >> 8) % 256}.{digest % 254 + 1}"


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName" and spec.get("clusterIP") != "None":
        spec.setdefault("clusterIP", _cluster_ip(obj))
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _namespace(obj: Obj) -> None:
    name = obj.get("metadata", {}).get("name", "")
    obj["metadata"].setdefault("labels", {}).setdefault("kubernetes.io/metadata.name", name)
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


DEFAULTERS = {
    "pods": _pod, "apps/deployments": _deployment, "apps/replicasets": _replicaset, "services": _service,
    "namespaces": _namespace,
}


def apply_defaults(key: str, obj: Obj) -> None:
    defaulter = DEFAULTERS.get(key)
    if defaulter is not None:
        defaulter(obj)


# What `status` a freshly created object starts with: the real strategies' PrepareForCreate reset it.
INITIAL_STATUS: dict[str, Obj] = {
    "pods": {"phase": "Pending"},
    "apps/deployments": {},
    "apps/replicasets": {"replicas": 0},
    "policy/poddisruptionbudgets": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                    "expectedPods": 0},
    "services": {"loadBalancer": {}},
    "namespaces": {"phase": "Active"},
}
