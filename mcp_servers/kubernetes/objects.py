"""What a Kubernetes API object says, read from the API's own JSON: ages, GPUs held, owners, selectors.

Pure functions over parsed objects, shared by the reads, the writes, the mirror and the logs server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ApiObject = dict[str, Any]  # one API object (a pod, a node, an event...) as the API server's JSON
GPU = "nvidia.com/gpu"
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"  # `holds_resources` as a field selector
REVISION = "deployment.kubernetes.io/revision"  # a Deployment's, and each of its ReplicaSets'
CHANGE_CAUSE = "kubernetes.io/change-cause"


def annotations_of(obj: ApiObject) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def revision_of(obj: ApiObject) -> int | None:
    value = annotations_of(obj).get(REVISION)
    return int(value) if value and value.isdigit() else None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def age_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """Whole seconds since a timestamp; None when there is none, so that an unknown age passes no comparison."""
    moment = parse_time(value)
    return max(0, int(((now or datetime.now(UTC)) - moment).total_seconds())) if moment else None


def age(value: str | None, now: datetime | None = None) -> str:
    """kubectl's AGE column: 45s, 12m, 3h, 5d."""
    seconds = age_seconds(value, now)
    if seconds is None:
        return "unknown"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def gpus_of(pod: ApiObject) -> int:
    """GPUs a pod holds: the extended resource is requested in whole devices, limits equal to requests."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        wanted = (resources.get("requests") or {}).get(GPU) or (resources.get("limits") or {}).get(GPU) or 0
        total += int(wanted)
    return total


def allocatable_gpus(node: ApiObject) -> int:
    """The GPUs the node offers pods (its device plugin's healthy devices), used or not."""
    return int(((node.get("status") or {}).get("allocatable") or {}).get(GPU) or 0)


def holds_resources(pod: ApiObject) -> bool:
    """A finished pod frees its node's GPUs; a scheduled running or pending one holds them."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def controller_of(obj: ApiObject) -> ApiObject | None:
    return next((ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("controller")), None)


def selector_string(selector: ApiObject | None) -> str:
    """A LabelSelector object as the `labelSelector` query parameter."""
    terms = [f"{key}={value}" for key, value in sorted(((selector or {}).get("matchLabels") or {}).items())]
    for expression in (selector or {}).get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        terms.append({"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[operator])
    return ",".join(terms)
