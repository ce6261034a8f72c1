"""A watch-fed mirror of the pods, nodes, ReplicaSets and events the kubernetes tools read.

While a collection's watch is live, reads of it come from here, as client-go's informers serve controllers: a
pod with its node, owner and events, a node with its pods, the pods holding each node's GPUs, with no round trip
to the API server. A collection whose watch is down answers None and the caller reads live, so the mirror
changes how fast an answer comes, not what it says, within these bounds:
- another client's change shows here after a watch event's delay (milliseconds);
- a write through this server's own client shows in every read that starts after the write returned: the
  collection it wrote goes offline until listed again, and a list begun before the write never brings it back
  (a write whose answer never came may land after that list; it then arrives as a watch event);
- a connection whose far end vanished without a word fails TCP keepalive within 25 s (client.KEEPALIVE),
  and a watch the API server keeps open but silent is taken for dead after SILENCE_S (bookmarks keep a healthy
  one talking); a cluster that goes away resets the watches, and reads go live and say it is unreachable.
A pod, node or ReplicaSet the mirror lacks is looked up live, so that "not found" comes from the API server,
not from a watch running late.

Each collection is one list (in pages of client.PAGE), then one watch from the list's resourceVersion, on
its own daemon thread; a watch that ends is resumed, one whose history expired (410) is relisted, one that fails is
retried with backoff. A tool wrapped in client.on_loop_else_thread answers on the event loop when the mirror holds
all it reads, and in a worker thread when it must ask the API server.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes.watch.watch import iter_resp_lines
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_not_exception_type, wait_exponential

from mcp_servers.errors import BackendError
from mcp_servers.kubernetes.client import Forbidden, Gone, NotFound
from mcp_servers.kubernetes.objects import ACTIVE_PODS, ApiObject, holds_resources

if TYPE_CHECKING:
    from mcp_servers.kubernetes.client import Kube

log = logging.getLogger("firebreak.mcp.mirror")

# collection -> the client's API group and list method (every namespace)
COLLECTIONS = {
    "pods": ("core", "list_pod_for_all_namespaces"),
    "nodes": ("core", "list_node"),
    "replicasets": ("apps", "list_replica_set_for_all_namespaces"),
    "events": ("core", "list_event_for_all_namespaces"),
}
# collection -> the client's write methods that change it ("patch_node", "create_namespaced_pod_eviction", ...)
WRITTEN_BY = {name: re.compile(rf"_{kind}(_|$)") for name, kind in
              (("pods", "pod"), ("nodes", "node"), ("replicasets", "replica_set"), ("events", "event"))}
WATCH_S = 300  # one watch request's server-side timeout; it is then resumed from the last resourceVersion
SILENCE_S = 90  # a watch silent this long (bookmarks come every minute or so) is taken for dead
RETRY_S = (0.5, 30.0)  # backoff after a failed list or watch, first and longest
STOP_S = 5.0  # how long `stop` waits for the threads: a list under way is not interrupted, a watch is


class Expired(Exception):
    """The watch's resourceVersion is older than the server's history: relist."""


# What ends a list or a watch before its time; each is followed by a relist after a backoff. A 403 is not among
# them: the mirror then stops for good, and every read goes to the API server.
LOST = (Expired, BackendError, urllib3.exceptions.HTTPError, OSError, ValueError)


class Collection:
    """One collection's objects by (namespace, name), and whether they are known to be current."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube, self.name = kube, name
        self._objects: dict[tuple[str, str], ApiObject] = {}
        self._lock = threading.Lock()
        self._live = threading.Event()
        self._generation = 0  # bumped by `resync`: what was listed before is older than a write
        self._response: Any = None  # the open watch, closed by `interrupt` to unblock the thread reading it

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def wait_live(self, timeout_s: float) -> bool:
        return self._live.wait(timeout_s)

    def get(self, namespace: str | None, name: str) -> ApiObject | None:
        with self._lock:
            return self._objects.get((namespace or "", name))

    def items(self) -> list[ApiObject]:
        with self._lock:
            return list(self._objects.values())

    def run(self, stopping: threading.Event) -> None:
        """Lists, then watches from the list's resourceVersion, resuming each watch that runs its course. After a
        failure it lists again, after a backoff that starts over once a watch has run its course; after a write's
        `resync`, at once. Returns when stopped, or when the API server forbids listing every namespace."""
        resume: list[str] = []  # the resourceVersion a watch that ran its course ended at; empty: list first

        def follow() -> None:
            if stopping.is_set():
                return
            generation = self._generation
            try:
                version = resume.pop() if resume else self._relist(generation)
                if not stopping.is_set() and generation == self._generation:
                    version = self._watch(version, generation, stopping)
                    if not stopping.is_set() and generation == self._generation:
                        resume.append(version)  # else a write asked for a new list
            except Forbidden:
                raise
            except LOST:
                if stopping.is_set() or generation != self._generation:
                    return  # stopped, or a write asked for a new list: at once, it is no failure
                raise
            finally:
                if not resume:
                    self._live.clear()

        def pause(seconds: float) -> None:
            stopping.wait(seconds)  # `stop` ends the pause

        backoff = Retrying(retry=retry_if_exception_type(LOST) & retry_if_not_exception_type(Forbidden),
                           wait=wait_exponential(multiplier=RETRY_S[0], max=RETRY_S[1]),
                           stop=lambda _: stopping.is_set(), sleep=pause, before_sleep=self._log_lost,
                           retry_error_callback=lambda _: None)
        while not stopping.is_set():
            try:
                backoff(follow)  # returns after a watch ran its course (its backoff starts over) or a resync
            except Forbidden as error:
                log.warning("%s: not allowed to list or watch every namespace, reading live: %s", self.name, error)
                return

    def _log_lost(self, attempt: RetryCallState) -> None:
        error = attempt.outcome.exception() if attempt.outcome else None
        delay = attempt.next_action.sleep if attempt.next_action else 0.0
        what = "watch history expired" if isinstance(error, Expired) else f"watch lost ({error})"
        log.info("%s: %s, reading live; relisting in %.1f s", self.name, what, delay)

    def resync(self) -> None:
        """Offline until listed again: called after a write, whose effect the watch may not have brought yet."""
        with self._lock:
            self._generation += 1
            self._live.clear()
        self.interrupt()

    def interrupt(self) -> None:
        response = self._response
        if response is not None:
            # wakes a thread blocked reading the stream; the stream may have just ended and been released
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                response.shutdown()

    def _method(self) -> Any:
        group, method = COLLECTIONS[self.name]
        return getattr(getattr(self.kube, group), method)

    def _relist(self, generation: int) -> str:
        listed = self.kube.list_all(self._method())
        version = (listed.get("metadata") or {}).get("resourceVersion")
        if not version:  # a watch could not resume where the list left off, and would miss deletions
            raise ValueError("the list gave no resourceVersion")
        objects = {_key(obj): _slim(obj) for obj in listed.get("items") or []}
        with self._lock:
            if generation == self._generation:  # else a write came during the list: the caller lists again
                self._objects = objects
                self._live.set()
        return str(version)

    def _watch(self, version: str, generation: int, stopping: threading.Event) -> str:
        """Applies one watch request's events; returns the resourceVersion to resume from."""
        try:
            self._response = response = self.kube.stream(
                self._method(), watch=True, resource_version=version, allow_watch_bookmarks=True,
                timeout_seconds=WATCH_S, _request_timeout=(5, SILENCE_S))
        except Gone:
            raise Expired from None
        started, heard = time.monotonic(), False
        try:
            if stopping.is_set() or generation != self._generation:
                return version  # `stop` or `resync` came while the request was on its way: no stream to close
            for line in iter_resp_lines(response):
                if line:
                    version, heard = self._apply(json.loads(line), version), True
            if not heard and time.monotonic() - started < 1:  # resuming at once would loop without a pause
                raise ValueError("the API server ended the watch at once")
        finally:
            self._response = None
            response.close()  # not back to the pool: after an error or a shutdown, unread bytes may remain
            response.release_conn()
        return version

    def _apply(self, event: ApiObject, version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Expired
            raise ValueError(f"watch error: {obj.get('message') or obj}")
        if kind in ("ADDED", "MODIFIED"):
            with self._lock:
                self._objects[_key(obj)] = _slim(obj)
        elif kind == "DELETED":
            with self._lock:
                self._objects.pop(_key(obj), None)
        return str(obj.get("metadata", {}).get("resourceVersion") or version)


class Mirror:
    """The collections of one cluster, started on first use and stopped with the server."""

    def __init__(self, kube: Kube, *, watch: bool = True) -> None:
        self.kube, self.watch = kube, watch  # watch=False: every read goes to the API server
        self._collections: dict[str, Collection] = {}
        self._stopping: threading.Event | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        kube.after_write(self.resync)

    def live(self, name: str) -> Collection | None:
        """The collection when its watch is live, else None (read the API); the first call starts the mirror."""
        if not self.watch:
            return None
        collection = self._started()[name]
        return collection if collection.live else None

    def pod(self, namespace: str, name: str) -> ApiObject | None:
        """A pod by namespace and name; None when there is none."""
        return self._one("pods", namespace, name, self.kube.core.read_namespaced_pod, name, namespace)

    def node(self, name: str) -> ApiObject | None:
        """A node by name; None when there is none."""
        return self._one("nodes", None, name, self.kube.core.read_node, name)

    def replicaset(self, namespace: str, name: str) -> ApiObject | None:
        return self._one("replicasets", namespace, name, self.kube.apps.read_namespaced_replica_set, name, namespace)

    def nodes(self) -> list[ApiObject]:
        nodes = self.live("nodes")
        if nodes is not None:
            return nodes.items()
        return self._list(self.kube.core.list_node, [])

    def pods(self, *, namespace: str | None = None, node: str | None = None, active: bool = False) -> list[ApiObject]:
        """Pods of `namespace` (default: every one); only those on `node`, only those holding resources (`active`)."""
        pods = self.live("pods")
        if pods is not None:
            return [p for p in pods.items() if (namespace is None or p["metadata"].get("namespace") == namespace)
                    and (node is None or p["spec"].get("nodeName") == node) and (not active or holds_resources(p))]
        terms = [f"spec.nodeName={node}" if node is not None else "", ACTIVE_PODS if active else ""]
        if namespace is not None:
            return self._list(self.kube.core.list_namespaced_pod, terms, namespace)
        return self._list(self.kube.core.list_pod_for_all_namespaces, terms)

    def events_about(self, name: str, *, namespace: str | None = None, kind: str | None = None) -> list[ApiObject]:
        """Events whose involved object is `name` (of `kind`), in `namespace` or in every namespace."""
        events = self.live("events")
        if events is not None:
            return [e for e in events.items() if _involves(e, name, kind)
                    and (namespace is None or e["metadata"].get("namespace") == namespace)]
        terms = [f"involvedObject.kind={kind}" if kind is not None else "", f"involvedObject.name={name}"]
        if namespace is not None:
            return self._list(self.kube.core.list_namespaced_event, terms, namespace)
        return self._list(self.kube.core.list_event_for_all_namespaces, terms)

    def wait_live(self, timeout_s: float) -> bool:
        """True once every collection is live (for tests and benchmarks that want the fast path from the start)."""
        deadline = time.monotonic() + timeout_s
        return self.watch and all(c.wait_live(max(0.0, deadline - time.monotonic())) for c in self._started().values())

    def resync(self, written_by: str) -> None:
        """After a write through the client (`written_by` is its method): the collection it changed goes offline
        until listed again, so that no read made after the write shows the collection as it was before."""
        with self._lock:
            collections = [c for name, c in self._collections.items() if WRITTEN_BY[name].search(written_by)]
        for collection in collections:
            collection.resync()

    def stop(self) -> None:
        """Ends the watches and waits for their threads, so that none uses the client after its owner closes it."""
        with self._lock:
            stopping, collections, threads = self._stopping, self._collections, self._threads
            self._stopping, self._collections, self._threads = None, {}, []
        if stopping is None:
            return
        stopping.set()
        for collection in collections.values():
            collection.interrupt()
        _join(threads, STOP_S)

    def _started(self) -> dict[str, Collection]:
        with self._lock:
            if self._stopping is None:
                # fresh collections on every start: a thread of a stopped mirror must not touch a new one's state
                self._stopping = threading.Event()
                self._collections = {name: Collection(self.kube, name) for name in COLLECTIONS}
                # each in a context of its own: the first read may start them inside client.no_requests
                self._threads = [threading.Thread(target=contextvars.Context().run, args=(c.run, self._stopping),
                                                  daemon=True, name=f"mirror-{c.name}")
                                 for c in self._collections.values()]
                for thread in self._threads:
                    thread.start()
            return self._collections

    def _one(self, collection: str, namespace: str | None, name: str, read: Any, *args: Any) -> ApiObject | None:
        """From the mirror when it holds the object, else from the API: a miss may be a watch running late."""
        live = self.live(collection)
        mirrored = live.get(namespace, name) if live is not None else None
        return mirrored or self._read_or_none(read, *args)

    def _read_or_none(self, method: Any, *args: Any) -> ApiObject | None:
        try:
            return self.kube.call(method, *args)
        except NotFound:
            return None

    def _list(self, method: Any, selector_terms: list[str], *args: Any) -> list[ApiObject]:
        selector = ",".join(term for term in selector_terms if term)
        query = {"field_selector": selector} if selector else {}
        return list(self.kube.list_all(method, *args, **query)["items"])


def _join(threads: list[threading.Thread], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if running := [t.name for t in threads if t.is_alive()]:
        log.warning("%s still in a request %g s after stop; left to end on their own", ", ".join(running), timeout_s)


def _involves(event: ApiObject, name: str, kind: str | None) -> bool:
    involved = event.get("involvedObject") or {}
    return involved.get("name") == name and (kind is None or involved.get("kind") == kind)


def _slim(obj: ApiObject) -> ApiObject:
    """No tool reads who last wrote which field, and on a real API server that is a large part of every object."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def _key(obj: ApiObject) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""
