"""Creates and updates as the real server's REST strategies do them: defaults on create, spec/status split,
server-owned metadata kept, validation, optimistic concurrency, and `dryRun=All` (compute, don't store).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sandbox.apiserver import validation
from sandbox.apiserver.defaults import INITIAL_STATUS, apply_defaults
from sandbox.apiserver.status import bad_request
from sandbox.apiserver.timefmt import rfc3339, utcnow
from sandbox.apiserver.views import View
from sandbox.errors import ApiError
from sandbox.store import Resource, Store, qualified_name

Obj = dict[str, Any]
SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def has_status_subresource(res: Resource) -> bool:
    return "status" in res.subresources


def prune_nulls(value: Any) -> Any:
    """Decoding into the API's Go types drops JSON nulls (e.g. `creationTimestamp: null` in a pod template)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def _body_object(body: Any, res: Resource) -> Obj:
    body = prune_nulls(body)
    if not isinstance(body, dict):
        raise bad_request(f"Object '{res.kind}' is invalid: the request body must be a JSON object")
    if body.get("kind") not in (None, "", res.kind):
        raise bad_request(f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                          f"({res.kind})")
    if not isinstance(body.setdefault("metadata", {}), dict):
        raise bad_request("metadata must be an object")
    return body


def _place(res: Resource, meta: Obj, namespace: str | None) -> None:
    """Put the object in the request's namespace; a different one in the body is an error, as in the API."""
    if not res.namespaced:
        meta.pop("namespace", None)
        return
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    meta["namespace"] = namespace


def prepare_create(res: Resource, view: View, namespace: str | None, body: Any) -> Obj:
    wire = _body_object(copy.deepcopy(body), res)
    meta = wire["metadata"]
    _place(res, meta, namespace)
    if meta.get("resourceVersion"):
        raise bad_request("resourceVersion should not be set on objects to be created")
    for field in SERVER_OWNED:
        meta.pop(field, None)
    name = meta.get("name") or ""
    if name or not meta.get("generateName"):
        validation.check(res, name, validation.name_causes(res, name) if name else
                         [("FieldValueRequired", "metadata.name", "Required value: name or generateName is "
                                                                  "required")])
    obj = view.from_wire(wire)
    if view.key in INITIAL_STATUS:
        obj["status"] = copy.deepcopy(INITIAL_STATUS[view.key])
    apply_defaults(view.key, obj)
    validation.check(res, name, validation.object_causes(view.key, obj))
    return obj


def create(store: Store, res: Resource, view: View, obj: Obj, dry_run: bool) -> Obj:
    if not dry_run:
        return view.to_wire(store.create(view.key, obj))
    return view.to_wire(_simulated_create(store, res, view.key, obj))


def _simulated_create(store: Store, res: Resource, key: str, obj: Obj) -> Obj:
    """What `Store.create` would return, with its checks, minus the storing (and a resourceVersion)."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
    namespace = meta.get("namespace")
    if store.find(key, namespace, meta["name"]) is not None:
        raise ApiError(409, "AlreadyExists", f'{qualified_name(res)} "{meta["name"]}" already exists')
    if res.namespaced and store.find("namespaces", None, namespace or "") is None:
        raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
    obj["apiVersion"], obj["kind"] = res.api_version, res.kind
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339(utcnow()))
    if "spec" in obj:
        meta["generation"] = 1
    return obj


def prepare_update(res: Resource, view: View, current: Obj, body: Any, subresource: str | None,
                   namespace: str | None, name: str) -> tuple[Obj, str | None]:
    """The object to store for a PUT (or a patched object) and the resourceVersion it must replace."""
    wire = _body_object(copy.deepcopy(body), res)
    meta = wire["metadata"]
    if meta.get("name") not in (None, "", name):
        raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    meta["name"] = name
    _place(res, meta, namespace)
    expected_rv = meta.get("resourceVersion") or None
    new = view.from_wire(wire)
    if subresource == "status":
        # A status write changes only the status; everything else stays as stored.
        merged = copy.deepcopy(current)
        merged["status"] = new.get("status", {})
        new = merged
    elif has_status_subresource(res) and "status" in current:
        new["status"] = copy.deepcopy(current["status"])  # status moves only through /status
    # The stored version, so an update that changes nothing is a no-op (no new resourceVersion, no event).
    new["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    for field in SERVER_OWNED:
        if field in current["metadata"]:
            new["metadata"][field] = current["metadata"][field]
        else:
            new["metadata"].pop(field, None)
    validation.check(res, name, validation.object_causes(view.key, new)
                     + validation.update_causes(view.key, current, new))
    return new, expected_rv


def replace(store: Store, res: Resource, view: View, new: Obj, expected_rv: str | None, dry_run: bool) -> Obj:
    if dry_run:
        return view.to_wire(_simulated_replace(store, res, view.key, new, expected_rv))
    stored = store.replace(view.key, new, expected_rv)
    return view.to_wire(finish_if_released(store, view.key, stored))


def _simulated_replace(store: Store, res: Resource, key: str, new: Obj, expected_rv: str | None) -> Obj:
    meta = new["metadata"]
    current = store.get(key, meta.get("namespace"), meta["name"])
    if expected_rv and expected_rv != current["metadata"].get("resourceVersion"):
        raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified_name(res)} "{meta["name"]}": '
                                        "the object has been modified; please apply your changes to the latest "
                                        "version and try again")
    result = copy.deepcopy(new)
    if "spec" in result and result.get("spec") != current.get("spec"):
        result["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
    result["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    result["apiVersion"], result["kind"] = current["apiVersion"], current["kind"]
    return result


def finish_if_released(store: Store, key: str, obj: Obj) -> Obj:
    """An object marked for deletion goes once its finalizers are gone (a pod: once its grace is zero too)."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return obj
    if key == "pods" and meta.get("deletionGracePeriodSeconds", 0) != 0:
        return obj  # the kubelet finishes a graceful pod deletion
    return store.delete(key, meta.get("namespace"), meta["name"])
