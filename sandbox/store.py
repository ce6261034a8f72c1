"""The sandbox's object store: Kubernetes objects as plain JSON dicts, with resource versions and watches.

Everything runs on one asyncio loop, so there are no locks: controllers and the API layer call the store
directly, and watchers receive events through asyncio queues.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import ApiError, not_found
from sandbox.kubetime import now_rfc3339
from sandbox.selectors import matches_fields, matches_labels

Obj = dict[str, Any]
HISTORY = 2000  # watch events kept for `watch` from an older resourceVersion


@dataclass(frozen=True)
class Resource:
    """One API resource type, as discovery describes it."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ("get", "list", "watch", "create", "update", "patch", "delete")
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}" if self.group else self.plural


RESOURCES = [
    Resource("", "v1", "Namespace", "namespaces", False, short_names=("ns",)),
    Resource("", "v1", "Node", "nodes", False, short_names=("no",), subresources=("status",)),
    Resource("", "v1", "Pod", "pods", True, short_names=("po",), subresources=("status", "log", "eviction")),
    Resource("", "v1", "Event", "events", True, short_names=("ev",)),
    Resource("", "v1", "ConfigMap", "configmaps", True, short_names=("cm",)),
    Resource("", "v1", "Service", "services", True, short_names=("svc",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, short_names=("sa",)),
    Resource("apps", "v1", "Deployment", "deployments", True, short_names=("deploy",),
             subresources=("status", "scale")),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, short_names=("rs",), subresources=("status", "scale")),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, short_names=("pdb",),
             subresources=("status",)),
    Resource("events.k8s.io", "v1", "Event", "events", True, short_names=("ev",)),
]
BY_KEY = {r.key: r for r in RESOURCES}


def resource(key: str) -> Resource:
    return BY_KEY[key]


def qualified_name(res: Resource) -> str:
    """How the API server names a resource in messages: `pods`, `deployments.apps`."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


@dataclass
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: Obj
    resource_version: int


@dataclass
class Watcher:
    """One subscription, handed out by `Store.watch` and ended by `Store.unwatch`."""

    key: str
    namespace: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)  # None: the stream ends


class Store:
    """In-memory objects per resource key (`pods`, `apps/deployments`, ...), namespaced or not."""

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {r.key: {} for r in RESOURCES}
        self._rv = 0
        self._history: deque[tuple[str, WatchEvent]] = deque(maxlen=HISTORY)
        self._watchers: list[Watcher] = []
        self._watches_ended = False

    # -- reads --------------------------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, key: str, namespace: str | None, name: str) -> Obj:
        return copy.deepcopy(self._peek(key, namespace, name))

    def find(self, key: str, namespace: str | None, name: str) -> Obj | None:
        """The stored object itself (not a copy) or None: for controllers, which must not mutate it."""
        return self._objects[key].get((namespace or "", name))

    def objects(self, key: str, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects (not copies) in creation order, for controllers' read-only scans."""
        for (ns, _), obj in list(self._objects[key].items()):
            if namespace is None or ns == namespace:
                yield obj

    def list(self, key: str, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[Obj]:
        return [copy.deepcopy(o) for o in self.objects(key, namespace)
                if matches_labels(o, label_selector) and matches_fields(o, field_selector)]

    # -- writes -------------------------------------------------------------------------------------------
    def create(self, key: str, obj: Obj) -> Obj:
        res = resource(key)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value")
        namespace = meta.get("namespace", "") if res.namespaced else ""
        if res.namespaced and not namespace:
            raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.namespace: Required value")
        if (namespace, name) in self._objects[key]:
            raise ApiError(409, "AlreadyExists", f'{qualified_name(res)} "{name}" already exists')
        if res.namespaced and key != "namespaces" and ("", namespace) not in self._objects["namespaces"]:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if "spec" in obj:
            meta.setdefault("generation", 1)
        self._objects[key][(namespace, name)] = obj
        self._record(key, "ADDED", obj)
        return copy.deepcopy(obj)

    def replace(self, key: str, obj: Obj, expected_rv: str | None = None) -> Obj:
        """Store a new version of an existing object; `generation` moves when its spec changes."""
        meta = obj["metadata"]
        current = self._peek(key, meta.get("namespace"), meta["name"])
        if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {qualified_name(resource(key))} "{meta["name"]}": '
                           "the object has been modified; please apply your changes to the latest version "
                           "and try again")
        obj = copy.deepcopy(obj)
        for immutable in ("uid", "creationTimestamp", "namespace", "name"):
            if immutable in current["metadata"]:
                obj["metadata"][immutable] = current["metadata"][immutable]
        if "spec" in obj and obj.get("spec") != current.get("spec"):
            obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        elif "generation" in current["metadata"]:
            obj["metadata"]["generation"] = current["metadata"]["generation"]
        obj["apiVersion"], obj["kind"] = current["apiVersion"], current["kind"]
        if obj == current:
            return copy.deepcopy(current)
        self._objects[key][(current["metadata"].get("namespace", ""), meta["name"])] = obj
        self._record(key, "MODIFIED", obj)
        return copy.deepcopy(obj)

    def mutate(self, key: str, namespace: str | None, name: str, change: Callable[[Obj], None]) -> Obj:
        """Apply `change` to a copy of the object and store it (a controller's read-modify-write)."""
        obj = self.get(key, namespace, name)
        change(obj)
        return self.replace(key, obj)

    def delete(self, key: str, namespace: str | None, name: str) -> Obj:
        obj = self._peek(key, namespace, name)
        del self._objects[key][(obj["metadata"].get("namespace", ""), name)]
        self._record(key, "DELETED", obj)
        return copy.deepcopy(obj)

    # -- watches ------------------------------------------------------------------------------------------
    def watch(self, key: str, namespace: str | None = None, since: str | None = None) -> Watcher:
        """Subscribe to events; with `since`, first replays the kept events newer than that version."""
        if self._watches_ended:
            raise ApiError(503, "ServiceUnavailable", "the API server is shutting down")
        watcher = Watcher(key, namespace)
        if since not in (None, "", "0"):
            oldest = self._history[0][1].resource_version if self._history else self._rv + 1
            if int(since) < oldest - 1:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
            for event_key, event in self._history:
                if event.resource_version > int(since) and self._wants(watcher, event_key, event.object):
                    watcher.queue.put_nowait(event)
        self._watchers.append(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def end_watches(self) -> None:
        """Ends every open watch, as an API server does when it shuts down: clients see their streams close."""
        self._watches_ended = True
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        self._watchers.clear()

    # -- internals ----------------------------------------------------------------------------------------
    def _peek(self, key: str, namespace: str | None, name: str) -> Obj:
        obj = self._objects[key].get((namespace or "" if resource(key).namespaced else "", name))
        if obj is None:
            raise not_found(qualified_name(resource(key)), name)
        return obj

    def _record(self, key: str, kind: str, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        event = WatchEvent(kind, copy.deepcopy(obj), self._rv)
        self._history.append((key, event))
        for watcher in self._watchers:
            if self._wants(watcher, key, obj):
                watcher.queue.put_nowait(event)

    @staticmethod
    def _wants(watcher: Watcher, key: str, obj: Obj) -> bool:
        return key == watcher.key and (
            watcher.namespace is None or obj["metadata"].get("namespace") == watcher.namespace)
