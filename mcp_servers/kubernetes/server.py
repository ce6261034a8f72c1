"""The kubernetes server: its cluster client and watch mirror, held for its lifetime, and its tools' tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastmcp import FastMCP

from mcp_servers.kubernetes.client import Kube
from mcp_servers.kubernetes.mirror import Mirror
from mcp_servers.kubernetes.reads import READS
from mcp_servers.kubernetes.writes import WRITES
from mcp_servers.settings import Settings
from mcp_servers.toolkit import holding, register


def build(settings: Settings, mirror: Mirror | None = None) -> FastMCP:
    """The kubernetes server; `mirror` defaults to a new one on the settings' cluster (the server stops it)."""
    cluster = mirror or Mirror(Kube(settings), watch=settings.kube_watch)

    @contextmanager
    def open_clients() -> Iterator[list[object]]:
        try:
            yield [cluster, cluster.kube]
        finally:
            cluster.stop()  # before the client closes: no watch thread may use it after
            cluster.kube.close()  # idle keep-alive connections would hold an API server's graceful shutdown open

    mcp = FastMCP("kubernetes", instructions="Kubernetes state of the inference fleet: deployments, pods, nodes "
                  "(GPU allocation, cordons), events, rollout history, pod logs; and remediations.",
                  lifespan=holding(open_clients))
    return register(mcp, READS + WRITES)
