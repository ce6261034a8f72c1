"""What the logs server holds for its lifetime: its source of lines, and the cluster it reads rollouts from."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_servers.kubernetes.client import Kube
from mcp_servers.logs.lines import LogSource


@dataclass(frozen=True)
class LogBackends:
    """What the logs server reads: lines from `source`, rollouts from the cluster, by default in `namespace`."""

    source: LogSource
    kube: Kube
    namespace: str

    def close(self) -> None:
        """Idle keep-alive connections would hold a server's graceful shutdown open."""
        self.source.close()
        self.kube.close()
