"""`pods/{name}/log`: the checks the real server and kubelet make, then the LogReader's text (or a stream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver.logs import LogReader
from sandbox.apiserver.status import bad_request
from sandbox.apiserver.timefmt import micro_time, parse_time, utcnow
from sandbox.store import Store

Obj = dict[str, Any]
POD_GONE_POLL_S = 1.0


@dataclass(frozen=True)
class LogQuery:
    container: str | None
    previous: bool
    tail_lines: int | None
    since_seconds: int | None
    timestamps: bool
    follow: bool
    limit_bytes: int | None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> LogQuery:
        def flag(name: str) -> bool:
            return params.get(name, "").lower() in ("true", "1")

        def number(name: str) -> int | None:
            value = params.get(name)
            if value in (None, ""):
                return None
            try:
                return int(value)
            except ValueError as exc:
                raise bad_request(f"invalid {name}: {value}") from exc

        since_seconds = number("sinceSeconds")
        if since_seconds is None and (moment := parse_time(params.get("sinceTime"))) is not None:
            since_seconds = max(int((utcnow() - moment).total_seconds()), 0)
        return cls(params.get("container") or None, flag("previous"), number("tailLines"), since_seconds,
                   flag("timestamps"), flag("follow"), number("limitBytes"))


def resolve_container(pod: Obj, requested: str | None) -> str:
    """The container to read: the one asked for, or the only one; else a 400 like the real server's."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers = [c.get("name") for c in spec.get("containers") or []]
    inits = [c.get("name") for c in spec.get("initContainers") or []]
    if requested is None:
        if len(containers) == 1:
            return str(containers[0])
        message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if inits:
            message += f" or one of the init containers: [{' '.join(inits)}]"
        raise bad_request(message)
    if requested not in containers + inits:
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _check_started(pod: Obj, container: str, previous: bool) -> None:
    """The kubelet's refusals: no node yet, or a container that never started."""
    name = pod["metadata"]["name"]
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    if previous:
        return
    statuses = ((pod.get("status") or {}).get("containerStatuses") or []) + \
        ((pod.get("status") or {}).get("initContainerStatuses") or [])
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting")
        if cs.get("name") == container and waiting and not cs.get("restartCount") and not cs.get("lastState"):
            reason = waiting.get("reason") or "ContainerCreating"
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')


def read_logs(store: Store, reader: LogReader, namespace: str, name: str, query: LogQuery) -> tuple[str, str]:
    """(container, backlog text) after the checks; raises ApiError like the real endpoint."""
    pod = store.get("pods", namespace, name)
    container = resolve_container(pod, query.container)
    _check_started(pod, container, query.previous)
    text = reader.read(namespace, name, container, previous=query.previous, tail_lines=query.tail_lines,
                       since_seconds=query.since_seconds, timestamps=query.timestamps)
    if query.limit_bytes is not None and query.limit_bytes >= 0:
        text = text.encode()[:query.limit_bytes].decode(errors="ignore")
    return container, text


async def follow_logs(store: Store, reader: LogReader, namespace: str, name: str, container: str, backlog: str,
                      timestamps: bool) -> AsyncIterator[bytes]:
    """The backlog, then new lines until the pod is gone (when a real container's log would end)."""
    if backlog:
        yield backlog.encode()
    uid = (store.find("pods", namespace, name) or {}).get("metadata", {}).get("uid")
    lines = reader.follow(namespace, name, container).__aiter__()
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(lines.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=POD_GONE_POLL_S)
            if not done:
                current = store.find("pods", namespace, name)
                if current is None or current["metadata"].get("uid") != uid:
                    return
                continue
            try:
                line = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            line = line if line.endswith("\n") else line + "\n"
            yield (f"{micro_time(utcnow())} {line}" if timestamps else line).encode()
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(lines, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
