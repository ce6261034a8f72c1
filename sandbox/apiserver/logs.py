"""The pod-log source the API layer reads from; the sandbox's log simulation implements it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class LogReader(Protocol):
    def read(self, namespace: str, pod: str, container: str | None, *, previous: bool, tail_lines: int | None,
             since_seconds: int | None, timestamps: bool) -> str:
        """The container's log so far; raises `ApiError` (e.g. 400 "previous terminated container ... not found")."""
        ...

    def follow(self, namespace: str, pod: str, container: str | None) -> AsyncIterator[str]:
        """Lines written after the call, as they come (what `kubectl logs -f` streams after the backlog)."""
        ...
