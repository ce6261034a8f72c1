"""The logs server: its backends, held for its lifetime, and its tools' table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastmcp import FastMCP

from mcp_servers.kubernetes.client import Kube
from mcp_servers.logs.backends import LogBackends
from mcp_servers.logs.lines import LogSource
from mcp_servers.logs.loki import LokiLogs
from mcp_servers.logs.sources import KubernetesLogs
from mcp_servers.logs.tools import TOOLS
from mcp_servers.settings import Settings
from mcp_servers.toolkit import holding, register


def build(settings: Settings) -> FastMCP:
    @contextmanager
    def open_clients() -> Iterator[list[object]]:
        kube = Kube(settings)
        source: LogSource = LokiLogs(settings.loki) if settings.loki else KubernetesLogs(kube)
        backends = LogBackends(source, kube, settings.namespace)
        try:
            yield [backends]
        finally:
            backends.close()

    mcp = FastMCP("firebreak-logs", instructions="Logs of the fleet's pods: search, error templates, and what "
                  "changed in the logs around a time or the latest rollout.", lifespan=holding(open_clients))
    return register(mcp, TOOLS)
