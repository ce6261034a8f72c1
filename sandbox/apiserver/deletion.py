"""Deletes as a real cluster does them: graceful pods, finalizers, and garbage collection by ownerReferences.

A pod bound to a node is only marked (deletionTimestamp = now + grace, deletionGracePeriodSeconds); the
sandbox's kubelet removes it later. Unbound or finished pods, and `gracePeriodSeconds=0`, go at once.
Dependents (objects whose ownerReferences name the deleted object's uid) are deleted for the
Background and Foreground policies (both at once: there is no separate garbage collector to wait for)
and released for Orphan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.apiserver.status import bad_request
from sandbox.apiserver.timefmt import later, rfc3339, utcnow
from sandbox.errors import ApiError
from sandbox.store import RESOURCES, Resource, Store, qualified_name

Obj = dict[str, Any]
POLICIES = ("Orphan", "Background", "Foreground")
STORED_KEYS = [r.key for r in RESOURCES if r.key != "events.k8s.io/events"]


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    preconditions: Obj = field(default_factory=dict)
    dry_run: bool = False


def parse_options(body: Any, query: dict[str, str], dry_run: bool) -> DeleteOptions:
    """Options from the query and from a DeleteOptions body (kubectl sends the body)."""
    body = body if isinstance(body, dict) else {}
    grace = query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
    propagation = query.get("propagationPolicy", body.get("propagationPolicy"))
    orphan = query.get("orphanDependents", body.get("orphanDependents"))
    if propagation is None and orphan is not None:
        propagation = "Orphan" if str(orphan).lower() == "true" else "Background"
    if propagation is not None and propagation not in POLICIES:
        raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                                       f'value: "{propagation}": supported values: "Foreground", "Background", '
                                       '"Orphan", "nil"')
    try:
        grace_value = int(grace) if grace is not None else None
    except (TypeError, ValueError) as exc:
        raise bad_request(f"invalid gracePeriodSeconds: {grace}") from exc
    dry_run = dry_run or body.get("dryRun") == ["All"]
    return DeleteOptions(grace_value, propagation, body.get("preconditions") or {}, dry_run)


def _check_preconditions(res: Resource, obj: Obj, preconditions: Obj) -> None:
    meta = obj["metadata"]
    for field_name in ("uid", "resourceVersion"):
        wanted = preconditions.get(field_name)
        if wanted and wanted != meta.get(field_name):
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {qualified_name(res)} "{meta["name"]}": Precondition '
                           f"failed: {field_name.upper() if field_name == 'uid' else 'ResourceVersion'} in "
                           f"precondition: {wanted}, {field_name} in object meta: {meta.get(field_name)}")


def _pod_grace(pod: Obj, requested: int | None) -> int:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0  # nothing runs it, so nothing to wait for
    grace = requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
    return max(int(grace if grace is not None else 30), 0)


def _mark(store: Store, key: str, obj: Obj, grace: int) -> Obj:
    meta = obj["metadata"]
    current = meta.get("deletionGracePeriodSeconds")
    if meta.get("deletionTimestamp") and current is not None and current <= grace:
        return obj  # already terminating at least as fast as asked
    def change(o: Obj) -> None:
        o["metadata"]["deletionTimestamp"] = later(grace) if key == "pods" else rfc3339(utcnow())
        o["metadata"]["deletionGracePeriodSeconds"] = grace
    return store.mutate(key, meta.get("namespace"), meta["name"], change)


def delete_object(store: Store, res: Resource, key: str, namespace: str | None, name: str,
                  options: DeleteOptions) -> Obj:
    """Delete (or mark) one object; returns it as last stored, or as it would be for a dry run."""
    obj = store.get(key, namespace, name)
    _check_preconditions(res, obj, options.preconditions)
    grace = _pod_grace(obj, options.grace_period) if key == "pods" else 0
    if options.dry_run:
        return obj
    finalizers = obj["metadata"].get("finalizers")
    if grace > 0 or finalizers:
        result = _mark(store, key, obj, grace)
        if grace == 0 and not finalizers:
            result = store.delete(key, namespace, name)
    else:
        result = store.delete(key, namespace, name)
    _collect_dependents(store, obj, options.propagation or "Background")
    return result


def _dependents(store: Store, owner: Obj) -> list[tuple[str, Obj]]:
    uid = owner["metadata"].get("uid")
    namespace = owner["metadata"].get("namespace")
    found = []
    for key in STORED_KEYS:
        for obj in list(store.objects(key, namespace)):
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                found.append((key, obj))
    return found


def _collect_dependents(store: Store, owner: Obj, policy: str) -> None:
    uid = owner["metadata"].get("uid")
    for key, dependent in _dependents(store, owner):
        meta = dependent["metadata"]
        if policy == "Orphan":
            def release(o: Obj) -> None:
                o["metadata"]["ownerReferences"] = [r for r in o["metadata"]["ownerReferences"] if r.get("uid") != uid]
            store.mutate(key, meta.get("namespace"), meta["name"], release)
        elif not meta.get("deletionTimestamp") or key != "pods":
            dep_res = next(r for r in RESOURCES if r.key == key)
            try:
                delete_object(store, dep_res, key, meta.get("namespace"), meta["name"], DeleteOptions())
            except ApiError as err:
                if err.code != 404:  # a dependent that went meanwhile is fine
                    raise
