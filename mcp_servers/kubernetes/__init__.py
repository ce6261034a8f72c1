"""The kubernetes MCP server: deployments, pods, nodes, events, rollout history and pod logs, and the writes.

Layered as the data flows: `client` (the API, its errors typed) and `mirror` (a watch-fed copy of the hot
collections) fetch; `objects`, `views` and `answers` turn the API's JSON into the answers, with no I/O;
`queries` says what each read asks for; `reads` and `writes` are the tools, listed in their tables, which
`server.build` registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from mcp_servers.kubernetes.mirror import Mirror
    from mcp_servers.settings import Settings


def build(settings: Settings, mirror: Mirror | None = None) -> FastMCP:
    """The kubernetes server (`server.build`). Loaded when called: the logs server and the gateway's adapters
    import this package's client and objects, and need none of the server."""
    from mcp_servers.kubernetes.server import build as build_server

    return build_server(settings, mirror)
