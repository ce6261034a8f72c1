"""The five servers by name, alone or mounted into one (`firebreak mcp all`).

Tool names are unique across the servers, so a tool keeps its name whether a host runs one server or all.
"""

from __future__ import annotations

import importlib

from fastmcp import FastMCP

from mcp_servers.errors import KindedErrors
from mcp_servers.settings import Settings
from mcp_servers.toolkit import remove_writes

SERVERS = ("prometheus", "kubernetes", "gpu", "logs", "gateway")


def build(name: str, settings: Settings) -> FastMCP:
    """The server called `name` (or `all`), without its write tools when the settings say read-only."""
    if name == "all":
        server = FastMCP("firebreak", instructions="Firebreak's tools for an LLM inference fleet: metrics and "
                         "SLOs, Kubernetes, GPU health, logs and gateway routing.")
        for part in SERVERS:
            server.mount(_build_one(part, settings))
    elif name in SERVERS:
        server = _build_one(name, settings)
    else:
        raise ValueError(f"unknown MCP server {name!r}: choose one of {', '.join(SERVERS)} or all")
    server.add_middleware(KindedErrors())
    return remove_writes(server) if settings.read_only else server


def _build_one(name: str, settings: Settings) -> FastMCP:
    module = importlib.import_module(f"mcp_servers.{name}")
    server: FastMCP = module.build(settings)
    return server
