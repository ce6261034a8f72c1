"""Small facts about pods that several controllers share, and how they delete one."""

from __future__ import annotations

from typing import Any

from sandbox.apiserver.deletion import DeleteOptions, delete_object
from sandbox.store import Store, resource

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def gpu_request(pod: Obj) -> int:
    return sum(int(c.get("resources", {}).get("limits", {}).get(GPU, 0)) for c in pod["spec"].get("containers", []))


def begin_pod_deletion(store: Store, pod: Obj, grace_seconds: int | None = None) -> Obj:
    """Delete the way a real controller does, through the API server's own semantics: a bound pod is marked
    and its kubelet finishes the job; an unbound one goes at once."""
    meta = pod["metadata"]
    return delete_object(store, resource("pods"), "pods", meta["namespace"], meta["name"],
                         DeleteOptions(grace_period=grace_seconds))
