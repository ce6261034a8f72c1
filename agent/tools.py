"""The agent's only window on the fleet: MCP tool calls, counted and logged.

Whatever the transport (the composed servers in process, `firebreak mcp all` over stdio, or a remote
streamable-HTTP server), the agent sees tool results, never the fleet itself.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastmcp import Client

from mcp_servers.errors import transport_kind
from mcp_servers.failures import ErrorKind, parse

log = logging.getLogger("firebreak.agent.tools")


@dataclass(frozen=True)
class ToolResult:
    """One call's answer: `data` when it succeeded; otherwise `kind` says what failed (the servers' error
    kinds, `mcp_servers.errors`) and `error` says it in words."""

    tool: str
    args: dict[str, Any]
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    kind: ErrorKind | None = None
    duration_s: float = 0.0

    def describe(self) -> str:
        return f"{self.tool}({_args(self.args)})"


@dataclass(frozen=True)
class ToolSchema:
    name: str
    description: str
    input_schema: dict[str, Any]


class ToolClient:
    """Calls MCP tools on one client session; counts calls for the incident's result."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls = 0
        self.names: set[str] = set()
        self._schemas: dict[str, ToolSchema] = {}

    async def __aenter__(self) -> ToolClient:
        await self._client.__aenter__()
        tools = await self._client.list_tools()
        self.names = {tool.name for tool in tools}
        self._schemas = {t.name: ToolSchema(t.name, t.description or "", dict(t.input_schema)) for t in tools}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(*exc)

    def schemas(self) -> dict[str, ToolSchema]:
        """What the server says each tool takes, as listed when the session opened (for a language model)."""
        return dict(self._schemas)

    async def call(self, tool: str, args: dict[str, Any] | None = None) -> ToolResult:
        args = dict(args or {})
        self.calls += 1
        started = time.monotonic()
        try:
            result = await self._client.call_tool(tool, args, raise_on_error=False)
        except Exception as error:  # noqa: BLE001 - a broken session is a failed call: the tools are out of reach
            return self._done(ToolResult(tool, args, ok=False, error=f"the MCP session failed: {type(error).__name__}: "
                                         f"{error}", kind=transport_kind(error), duration_s=time.monotonic() - started))
        if result.is_error:
            kind, message = parse(" ".join(getattr(block, "text", "") for block in result.content))
            return self._done(ToolResult(tool, args, ok=False, error=message, kind=kind,
                                         duration_s=time.monotonic() - started))
        return self._done(ToolResult(tool, args, ok=True, data=dict(result.structured_content or {}),
                                     duration_s=time.monotonic() - started))

    def _done(self, outcome: ToolResult) -> ToolResult:
        if outcome.ok:
            log.debug("tool %s ok in %.2fs", outcome.describe(), outcome.duration_s)
        else:
            log.info("tool %s failed (%s): %s", outcome.describe(), outcome.kind, outcome.error[:300])
        return outcome


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(args.items()))
