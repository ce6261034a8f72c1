"""The gateway server: its tools (`tools.TOOLS`) over the routes' adapter, the gateway's own API and the shared
Prometheus client, opened when the server starts and closed when it stops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastmcp import FastMCP

from mcp_servers.gateway.adapters import ConfigMapRoutes, GatewayAdapter
from mcp_servers.gateway.client import GatewayApi
from mcp_servers.gateway.flavors import flavor
from mcp_servers.gateway.tools import TOOLS, Gateway
from mcp_servers.kubernetes.client import Kube
from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import Settings
from mcp_servers.toolkit import holding, register


def build(settings: Settings, adapter: GatewayAdapter | None = None) -> FastMCP:
    """The gateway server; `adapter` defaults to the routes ConfigMap the settings name."""
    # The settings' cluster, as the kubernetes server reaches it; connected on the first call, so the server
    # builds without a cluster.
    routes: GatewayAdapter = adapter or ConfigMapRoutes(
        Kube(settings), settings.gateway_namespace or settings.namespace, settings.gateway_routes_configmap,
        provider_backends=settings.gateway_provider_backends)
    mcp = FastMCP("gateway", instructions="Routing of model traffic between the self-hosted fleet and hosted "
                  "backup providers: the routing table, provider health, and the writes that move traffic.",
                  lifespan=holding(lambda: _gateway(settings, routes)))
    return register(mcp, TOOLS)


@contextmanager
def _gateway(settings: Settings, routes: GatewayAdapter) -> Iterator[list[object]]:
    api = GatewayApi(settings.gateway_url)
    prometheus = prometheus_api(settings.prometheus) if settings.prometheus else None
    try:
        yield [Gateway(routes, api, prometheus, settings.gateway_backends,
                       flavor(settings.gateway_flavor, settings.gateway_provider_backends))]
    finally:
        api.close()
        routes.close()
