"""The prometheus MCP server (PromQL, SLOs, alerts, targets, metric discovery, silences), layered as the shared
Prometheus client (`client`), pure views of its answers (`series`, `slo`, `alerts`, `discovery`) and the tools
(`tools`) that `server.build` registers. `slo_conventions` is what the rules, the agent and the harness share."""

from mcp_servers.prometheus.server import build

__all__ = ["build"]
