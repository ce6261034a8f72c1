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

log = logging.getLogger("firebreak.agent.tools")

UNREACHABLE = "unreachable"  # the word the servers use when a backend (Prometheus, the API server) is gone


@dataclass(frozen=True)
class ToolResult:
    tool: str
    args: dict[str, Any]
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    duration_s: float = 0.0

    @property
    def blind(self) -> bool:
        """True when the call failed because a backend could not be reached, not because of bad input."""
        return not self.ok and UNREACHABLE in self.error

    def describe(self) -> str:
        return f"{self.tool}({_args(self.args)})"


@dataclass(frozen=True)
class ToolSchema:
    name: str
    description: str
    input_schema: dict[str, Any]


class FleetTools:
    """Calls MCP tools on one client session; counts calls for the incident's result."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.calls = 0
        self.names: set[str] = set()
        self._schemas: dict[str, ToolSchema] = {}

    async def __aenter__(self) -> FleetTools:
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
        except Exception as error:  # noqa: BLE001 - a broken session is reported like a tool error
            return self._done(ToolResult(tool, args, ok=False, error=f"{type(error).__name__}: {error}",
                                         duration_s=time.monotonic() - started))
        text = " ".join(getattr(block, "text", "") for block in result.content)
        outcome = ToolResult(tool, args, ok=not result.is_error, data=dict(result.structured_content or {}),
                             error=text if result.is_error else "", duration_s=time.monotonic() - started)
        return self._done(outcome)

    def _done(self, outcome: ToolResult) -> ToolResult:
        if outcome.ok:
            log.debug("tool %s ok in %.2fs", outcome.describe(), outcome.duration_s)
        else:
            log.info("tool %s failed: %s", outcome.describe(), outcome.error[:300])
        return outcome


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(args.items()))
