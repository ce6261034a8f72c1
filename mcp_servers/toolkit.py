"""What every Firebreak MCP tool shares: annotations, size caps, the write envelope and clear errors.

Tools answer a model first: a summary up front (counts, top offenders, what is abnormal), detail on request,
and never more than a hard cap of items, with `truncated` saying so when the cap cut something off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

WRITE_TAG = "write"
MAX_ITEMS = 50  # the default cap on any list a tool returns
MAX_TEXT = 8_000  # characters of free text (log lines, descriptions) in one answer


def read_tool(mcp: FastMCP, title: str) -> Callable[[F], F]:
    """Registers a tool that only reads the fleet."""
    annotations = ToolAnnotations(title=title, readOnlyHint=True, destructiveHint=False, idempotentHint=True,
                                  openWorldHint=True)
    return mcp.tool(annotations=annotations)  # type: ignore[return-value]


def write_tool(mcp: FastMCP, title: str, *, destructive: bool, idempotent: bool) -> Callable[[F], F]:
    """Registers a tool that changes the fleet; `--read-only` removes every tool registered this way."""
    annotations = ToolAnnotations(title=title, readOnlyHint=False, destructiveHint=destructive,
                                  idempotentHint=idempotent, openWorldHint=True)
    return mcp.tool(annotations=annotations, tags={WRITE_TAG})  # type: ignore[return-value]


def remove_writes(mcp: FastMCP) -> FastMCP:
    """Hides and blocks every write tool: a read-only server cannot be talked into changing anything."""
    mcp.disable(tags={WRITE_TAG})
    return mcp


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


def fail(message: str) -> ToolError:
    """The error a tool raises for bad input or a missing object: its text goes to the caller as is."""
    return ToolError(message)
