"""The logs MCP server: search a pod's, deployment's or namespace's logs, group the errors, compare around a rollout.

Layered as the data flows: `sources` (the Kubernetes API) or `loki` fetch `lines`; `templates` and `views` group
and compare them, with no I/O; `tools` are the tools, listed in their table, which `server.build` registers.
"""

from mcp_servers.logs.server import build

__all__ = ["build"]
