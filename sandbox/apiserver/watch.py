"""Watches: a chunked stream of `{"type": ..., "object": ...}` lines, as client-go and kubectl read them.

Without a resourceVersion (or with "0") the stream starts with ADDED for every matching object; with one,
it replays the store's history after it, or sends a 410 Expired ERROR event when that history is gone.
Selectors are applied the way the real watch cache applies them: an object that stops matching is
DELETED from the watcher's view, one that starts matching is ADDED.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver.listing import ListQuery, select
from sandbox.apiserver.negotiation import As
from sandbox.apiserver.status import bad_request, status_object
from sandbox.apiserver.tables import partial_metadata, table
from sandbox.apiserver.views import View
from sandbox.errors import ApiError
from sandbox.selectors import matches_fields, matches_labels
from sandbox.store import Resource, Store, Watcher, WatchEvent

Obj = dict[str, Any]
BOOKMARK_INTERVAL_S = 30.0
MAX_TIMEOUT_S = 1800.0  # the real server's default --min-request-timeout range
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchRequest:
    res: Resource
    view: View
    namespace: str | None
    query: ListQuery
    resource_version: str | None
    timeout_s: float
    bookmarks: bool
    send_initial_events: bool
    shape: As
    include: str

    @classmethod
    def from_params(cls, res: Resource, view: View, namespace: str | None, query: ListQuery,
                    params: dict[str, str], shape: As, include: str) -> WatchRequest:
        try:
            timeout = float(params.get("timeoutSeconds") or MAX_TIMEOUT_S)
        except ValueError as exc:
            raise bad_request(f"invalid timeoutSeconds: {params.get('timeoutSeconds')}") from exc
        flag = {"true", "1"}
        return cls(res, view, namespace, query, params.get("resourceVersion") or None, min(timeout, MAX_TIMEOUT_S),
                   params.get("allowWatchBookmarks", "").lower() in flag,
                   params.get("sendInitialEvents", "").lower() in flag, shape, include)


def _identity(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


class WatchStream:
    """One client's watch; build it synchronously (so errors become HTTP errors), then stream `chunks()`."""

    def __init__(self, store: Store, request: WatchRequest):
        self.store, self.request = store, request
        query = request.query
        matches_labels({}, query.label_selector)  # a bad selector is a 400, before the stream starts
        matches_fields({}, query.field_selector)
        from_now = request.resource_version in (None, "0") or request.send_initial_events
        self.initial = select(store, request.view, request.namespace, query) if from_now else []
        self.error: ApiError | None = None
        self.watcher: Watcher | None
        try:
            self.watcher = store.watch(request.view.key, request.namespace,
                                       since=None if from_now else request.resource_version)
        except ApiError as err:
            self.watcher, self.error = None, err
        # Which objects this client currently sees, to turn selector transitions into ADDED/DELETED.
        seen = self.initial if from_now else select(store, request.view, request.namespace, query)
        self.known = {_identity(o) for o in seen}

    def _line(self, kind: str, obj: Obj) -> bytes:
        if kind in ("ADDED", "MODIFIED", "DELETED"):  # objects take the shape the client asked for
            if self.request.shape is As.TABLE:
                obj = table(self.request.view, self.request.res.key, [obj], self.request.include,
                            {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            elif self.request.shape is As.METADATA:
                obj = partial_metadata(obj)
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def _bookmark(self, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": self.store.resource_version}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        res = self.request.res
        return self._line("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": meta})

    def _translate(self, event: WatchEvent) -> bytes | None:
        obj = self.request.view.to_wire(event.object)
        query, identity = self.request.query, _identity(obj)
        matches = matches_labels(obj, query.label_selector) and matches_fields(obj, query.field_selector)
        if event.type == "DELETED" or not matches:
            if identity not in self.known and not (matches and event.type == "DELETED"):
                return None
            self.known.discard(identity)
            return self._line("DELETED", obj)
        kind = "MODIFIED" if event.type == "MODIFIED" and identity in self.known else "ADDED"
        self.known.add(identity)
        return self._line(kind, obj)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            if self.error is not None:
                yield self._line("ERROR", status_object(self.error))
                return
            for obj in self.initial:
                yield self._line("ADDED", obj)
            if self.request.send_initial_events and self.request.bookmarks:
                yield self._bookmark(initial_end=True)
            async for chunk in self._follow():
                yield chunk
        finally:
            if self.watcher is not None:
                self.store.unwatch(self.watcher)

    async def _follow(self) -> AsyncIterator[bytes]:
        assert self.watcher is not None
        deadline = time.monotonic() + self.request.timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self.watcher.queue.get(), min(remaining, BOOKMARK_INTERVAL_S))
            except TimeoutError:
                # Nothing is queued, so everything up to the store's version has been sent: a safe bookmark.
                if self.request.bookmarks and deadline - time.monotonic() > 0:
                    yield self._bookmark()
                continue
            if event is None:  # the server is shutting down
                return
            line = self._translate(event)
            if line is not None:
                yield line
