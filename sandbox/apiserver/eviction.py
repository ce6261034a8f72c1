"""`pods/eviction`: a graceful pod delete that respects PodDisruptionBudgets (what `kubectl drain` calls).

The budget is computed from the pods themselves (the sandbox may run no disruption controller): healthy
pods are the Ready, non-terminating pods the PDB selects; the desired count comes from `minAvailable`, or
from `maxUnavailable` subtracted from the selected pods, percentages rounded up like the real controller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver.deletion import DeleteOptions, delete_object, parse_options
from sandbox.apiserver.labelsel import selector_matches
from sandbox.apiserver.status import DetailedError, bad_request, success_status
from sandbox.errors import ApiError
from sandbox.store import Store, resource

Obj = dict[str, Any]


@dataclass(frozen=True)
class Budget:
    name: str
    expected: int
    healthy: int
    desired: int

    @property
    def disruptions_allowed(self) -> int:
        return max(self.healthy - self.desired, 0)


def is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: Any, expected: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * expected / 100)
    return int(value)


def budget(store: Store, pdb: Obj) -> Budget:
    """The PDB's numbers as its status would report them; usable by a disruption controller too."""
    spec = pdb.get("spec") or {}
    namespace = pdb["metadata"].get("namespace")
    pods = [p for p in store.objects("pods", namespace)
            if selector_matches(spec.get("selector"), p["metadata"].get("labels"))
            and not p["metadata"].get("deletionTimestamp")]
    expected = len(pods)
    healthy = sum(1 for p in pods if is_ready(p))
    if spec.get("maxUnavailable") is not None:
        desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    else:
        desired = _scaled(spec.get("minAvailable", 1), expected)
    return Budget(pdb["metadata"]["name"], expected, healthy, desired)


def _matching_pdbs(store: Store, pod: Obj) -> list[Obj]:
    labels = pod["metadata"].get("labels")
    return [pdb for pdb in store.objects("policy/poddisruptionbudgets", pod["metadata"].get("namespace"))
            if selector_matches((pdb.get("spec") or {}).get("selector"), labels)]


def _refusal(found: Budget) -> DetailedError:
    cause = f"The disruption budget {found.name} needs {found.desired} healthy pods and has {found.healthy} currently"
    # The real message stops after "budget."; naming the PDB there too helps whoever reads only the message.
    return DetailedError(429, "TooManyRequests",
                         f"Cannot evict pod as it would violate the pod's disruption budget. {cause}",
                         {"causes": [{"reason": "DisruptionBudget", "message": cause}]})


def _check_budget(store: Store, pod: Obj) -> None:
    status = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed", "Pending"):
        return  # terminating, finished and pending pods are not protected by a budget
    pdbs = _matching_pdbs(store, pod)
    if len(pdbs) > 1:
        raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                                             "subresource does not support.")
    if not pdbs:
        return
    found = budget(store, pdbs[0])
    policy = (pdbs[0].get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
    if is_ready(pod):
        allowed = found.disruptions_allowed >= 1
    else:  # evicting an unready pod costs no healthy pod
        allowed = policy == "AlwaysAllow" or found.healthy >= found.desired
    if not allowed:
        raise _refusal(found)


def evict(store: Store, namespace: str, name: str, body: Any, dry_run: bool) -> Obj:
    if not isinstance(body, dict):
        raise bad_request("the body of an eviction must be a policy/v1 Eviction")
    if (body.get("metadata") or {}).get("name") not in (None, "", name):
        raise bad_request("name in URL does not match name in Eviction object")
    pod = store.get("pods", namespace, name)
    _check_budget(store, pod)
    options = parse_options(body.get("deleteOptions"), {}, dry_run)
    delete_object(store, resource("pods"), "pods", namespace, name,
                  DeleteOptions(options.grace_period, options.propagation, options.preconditions, options.dry_run))
    return success_status(201)
