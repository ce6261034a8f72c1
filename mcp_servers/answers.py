"""The shapes every tool's answer shares, kept free of any server or client so that the views can build them:
a list cut to a size a model can read, a long text clipped, and what a write tool did.

Tools answer a model first: a summary up front (counts, top offenders, what is abnormal), detail on request,
and never more than a hard cap of items, with `truncated` saying so when the cap cut something off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_ITEMS = 50  # the default cap on any list a tool returns
MAX_TEXT = 8_000  # characters of free text (log lines, descriptions) in one answer


class Capped(BaseModel, Generic[T]):
    """A list cut to a size a model can read, saying how much there was."""

    items: list[T]
    total: int = Field(description="how many there were before the cap")
    truncated: bool = Field(description="true when items holds fewer than total")

    @classmethod
    def of(cls, items: Sequence[T], limit: int = MAX_ITEMS) -> Capped[T]:
        limit = max(0, limit)
        return cls(items=list(items[:limit]), total=len(items), truncated=len(items) > limit)


def clip(text: str, limit: int = MAX_TEXT) -> tuple[str, bool]:
    """Keeps the end of a long text (the newest log lines matter most); says whether it cut."""
    if len(text) <= limit:
        return text, False
    return "[truncated]…" + text[-limit:], True


class WriteResult(BaseModel):
    """What a write tool did: enough for an audit log and for a person to check it."""

    action: str
    target: str
    dry_run: bool
    reason: str
    idempotency_key: str
    replayed: bool = Field(default=False, description="true when this key was already applied: nothing was done")
    before: dict[str, Any]
    after: dict[str, Any]
    message: str
