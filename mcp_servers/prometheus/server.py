"""The prometheus server: its tools (`tools.TOOLS`) over the endpoint's shared Prometheus client and a pooled
Alertmanager client, opened when the server starts and closed when it stops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastmcp import FastMCP

from mcp_servers.prometheus.client import HttpApi, prometheus_api
from mcp_servers.prometheus.tools import TOOLS
from mcp_servers.settings import Settings
from mcp_servers.toolkit import holding, register


def build(settings: Settings) -> FastMCP:
    """The prometheus server; connects to nothing until a tool is called."""
    mcp = FastMCP("prometheus", instructions="Prometheus and Alertmanager: PromQL (instant and summarised "
                  "range), SLO burn rates and error budgets, alerts, scrape target health, metric discovery, "
                  "silences.", lifespan=holding(lambda: _clients(settings)))
    return register(mcp, TOOLS)


@contextmanager
def _clients(settings: Settings) -> Iterator[list[object]]:
    alertmanager = HttpApi("Alertmanager", "ALERTMANAGER_URL", settings.alertmanager)
    try:
        yield [prometheus_api(settings.prometheus), alertmanager, settings]
    finally:
        alertmanager.close()
