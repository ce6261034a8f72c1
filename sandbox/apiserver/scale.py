"""The `scale` subresource of Deployments and ReplicaSets, as `autoscaling/v1` Scale objects."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.apiserver.labelsel import selector_string
from sandbox.apiserver.status import bad_request
from sandbox.apiserver.validation import check
from sandbox.store import Resource

Obj = dict[str, Any]
SCALE = Resource("autoscaling", "v1", "Scale", "scale", True)


def scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_string(spec.get("selector"))},
    }


def with_replicas(obj: Obj, scale: Any) -> tuple[Obj, str | None]:
    """The workload with the Scale's replicas, and the resourceVersion the Scale was read at (a precondition)."""
    if not isinstance(scale, dict):
        raise bad_request("the body must be an autoscaling/v1 Scale")
    name = obj["metadata"]["name"]
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        check(SCALE, name, [("FieldValueInvalid", "spec.replicas",
                             f"Invalid value: {replicas}: must be greater than or equal to 0")])
    updated = copy.deepcopy(obj)
    updated.setdefault("spec", {})["replicas"] = replicas
    return updated, (scale.get("metadata") or {}).get("resourceVersion") or None
