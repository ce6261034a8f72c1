"""The tool list (`firebreak catalog`) as a Markdown table (the README's), from the servers
themselves, so the documentation cannot drift from what a host sees."""

from __future__ import annotations

from fastmcp import Client

from mcp_servers.compose import SERVERS, build
from mcp_servers.settings import Settings

OFFLINE = Settings(kubeconfig="/nonexistent/kubeconfig")


async def catalog() -> str:
    lines = ["| server | tool | kind | what it does |", "|---|---|---|---|"]
    for name in SERVERS:
        async with Client(build(name, OFFLINE)) as client:
            for tool in await client.list_tools():
                hints = tool.annotations
                kind = "read" if hints and hints.read_only_hint else (
                    "write, destructive" if hints and hints.destructive_hint else "write")
                paragraph = " ".join((tool.description or "").strip().split("\n\n")[0].split())
                summary = paragraph.split(". ")[0].rstrip(".")
                lines.append(f"| {name} | `{tool.name}` | {kind} | {summary} |")
    return "\n".join(lines)

