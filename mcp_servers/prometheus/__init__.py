"""The prometheus MCP server (PromQL, SLOs, alerts, targets, metric discovery, silences), layered as the shared
Prometheus client (`client`), pure views of its answers (`series`, `slo`, `alerts`, `discovery`) and the tools
(`tools`) that `server.build` registers. `slo_conventions` is what the rules, the agent and the harness share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from mcp_servers.settings import Settings


def build(settings: Settings) -> FastMCP:
    """The prometheus server (`server.build`). Loaded when called: the rules generator, the agent and the harness
    import `slo_conventions` from this package, and need none of the server."""
    from mcp_servers.prometheus.server import build as build_server

    return build_server(settings)
