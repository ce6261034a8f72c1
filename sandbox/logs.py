"""Container logs as the kubelet keeps them: the current and the previous incarnation of each container."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.errors import ApiError
from sandbox.kubetime import micro_time

MAX_LINES = 4000  # per container incarnation, like a rotated log file


@dataclass
class _Log:
    lines: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    followers: list[asyncio.Queue[str]] = field(default_factory=list)


class LogStore:
    """Written by the simulated containers, read through the API's `pods/log` subresource."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, str, str], _Log] = {}
        self._previous: dict[tuple[str, str, str], _Log] = {}

    def write(self, namespace: str, pod: str, container: str, line: str, at: float | None = None) -> None:
        log = self._current.setdefault((namespace, pod, container), _Log())
        log.lines.append((at or datetime.now(UTC).timestamp(), line))
        for queue in log.followers:
            queue.put_nowait(line)

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """A new container incarnation: what it printed so far becomes `--previous`."""
        key = (namespace, pod, container)
        if key in self._current:
            self._previous[key] = self._current.pop(key)

    def forget(self, namespace: str, pod: str) -> None:
        for logs in (self._current, self._previous):
            for key in [k for k in logs if k[:2] == (namespace, pod)]:
                del logs[key]

    def read(self, namespace: str, pod: str, container: str | None, *, previous: bool,
             tail_lines: int | None, since_seconds: int | None, timestamps: bool) -> str:
        container = container or self._only_container(namespace, pod)
        logs = self._previous if previous else self._current
        log = logs.get((namespace, pod, container))
        if log is None:
            if previous:
                raise ApiError(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{pod}" not found')
            return ""
        lines = list(log.lines)
        if since_seconds is not None:
            cutoff = datetime.now(UTC).timestamp() - since_seconds
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        if timestamps:
            return "".join(f"{micro_time(datetime.fromtimestamp(at, UTC))} {text}\n" for at, text in lines)
        return "".join(f"{text}\n" for _, text in lines)

    async def follow(self, namespace: str, pod: str, container: str | None) -> AsyncIterator[str]:
        log = self._current.setdefault((namespace, pod, container or self._only_container(namespace, pod)), _Log())
        queue: asyncio.Queue[str] = asyncio.Queue()
        log.followers.append(queue)
        try:
            while True:
                yield await queue.get() + "\n"
        finally:
            log.followers.remove(queue)

    def _only_container(self, namespace: str, pod: str) -> str:
        names = {k[2] for k in self._current | self._previous if k[:2] == (namespace, pod)}
        return names.pop() if len(names) == 1 else ""
