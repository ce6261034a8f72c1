"""What every Firebreak MCP tool shares: registration from a table and the clients it is handed (the answers'
shapes: `answers.py`; errors: `errors.py`).

A server package writes its tools as module-level functions and lists them in a table of `ToolSpec`s (`reads`,
`writes`); `register` adds them to the server. A tool that needs a backend client takes it as a parameter whose
default is `held(ClientType)`: FastMCP resolves it on each call from what the server's lifespan opened
(`holding`), and leaves it out of the tool's input schema. A mounted server (`firebreak mcp all`) keeps its own
lifespan, so each tool still gets its own server's client; a test may call the function with a client of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
from fastmcp import Context, FastMCP
from fastmcp.dependencies import CurrentContext, Depends
from fastmcp.exceptions import ToolError
from fastmcp.tools import FunctionTool, ToolResult
from mcp.types import ToolAnnotations

from mcp_servers.errors import ToolFailure
from mcp_servers.failures import Failure

F = TypeVar("F", bound=Callable[..., Any])
B = TypeVar("B")

WRITE_TAG = "write"
DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})  # JSON Schema keywords whose values are data


@dataclass(frozen=True)
class ToolSpec:
    """One row of a server's tool table: the function (its name, docstring and signature are the tool's) and
    how it touches the fleet."""

    function: Callable[..., Any]
    title: str
    writes: bool = False
    destructive: bool = False
    idempotent: bool = True

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(title=self.title, read_only_hint=not self.writes, destructive_hint=self.destructive,
                               idempotent_hint=self.idempotent, open_world_hint=True)


def reads(function: Callable[..., Any], title: str) -> ToolSpec:
    """A tool that only reads the fleet."""
    return ToolSpec(function, title)


def writes(function: Callable[..., Any], title: str, *, destructive: bool, idempotent: bool) -> ToolSpec:
    """A tool that changes the fleet; `--read-only` removes every tool registered this way."""
    return ToolSpec(function, title, writes=True, destructive=destructive, idempotent=idempotent)


def register(mcp: FastMCP, specs: Iterable[ToolSpec]) -> FastMCP:
    """Adds every tool of the table to the server, each with its output schema compacted."""
    for spec in specs:
        tool = _KindedTool.from_function(spec.function, annotations=spec.annotations,
                                         tags={WRITE_TAG} if spec.writes else None)
        mcp.add_tool(tool.model_copy(update={"output_schema": compact_types(tool.output_schema)}))
    return mcp


class _KindedTool(FunctionTool):
    """A tool whose pure views' `Failure`s leave it as the `ToolFailure`s they stand for, so that FastMCP passes
    them on as they are rather than as a bug (see `errors.BackendError`)."""

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            return await super().run(arguments)
        except ToolError:
            raise
        except Failure as failure:
            raise ToolFailure(failure.kind, failure.message) from failure


def holding(open_clients: Callable[[], AbstractContextManager[Iterable[object]]]) -> Callable[
        [FastMCP], AbstractAsyncContextManager[dict[str, Any]]]:
    """A server lifespan that opens the server's clients when it starts and closes them when it stops; the
    tools find them with `held`, by their class or any class they derive from (a source chosen by the settings is
    held by its base class)."""
    @asynccontextmanager
    async def lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        # Opening and closing may block (a watch mirror's first lists, its threads' join): off the event loop,
        # so that servers mounted next to this one keep answering.
        opened = open_clients()
        clients = await asyncio.to_thread(opened.__enter__)
        try:
            yield {_key(kind): client for client in clients for kind in type(client).__mro__ if kind is not object}
        except BaseException as error:
            with anyio.CancelScope(shield=True):  # a cancelled server still closes what it opened
                suppressed = await asyncio.to_thread(opened.__exit__, type(error), error, error.__traceback__)
            if not suppressed:
                raise
        else:
            await asyncio.to_thread(opened.__exit__, None, None, None)
    return lifespan


def held(kind: type[B]) -> B:
    """The default of a tool's client parameter: the `kind` client the tool's own server holds (`holding`).
    Resolved on each call, never part of the tool's input schema."""
    def resolve(context: Context = CurrentContext()) -> B:
        client = context.lifespan_context.get(_key(kind))
        if not isinstance(client, kind):
            raise RuntimeError(f"the {context.fastmcp.name} server holds no {kind.__name__}: is its lifespan running?")
        return client
    return cast(B, Depends(resolve))


def _key(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def read_tool(mcp: FastMCP, title: str) -> Callable[[F], F]:
    """`reads` as a decorator, for a server written in one function (a test's scripted fleet)."""
    return _decorator(mcp, lambda function: reads(function, title))


def write_tool(mcp: FastMCP, title: str, *, destructive: bool, idempotent: bool) -> Callable[[F], F]:
    """`writes` as a decorator, for a server written in one function (a test's scripted fleet)."""
    return _decorator(mcp, lambda function: writes(function, title, destructive=destructive, idempotent=idempotent))


def _decorator(mcp: FastMCP, spec_of: Callable[[Callable[..., Any]], ToolSpec]) -> Callable[[F], F]:
    def add(function: F) -> F:
        register(mcp, [spec_of(function)])
        return function
    return add


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
