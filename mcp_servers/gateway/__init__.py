"""The gateway MCP server (routing table, provider health, the writes that move traffic), layered as the clients
(`adapters`: where the routes live; `client`: the gateway's own API; metrics through the shared Prometheus
client), pure views and change planning (`routes`, `health`), the write loop (`writes`) and the tools (`tools`)
that `server.build` registers."""

from mcp_servers.gateway.server import build

__all__ = ["build"]
