"""What every Firebreak MCP tool shares: annotations, size caps and the write envelope (errors: `errors.py`).

Tools answer a model first: a summary up front (counts, top offenders, what is abnormal), detail on request,
and never more than a hard cap of items, with `truncated` saying so when the cap cut something off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from fastmcp import FastMCP
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

WRITE_TAG = "write"
MAX_ITEMS = 50  # the default cap on any list a tool returns
MAX_TEXT = 8_000  # characters of free text (log lines, descriptions) in one answer
DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})  # JSON Schema keywords whose values are data


def read_tool(mcp: FastMCP, title: str) -> Callable[[F], F]:
    """Registers a tool that only reads the fleet."""
    annotations = ToolAnnotations(title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                  open_world_hint=True)
    return _registrar(mcp, annotations)


def write_tool(mcp: FastMCP, title: str, *, destructive: bool, idempotent: bool) -> Callable[[F], F]:
    """Registers a tool that changes the fleet; `--read-only` removes every tool registered this way."""
    annotations = ToolAnnotations(title=title, read_only_hint=False, destructive_hint=destructive,
                                  idempotent_hint=idempotent, open_world_hint=True)
    return _registrar(mcp, annotations, tags={WRITE_TAG})


def _registrar(mcp: FastMCP, annotations: ToolAnnotations, tags: set[str] | None = None) -> Callable[[F], F]:
    """Registers the function as FastMCP's decorator would, with its output schema compacted."""
    def register(function: F) -> F:
        tool = Tool.from_function(function, annotations=annotations, tags=tags)
        mcp.add_tool(tool.model_copy(update={"output_schema": compact_types(tool.output_schema)}))
        return function
    return register


def compact_types(schema: Any) -> Any:
    """The same JSON Schema with every `anyOf` of bare types (`{"type": "string"}`, `{"type": "null"}`) written as
    one `type` list. A client that validates our answers (the reference MCP client does, on every call) then
    checks such a field in one step instead of one sub-validation per branch (bench/README.md measures it).
    Values that are data, not schemas (`const`, `enum`, `default`, `examples`), are left as they are."""
    if isinstance(schema, list):
        return [compact_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    compacted = {key: value if key in DATA_KEYWORDS else compact_types(value) for key, value in schema.items()}
    types = _bare_types(compacted.get("anyOf"))
    if types and "type" not in compacted:
        del compacted["anyOf"]
        compacted["type"] = types
    return compacted


def _bare_types(branches: Any) -> list[str] | None:
    """The types of an `anyOf` whose every branch says only its type, once each; None for any other."""
    if not isinstance(branches, list) or not all(
            isinstance(branch, dict) and branch.keys() == {"type"} and isinstance(branch["type"], str)
            for branch in branches):
        return None
    return list(dict.fromkeys(branch["type"] for branch in branches)) or None


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
