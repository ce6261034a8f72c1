"""Small facts about pods that several controllers (and the API layer) share."""

from __future__ import annotations

from typing import Any

from sandbox.store import Store, now_rfc3339

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def gpu_request(pod: Obj) -> int:
    return sum(int(c.get("resources", {}).get("limits", {}).get(GPU, 0)) for c in pod["spec"].get("containers", []))


def begin_pod_deletion(store: Store, pod: Obj, grace_seconds: int | None = None) -> Obj | None:
    """Delete as the API server does: a bound pod is marked and its kubelet finishes the job; an unbound one goes."""
    meta = pod["metadata"]
    if grace_seconds is None:
        grace_seconds = pod["spec"].get("terminationGracePeriodSeconds", 30)
    if not pod["spec"].get("nodeName") or grace_seconds == 0:
        return store.delete("pods", meta["namespace"], meta["name"])
    if "deletionTimestamp" in meta:
        return store.get("pods", meta["namespace"], meta["name"])

    def mark(o: Obj) -> None:
        o["metadata"]["deletionTimestamp"] = now_rfc3339()
        o["metadata"]["deletionGracePeriodSeconds"] = grace_seconds
    return store.mutate("pods", meta["namespace"], meta["name"], mark)
