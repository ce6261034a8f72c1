"""The gpu MCP server (GPU health, unhealthy GPUs with their pods, the Xid catalogue), layered as the reading
sources (`sources`: DCGM metrics through the shared Prometheus client in `dcgm`, or local NVML in `nvml`), pure
judgement and reports (`health`, `xid`) and the tools (`tools`) that `server.build` registers."""

from mcp_servers.gpu.server import build

__all__ = ["build"]
