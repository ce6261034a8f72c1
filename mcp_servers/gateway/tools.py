"""The gateway server's tools: the routing table (weights per model and backend), the health of every backend as
the gateway's own metrics show it, and the two writes that move traffic: `set_route_weights` and
`failover_provider`.

The gateway neither retries nor falls back by itself, so a request routed to a failing backend fails: moving
the weights is the remediation. Each tool works on the `Gateway` its server holds. `TOOLS` is the table the
server registers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import anyio
from pydantic import Field

from mcp_servers.answers import WriteResult
from mcp_servers.errors import Unreachable, fail
from mcp_servers.gateway.adapters import GatewayAdapter
from mcp_servers.gateway.client import GatewayApi
from mcp_servers.gateway.flavors import Flavor, samples
from mcp_servers.gateway.health import ProviderHealthReport, health_report, window_of
from mcp_servers.gateway.routes import (
    RoutesView,
    check_backends,
    check_model,
    check_weights,
    failover_models,
    moved,
    ordered,
    routes_view,
)
from mcp_servers.gateway.table import RoutingTable, Weights
from mcp_servers.gateway.writes import apply
from mcp_servers.prometheus.client import PrometheusApi
from mcp_servers.toolkit import held, reads, writes

ModelName = Annotated[str, Field(min_length=1, max_length=253, description="a model name the gateway routes")]
BackendName = Annotated[str, Field(min_length=1, max_length=63, description="self-hosted or a hosted provider")]
Reason = Annotated[str, Field(min_length=1, max_length=500, description="why: kept in the routes' change history")]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=128,
                                      description="unique per intended change: a key already applied does nothing")]
DryRun = Annotated[bool, Field(description="validate on the server and show the result without storing it")]


@dataclass(frozen=True)
class Gateway:
    """The gateway as its tools reach it: where its routes live, its own API, the Prometheus holding its metrics
    (None: not configured) and the backends it knows, in their configured order."""

    routes: GatewayAdapter
    api: GatewayApi
    prometheus: PrometheusApi | None
    backends: tuple[str, ...]
    flavor: Flavor  # how this gateway exports its metrics

    def known_models(self, table: RoutingTable) -> list[str]:
        """The models the gateway serves, else those in the table: a route for a model the gateway does not serve
        would make it reject the whole table."""
        return self.api.models() or list(table.models)


async def gateway_routes(detail: Annotated[bool, Field(description="add the recent route changes")] = False,
                         gateway: Gateway = held(Gateway)) -> RoutesView:
    """The gateway's routing weights per model: which backend is primary and whether a hosted provider takes
    more than the standby share (traffic was moved to it). Says whether the gateway reports these routes in
    force, and its last reload error."""
    table = await asyncio.to_thread(gateway.routes.read_routes)
    in_force = await asyncio.to_thread(gateway.api.routes_in_force)
    return routes_view(table, gateway.routes.location, in_force, detail)


async def provider_health(
    minutes: Annotated[float, Field(ge=0.25, le=1440, description="window in Prometheus minutes; fractions "
                                    "allowed (0.5 = 30 s)")] = 5,
    window: Annotated[str | None, Field(pattern=r"^[0-9]+(ms|s|m|h)$", description="the window as a Prometheus "
                                        "duration (30s, 2m); when given it replaces minutes")] = None,
    detail: Annotated[bool, Field(description="add the traffic per model and backend")] = False,
    gateway: Gateway = held(Gateway),
) -> ProviderHealthReport:
    """Health of each backend (self-hosted and every hosted provider) from the gateway's metrics: request rate,
    5xx share, 429 share, timeout share, time-to-first-token p50/p95, and a status (failing: at least half the
    requests fail; degraded: 5xx, 429 or timeout share at least 1 % or TTFT p95 over 1 s; idle: no traffic),
    worst first.
    Also the latency of the gateway's shared dependencies (tokenizer, auth), which no routing change fixes."""
    prometheus = gateway.prometheus
    if prometheus is None:
        raise Unreachable("provider_health reads the gateway's metrics from Prometheus: set PROMETHEUS_URL")
    window = window or window_of(minutes)
    queries = gateway.flavor.queries(window)
    answers = await asyncio.gather(*(anyio.to_thread.run_sync(prometheus.query, q) for q in queries.values()))
    results = gateway.flavor.normalize({name: samples(a) for name, a in zip(queries, answers, strict=True)})
    return health_report(results, gateway.backends, window, detail)


def set_route_weights(
    model: ModelName,
    weights: Annotated[dict[str, Annotated[int, Field(ge=0, le=100)]], Field(
        description="backend -> whole percent, summing to 100; replaces the model's weights entirely")],
    reason: Reason,
    idempotency_key: IdempotencyKey,
    dry_run: DryRun = False,
    gateway: Gateway = held(Gateway),
) -> WriteResult:
    """Replaces one model's routing weights (whole percentages summing to 100) in the routes the gateway
    reads. Affects all of that model's traffic at once: destructive in that the previous weights are
    overwritten (returned as `before`, so it is reversible by setting them back); idempotent: the same weights
    again change nothing, and an idempotency key already applied does nothing."""
    check_backends(weights, gateway.backends)
    check_weights(model, weights)

    def change(table: RoutingTable) -> dict[str, Weights]:
        check_model(model, gateway.known_models(table))
        return {model: ordered(weights, gateway.backends)}

    return apply(gateway.routes, change, action="set_route_weights", target=f"model/{model}", reason=reason,
                 idempotency_key=idempotency_key, dry_run=dry_run)


def failover_provider(
    model: Annotated[str, Field(min_length=1, max_length=253,
                                description="a model the gateway routes, or * for every model using from")],
    from_backend: BackendName,
    to_backend: BackendName,
    reason: Reason,
    idempotency_key: IdempotencyKey,
    dry_run: DryRun = False,
    gateway: Gateway = held(Gateway),
) -> WriteResult:
    """Moves all of from_backend's share of a model's traffic (or of every model's, with model `*`) to
    to_backend, leaving from_backend at 0. For a self-hosted outage move self-hosted to the standby provider;
    for a provider outage move the provider to self-hosted. Destructive in that live traffic moves at once
    (reversible with set_route_weights; `before` holds the old weights); idempotent: once moved there is
    nothing left to move, and an idempotency key already applied does nothing."""
    check_backends([from_backend, to_backend], gateway.backends)
    if from_backend == to_backend:
        raise fail("bad_input", f"from_backend and to_backend are both {from_backend}: nothing to move")

    def change(table: RoutingTable) -> dict[str, Weights]:
        models = failover_models(model, from_backend, table, lambda: gateway.known_models(table))
        return {m: ordered(moved(table.models[m], from_backend, to_backend), gateway.backends) for m in models}

    return apply(gateway.routes, change, action="failover_provider", target=f"provider/{from_backend}",
                 reason=reason, idempotency_key=idempotency_key, dry_run=dry_run)


TOOLS = (
    reads(gateway_routes, "Gateway routing table"),
    reads(provider_health, "Gateway provider health"),
    writes(set_route_weights, "Set a model's routing weights", destructive=True, idempotent=True),
    writes(failover_provider, "Fail over from a backend", destructive=True, idempotent=True),
)
