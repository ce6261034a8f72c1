"""Resource requests: which verb a method and URL make, and carrying it out against the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from sandbox.apiserver import deletion, eviction, listing, patch, scale, writes
from sandbox.apiserver.logs import LogReader
from sandbox.apiserver.negotiation import As, representation
from sandbox.apiserver.paths import Target
from sandbox.apiserver.podlogs import LogQuery, follow_logs, read_logs
from sandbox.apiserver.status import bad_request, json_response, method_not_allowed, unsupported_media_type
from sandbox.apiserver.streaming import StreamResponse
from sandbox.apiserver.tables import include_object
from sandbox.apiserver.views import View, view_for
from sandbox.apiserver.watch import WatchRequest, WatchStream
from sandbox.errors import ApiError
from sandbox.store import Store

Obj = dict[str, Any]
Reply = Response | StreamResponse
BODY_TYPES = ["application/json", "application/yaml"]


@dataclass(frozen=True)
class Api:
    store: Store
    logs: LogReader


@dataclass(frozen=True)
class Call:
    """One resource request, parsed."""

    target: Target
    method: str
    params: dict[str, str]
    shape: As
    include: str
    dry_run: bool
    view: View

    @classmethod
    def from_request(cls, request: Request, target: Target) -> Call:
        params = dict(request.query_params)
        dry_run = "All" in request.query_params.getlist("dryRun")
        return cls(target, request.method, params, representation(request.headers.get("accept")),
                   include_object(params.get("includeObject")), dry_run, view_for(target.resource))

    @property
    def watching(self) -> bool:
        return self.target.watch_path or self.params.get("watch", "").lower() in ("true", "1")


async def read_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    media = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    try:
        if media in ("application/json", "*/*"):
            return json.loads(raw)
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from exc
    raise unsupported_media_type(media, BODY_TYPES)


def _require(call: Call, verb: str) -> None:
    if verb not in call.target.resource.verbs:
        raise method_not_allowed()


async def handle(api: Api, request: Request, target: Target) -> Reply:
    call = Call.from_request(request, target)
    sub, method = target.subresource, call.method
    if target.name is None:
        collection = {"GET": _watch if call.watching else _list, "POST": _create, "DELETE": _delete_collection}
        if method not in collection:
            raise method_not_allowed()
        return await collection[method](api, call, request)
    if sub is None:
        if call.watching and method == "GET":
            return await _watch(api, call, request)  # the deprecated per-object watch URL
        single = {"GET": _get, "PUT": _update, "PATCH": _patch, "DELETE": _delete}
    elif sub == "status":
        single = {"GET": _get, "PUT": _update, "PATCH": _patch}
    elif sub == "scale":
        single = {"GET": _get_scale, "PUT": _update_scale, "PATCH": _patch_scale}
    elif sub == "log":
        single = {"GET": _log}
    else:
        single = {"POST": _evict}
    if method not in single:
        raise method_not_allowed()
    return await single[method](api, call, request)


# -- collections --------------------------------------------------------------------------------------------
async def _list(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "list")
    query = listing.ListQuery.from_params(call.params)
    items = listing.select(api.store, call.view, call.target.namespace, query)
    shown, extra = listing.page(items, query)
    meta = {"resourceVersion": api.store.resource_version, **extra}
    return json_response(listing.list_body(call.target.resource, call.view, shown, meta, call.shape, call.include))


async def _watch(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "watch")
    params = dict(call.params)
    if call.target.name is not None:
        name_term = f"metadata.name={call.target.name}"
        params["fieldSelector"] = f"{params['fieldSelector']},{name_term}" if params.get("fieldSelector") else name_term
    query = listing.ListQuery.from_params(params)
    stream = WatchStream(api.store, WatchRequest.from_params(call.target.resource, call.view, call.target.namespace,
                                                             query, params, call.shape, call.include))
    return StreamResponse(stream.chunks(), "application/json")


async def _create(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "create")
    res = call.target.resource
    obj = writes.prepare_create(res, call.view, call.target.namespace, await read_body(request))
    created = writes.create(api.store, res, call.view, obj, call.dry_run)
    return json_response(listing.object_body(res, call.view, created, call.shape, call.include), 201)


async def _delete_collection(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "delete")
    res = call.target.resource
    if res.key == "namespaces":
        raise method_not_allowed()
    options = deletion.parse_options(await read_body(request), call.params, call.dry_run)
    query = listing.ListQuery.from_params(call.params)
    deleted = []
    for obj in listing.select(api.store, call.view, call.target.namespace, query):
        meta = obj["metadata"]
        try:
            gone = deletion.delete_object(api.store, res, call.view.key, meta.get("namespace"), meta["name"], options)
        except ApiError as err:
            if err.code == 404:
                continue  # removed meanwhile, e.g. as a dependent of an earlier item
            raise
        deleted.append(call.view.to_wire(gone))
    body = listing.list_body(res, call.view, deleted, {"resourceVersion": api.store.resource_version}, As.OBJECT,
                             call.include)
    return json_response(body)


# -- single objects -----------------------------------------------------------------------------------------
def _current(api: Api, call: Call) -> Obj:
    return api.store.get(call.view.key, call.target.namespace, call.target.name or "")


async def _get(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "get")
    obj = call.view.to_wire(_current(api, call))
    return json_response(listing.object_body(call.target.resource, call.view, obj, call.shape, call.include))


def _store_update(api: Api, call: Call, body: Any) -> Obj:
    """PUT semantics for a full object (also what a patch becomes once applied)."""
    target = call.target
    new, expected_rv = writes.prepare_update(target.resource, call.view, _current(api, call), body,
                                             target.subresource, target.namespace, target.name or "")
    return writes.replace(api.store, target.resource, call.view, new, expected_rv, call.dry_run)


async def _update(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "update")
    updated = _store_update(api, call, await read_body(request))
    return json_response(listing.object_body(call.target.resource, call.view, updated, call.shape, call.include))


async def _patch(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "patch")
    kind = patch.patch_type(request.headers.get("content-type"))
    document = patch.decode(kind, await request.body())
    res = call.target.resource
    if kind == patch.APPLY and api.store.find(call.view.key, call.target.namespace, call.target.name or "") is None:
        # Server-side apply creates what is missing.
        body = document if isinstance(document, dict) else {}
        body.setdefault("metadata", {})["name"] = call.target.name
        obj = writes.prepare_create(res, call.view, call.target.namespace, body)
        created = writes.create(api.store, res, call.view, obj, call.dry_run)
        return json_response(listing.object_body(res, call.view, created, call.shape, call.include), 201)
    patched = patch.apply_patch(kind, call.view.to_wire(_current(api, call)), document)
    updated = _store_update(api, call, patched)
    return json_response(listing.object_body(res, call.view, updated, call.shape, call.include))


async def _delete(api: Api, call: Call, request: Request) -> Reply:
    _require(call, "delete")
    res = call.target.resource
    if res.key == "namespaces":
        raise method_not_allowed()  # the sandbox keeps its namespaces
    options = deletion.parse_options(await read_body(request), call.params, call.dry_run)
    gone = deletion.delete_object(api.store, res, call.view.key, call.target.namespace, call.target.name or "",
                                  options)
    return json_response(call.view.to_wire(gone))


# -- subresources -------------------------------------------------------------------------------------------
async def _get_scale(api: Api, call: Call, request: Request) -> Reply:
    return json_response(scale.scale_of(_current(api, call)))


def _store_scale(api: Api, call: Call, scale_body: Any) -> Reply:
    current = _current(api, call)
    updated, expected_rv = scale.with_replicas(current, scale_body)
    target = call.target
    new, _ = writes.prepare_update(target.resource, call.view, current, updated, None, target.namespace,
                                   target.name or "")
    stored = writes.replace(api.store, target.resource, call.view, new, expected_rv, call.dry_run)
    return json_response(scale.scale_of(stored))


async def _update_scale(api: Api, call: Call, request: Request) -> Reply:
    return _store_scale(api, call, await read_body(request))


async def _patch_scale(api: Api, call: Call, request: Request) -> Reply:
    kind = patch.patch_type(request.headers.get("content-type"))
    document = patch.decode(kind, await request.body())
    return _store_scale(api, call, patch.apply_patch(kind, scale.scale_of(_current(api, call)), document))


async def _log(api: Api, call: Call, request: Request) -> Reply:
    query = LogQuery.from_params(call.params)
    namespace, name = call.target.namespace or "", call.target.name or ""
    container, text = read_logs(api.store, api.logs, namespace, name, query)
    if not query.follow:
        return PlainTextResponse(text)
    chunks = follow_logs(api.store, api.logs, namespace, name, container, text, query.timestamps)
    return StreamResponse(chunks, "text/plain")


async def _evict(api: Api, call: Call, request: Request) -> Reply:
    result = eviction.evict(api.store, call.target.namespace or "", call.target.name or "", await read_body(request),
                            call.dry_run)
    return json_response(result, 201)
