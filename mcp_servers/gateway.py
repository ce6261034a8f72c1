"""The gateway server: the routing table (weights per model and backend), the health of every backend as the
gateway's own metrics show it, and the two writes that move traffic: `set_route_weights` and `failover_provider`.

The gateway neither retries nor falls back by itself, so a request routed to a failing backend fails: moving
the weights is the remediation. Routes are read and written through a `GatewayAdapter` (gateway_adapters.py).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import httpx
from fastmcp import FastMCP
from pydantic import BaseModel, Field

from mcp_servers.errors import fail, kind_of_status, transport_kind
from mcp_servers.gateway_adapters import (
    ConfigMapRoutes,
    GatewayAdapter,
    GatewayAdapterError,
    RouteChange,
    RoutesConflict,
    RoutingTable,
    Weights,
)
from mcp_servers.settings import HttpEndpoint, Settings, tls_context
from mcp_servers.toolkit import Capped, WriteResult, read_tool, write_tool

SELF_HOSTED = "self-hosted"
STANDBY_SHARE = 5  # percent a hosted backup gets to stay warm; more than this means traffic was moved to it
WRITE_ATTEMPTS = 3  # re-reads after a concurrent edit before giving up
HTTP_TIMEOUT_S = 10.0

# Status thresholds. The availability objective is 99.9 % non-5xx and the latency objective TTFT <= 1 s.
FAILING_ERROR_RATIO = 0.5  # most requests fail: traffic on this backend is lost
DEGRADED_RATIO = 0.01  # 5xx or 429 share: ten times the availability budget
TTFT_OBJECTIVE_S = 1.0
DEPENDENCY_DEGRADED_S, DEPENDENCY_FAILING_S = 0.1, 0.5  # p95 of one call; healthy is a few milliseconds

Status = Literal["failing", "degraded", "ok", "idle"]
STATUS_ORDER: dict[str, int] = {"failing": 0, "degraded": 1, "ok": 2, "idle": 3}

ModelName = Annotated[str, Field(min_length=1, max_length=253, description="a model name the gateway routes")]
BackendName = Annotated[str, Field(min_length=1, max_length=63, description="self-hosted or a hosted provider")]
Reason = Annotated[str, Field(min_length=1, max_length=500, description="why: kept in the routes' change history")]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=128,
                                      description="unique per intended change: a key already applied does nothing")]
DryRun = Annotated[bool, Field(description="validate on the server and show the result without storing it")]


# -- outputs -------------------------------------------------------------------------------------------------
class ModelRoute(BaseModel):
    model: str
    weights: Weights = Field(description="backend -> percent of the model's traffic")
    primary: str = Field(description="the backend with the largest share")
    hosted_share: int = Field(description="percent on hosted providers (everything but self-hosted)")
    shifted_to: list[str] = Field(description=f"hosted providers above the {STANDBY_SHARE} % standby share")


class RoutesView(BaseModel):
    summary: str
    source: str = Field(description="where the routes live and the version read")
    models: list[ModelRoute]
    in_force: bool | None = Field(description="the gateway reports exactly these routes in force; null: unknown")
    reload_error: str | None = Field(description="the gateway's last error loading the routes, if it reports one")
    recent_changes: list[RouteChange] | None = Field(default=None, description="with detail: newest first")


class BackendHealth(BaseModel):
    backend: str
    status: Status
    reasons: list[str]
    requests_per_s: float
    error_ratio: float = Field(description="share of the gateway's answers that were 5xx")
    rate_limited_ratio: float = Field(description="share of the backend's answers that were 429")
    ttft_p50_s: float | None = Field(description="time to first token of successful requests")
    ttft_p95_s: float | None
    models: list[str] = Field(description="models whose traffic reached this backend in the window")


class DependencyHealth(BaseModel):
    dependency: str
    status: Status
    reasons: list[str]
    calls_per_s: float
    p50_s: float | None
    p95_s: float | None


class ModelTraffic(BaseModel):
    model: str
    backend: str
    requests_per_s: float
    error_ratio: float


class ProviderHealthReport(BaseModel):
    summary: str
    window: str
    backends: list[BackendHealth] = Field(description="worst first")
    dependencies: list[DependencyHealth] = Field(description="the gateway's calls to shared services, worst first")
    per_model: Capped[ModelTraffic] | None = Field(default=None, description="with detail: worst first")


# -- the server ----------------------------------------------------------------------------------------------
def build(settings: Settings, adapter: GatewayAdapter | None = None) -> FastMCP:
    """The gateway server; `adapter` defaults to the routes ConfigMap the settings name."""
    routes: GatewayAdapter = adapter or ConfigMapRoutes(
        settings.gateway_namespace or settings.namespace, settings.gateway_routes_configmap,
        kubeconfig=settings.kubeconfig, context=settings.kube_context)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, object]]:
        try:
            yield {}
        finally:
            routes.close()

    mcp = FastMCP("gateway", instructions="Routing of model traffic between the self-hosted fleet and hosted "
                  "backup providers: the routing table, provider health, and the writes that move traffic.",
                  lifespan=lifespan)
    backends = settings.gateway_backends

    @read_tool(mcp, "Gateway routing table")
    async def gateway_routes(detail: Annotated[bool, Field(description="add the recent route changes")] = False,
                             ) -> RoutesView:
        """The gateway's routing weights per model: which backend is primary and whether a hosted provider takes
        more than the standby share (traffic was moved to it). Says whether the gateway reports these routes in
        force, and its last reload error."""
        table = await asyncio.to_thread(_read, routes)
        in_force = await _gateway_routes_in_force(settings.gateway_url)
        return routes_view(table, routes.location, in_force, detail)

    @read_tool(mcp, "Gateway provider health")
    async def provider_health(
        minutes: Annotated[float, Field(ge=0.25, le=1440, description="window in Prometheus minutes; fractions "
                                        "allowed (0.5 = 30 s)")] = 5,
        detail: Annotated[bool, Field(description="add the traffic per model and backend")] = False,
    ) -> ProviderHealthReport:
        """Health of each backend (self-hosted and every hosted provider) from the gateway's metrics: request rate,
        5xx share, 429 share, time-to-first-token p50/p95, and a status (failing: at least half the requests
        fail; degraded: 5xx or 429 share at least 1 % or TTFT p95 over 1 s; idle: no traffic), worst first.
        Also the latency of the gateway's shared dependencies (tokenizer, auth), which no routing change fixes."""
        if settings.prometheus is None:
            raise fail("unreachable", "provider_health reads the gateway's metrics from Prometheus: set PROMETHEUS_URL")
        return await health_report(settings.prometheus, backends, minutes, detail)

    @write_tool(mcp, "Set a model's routing weights", destructive=True, idempotent=True)
    def set_route_weights(
        model: ModelName,
        weights: Annotated[dict[str, Annotated[int, Field(ge=0, le=100)]], Field(
            description="backend -> whole percent, summing to 100; replaces the model's weights entirely")],
        reason: Reason,
        idempotency_key: IdempotencyKey,
        dry_run: DryRun = False,
    ) -> WriteResult:
        """Replaces one model's routing weights (whole percentages summing to 100) in the routes the gateway
        reads. Affects all of that model's traffic at once: destructive in that the previous weights are
        overwritten (returned as `before`, so it is reversible by setting them back); idempotent: the same weights
        again change nothing, and an idempotency key already applied does nothing."""
        _check_backends(weights, backends)
        if sum(weights.values()) != 100:
            raise fail("bad_input",
                       f"weights for {model} sum to {sum(weights.values())}: they must be whole percentages "
                       "summing to 100")

        def change(table: RoutingTable) -> dict[str, Weights]:
            _check_model(model, table, settings.gateway_url)
            return {model: _ordered(weights, backends)}

        return _apply(routes, change, action="set_route_weights", target=f"model/{model}", reason=reason,
                      idempotency_key=idempotency_key, dry_run=dry_run)

    @write_tool(mcp, "Fail over from a backend", destructive=True, idempotent=True)
    def failover_provider(
        model: Annotated[str, Field(min_length=1, max_length=253,
                                    description="a model the gateway routes, or * for every model using from")],
        from_backend: BackendName,
        to_backend: BackendName,
        reason: Reason,
        idempotency_key: IdempotencyKey,
        dry_run: DryRun = False,
    ) -> WriteResult:
        """Moves all of from_backend's share of a model's traffic (or of every model's, with model `*`) to
        to_backend, leaving from_backend at 0. For a self-hosted outage move self-hosted to the standby provider;
        for a provider outage move the provider to self-hosted. Destructive in that live traffic moves at once
        (reversible with set_route_weights; `before` holds the old weights); idempotent: once moved there is
        nothing left to move, and an idempotency key already applied does nothing."""
        _check_backends([from_backend, to_backend], backends)
        if from_backend == to_backend:
            raise fail("bad_input", f"from_backend and to_backend are both {from_backend}: nothing to move")

        def change(table: RoutingTable) -> dict[str, Weights]:
            models = _failover_models(model, from_backend, table, settings.gateway_url)
            return {m: _ordered(_move(table.models[m], from_backend, to_backend), backends) for m in models}

        return _apply(routes, change, action="failover_provider", target=f"provider/{from_backend}",
                      reason=reason, idempotency_key=idempotency_key, dry_run=dry_run)

    return mcp


# -- routes --------------------------------------------------------------------------------------------------
def _read(adapter: GatewayAdapter) -> RoutingTable:
    try:
        return adapter.read_routes()
    except GatewayAdapterError as error:
        raise fail(error.kind, str(error)) from None


def routes_view(table: RoutingTable, location: str, in_force: tuple[dict[str, Weights], str | None] | None,
                detail: bool) -> RoutesView:
    models = [_model_route(name, weights) for name, weights in table.models.items()]
    gateway_routes, reload_error = in_force if in_force else (None, None)
    matches = None if gateway_routes is None else gateway_routes == table.models
    return RoutesView(summary=_routes_summary(models, matches, reload_error),
                      source=f"{location} at version {table.version}", models=models, in_force=matches,
                      reload_error=reload_error, recent_changes=table.changes[::-1] if detail else None)


def _model_route(model: str, weights: Weights) -> ModelRoute:
    # Ties go to self-hosted: equal shares are not a failover.
    primary = max(weights, key=lambda b: (weights[b], b == SELF_HOSTED)) if weights else SELF_HOSTED
    hosted = {b: w for b, w in weights.items() if b != SELF_HOSTED}
    return ModelRoute(model=model, weights=weights, primary=primary, hosted_share=sum(hosted.values()),
                      shifted_to=sorted(b for b, w in hosted.items() if w > STANDBY_SHARE))


def _routes_summary(models: list[ModelRoute], in_force: bool | None, reload_error: str | None) -> str:
    shifted = [m for m in models if m.shifted_to or m.primary != SELF_HOSTED]
    if shifted:
        moved = "; ".join(f"{m.model}: " + ", ".join(f"{b} {w}%" for b, w in m.weights.items() if w) for m in shifted)
        text = f"{len(models)} models, {len(shifted)} with traffic moved to hosted providers ({moved})"
    else:
        text = f"{len(models)} models, all primarily self-hosted with at most {STANDBY_SHARE}% on a standby provider"
    if in_force is False:
        text += "; the gateway does not report these routes in force yet"
    if reload_error:
        text += f"; the gateway's last reload failed: {reload_error}"
    return text


async def _gateway_routes_in_force(gateway_url: str | None) -> tuple[dict[str, Weights], str | None] | None:
    """The routes the gateway itself says it uses, where it has an admin endpoint for them (best effort)."""
    if not gateway_url:
        return None
    try:
        async with httpx.AsyncClient(verify=tls_context(), timeout=HTTP_TIMEOUT_S) as http:
            body = (await http.get(f"{gateway_url.rstrip('/')}/routes")).raise_for_status().json()
        return dict(body["routes"]), body.get("reload_error")
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


# -- writes --------------------------------------------------------------------------------------------------
def _apply(adapter: GatewayAdapter, change: Callable[[RoutingTable], dict[str, Weights]], *, action: str,
           target: str, reason: str, idempotency_key: str, dry_run: bool) -> WriteResult:
    """Reads, changes and writes the table; re-reads when someone else wrote in between, so no edit is lost."""
    def result(before: dict[str, Weights], after: dict[str, Weights], message: str, replayed: bool = False,
               ) -> WriteResult:
        return WriteResult(action=action, target=target, dry_run=dry_run, reason=reason,
                           idempotency_key=idempotency_key, replayed=replayed, before=before, after=after,
                           message=message)

    for _ in range(WRITE_ATTEMPTS):
        table = _read(adapter)
        done = table.change(idempotency_key)
        if done is not None:
            current = {m: table.models.get(m, {}) for m in done.changed}
            return result(current, current, f"idempotency key {idempotency_key!r} was already applied at {done.at} "
                          f"({done.reason}), setting {done.changed}: nothing done", replayed=True)
        changed = change(table)
        before = {m: table.models.get(m, {}) for m in changed}
        try:
            stored = adapter.write_routes(table.model_copy(update={"models": {**table.models, **changed}}),
                                          reason, idempotency_key, dry_run)
        except RoutesConflict:
            continue
        except GatewayAdapterError as error:
            raise fail(error.kind, str(error)) from None
        after = {m: stored.models[m] for m in changed}
        verb = "would change" if dry_run else "changed"
        return result(before, after, f"{verb} the routes of {', '.join(changed)} in {adapter.location}"
                      + ("" if dry_run else "; the gateway applies them when it re-reads the routes"))
    raise fail("conflict",
               f"{adapter.location} kept changing while this write was tried {WRITE_ATTEMPTS} times: try again")


def _check_backends(weights: Iterable[str], backends: tuple[str, ...]) -> None:
    unknown = sorted(set(weights) - set(backends))
    if unknown:
        raise fail("bad_input", f"unknown backend {', '.join(unknown)}: known backends are {', '.join(backends)}")


def _check_model(model: str, table: RoutingTable, gateway_url: str | None) -> None:
    known = _known_models(table, gateway_url)
    if model not in known:
        raise fail("not_found", f"unknown model {model!r}: the gateway routes {', '.join(known)}")


def _known_models(table: RoutingTable, gateway_url: str | None) -> list[str]:
    """The models the gateway serves (its /v1/models), else those in the table: a route for a model the gateway
    does not serve would make it reject the whole table."""
    if gateway_url:
        try:
            body = httpx.get(f"{gateway_url.rstrip('/')}/v1/models", verify=tls_context(),
                             timeout=HTTP_TIMEOUT_S).raise_for_status()
            return [str(m["id"]) for m in body.json()["data"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
    return list(table.models)


def _failover_models(model: str, from_backend: str, table: RoutingTable, gateway_url: str | None) -> list[str]:
    if model == "*":
        models = [m for m, w in table.models.items() if w.get(from_backend, 0) > 0]
        if not models:
            raise fail("conflict", f"no model sends traffic to {from_backend}: nothing to fail over")
        return models
    _check_model(model, table, gateway_url)
    if table.models.get(model, {}).get(from_backend, 0) == 0:
        raise fail("conflict", f"{model} sends no traffic to {from_backend} (weights {table.models.get(model, {})}): "
                   "nothing to fail over")
    return [model]


def _move(weights: Weights, from_backend: str, to_backend: str) -> Weights:
    moved = dict(weights)
    moved[to_backend] = moved.get(to_backend, 0) + moved.get(from_backend, 0)
    moved[from_backend] = 0  # kept at 0 so the table shows where the traffic used to go
    return moved


def _ordered(weights: Weights, backends: tuple[str, ...]) -> Weights:
    """The configured order, so tables read alike; a backend the table has but the settings lack is kept."""
    return {b: weights[b] for b in sorted(weights, key=lambda b: backends.index(b) if b in backends else len(backends))}


# -- health --------------------------------------------------------------------------------------------------
async def health_report(prometheus: HttpEndpoint, backends: tuple[str, ...], minutes: float,
                        detail: bool) -> ProviderHealthReport:
    w = f"{round(minutes * 60)}s"
    queries = {
        "requests": f"sum by (model, provider, code) (rate(gateway_requests_total[{w}]))",
        "upstream": f"sum by (provider, code) (rate(gateway_provider_responses_total[{w}]))",
        "ttft_p50": _quantile(0.5, "gateway_time_to_first_token_seconds", "provider", w),
        "ttft_p95": _quantile(0.95, "gateway_time_to_first_token_seconds", "provider", w),
        "dep_rate": f"sum by (dependency) (rate(gateway_upstream_request_duration_seconds_count[{w}]))",
        "dep_p50": _quantile(0.5, "gateway_upstream_request_duration_seconds", "dependency", w),
        "dep_p95": _quantile(0.95, "gateway_upstream_request_duration_seconds", "dependency", w),
    }
    async with httpx.AsyncClient(headers=prometheus.headers(), auth=prometheus.auth(), verify=prometheus.tls(),
                                 timeout=HTTP_TIMEOUT_S) as http:
        answers = await asyncio.gather(*(_query(http, prometheus.base, q) for q in queries.values()))
    results = dict(zip(queries, answers, strict=True))
    traffic = _traffic(results["requests"])
    names = list(dict.fromkeys([*backends, *(t[1] for t in traffic)]))
    health = sorted((_backend_health(b, traffic, results) for b in names),
                    key=lambda h: (STATUS_ORDER[h.status], -h.error_ratio, -h.rate_limited_ratio, h.backend))
    dependencies = sorted((_dependency_health(d, results) for d in _label_values(results["dep_rate"], "dependency")),
                          key=lambda d: (STATUS_ORDER[d.status], -(d.p95_s or 0.0), d.dependency))
    per_model = Capped.of(sorted(_per_model(traffic), key=lambda t: (-t.error_ratio, t.model, t.backend))) \
        if detail else None
    return ProviderHealthReport(summary=_health_summary(health, dependencies, traffic), window=w,
                                backends=health, dependencies=dependencies, per_model=per_model)


def _quantile(q: float, histogram: str, by: str, window: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({histogram}_bucket[{window}])))"


async def _query(http: httpx.AsyncClient, base: str, promql: str) -> list[tuple[dict[str, str], float]]:
    try:
        response = await http.get(f"{base}/api/v1/query", params={"query": promql})
        body = response.json()
    except httpx.HTTPError as error:
        raise fail(transport_kind(error), f"Prometheus at {base} is unreachable: {error}") from None
    except ValueError:
        raise fail(kind_of_status(response.status_code) if response.status_code >= 400 else "internal",
                   f"Prometheus at {base} answered {response.status_code} without JSON") from None
    if body.get("status") != "success":
        raise fail(kind_of_status(response.status_code) if response.status_code >= 400 else "internal",
                   f"Prometheus refused {promql!r}: {body.get('error', response.text)}")
    return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


Traffic = dict[tuple[str, str, str], float]  # (model, backend, code) -> requests per second


def _traffic(samples: list[tuple[dict[str, str], float]]) -> Traffic:
    traffic: Traffic = defaultdict(float)
    for labels, value in samples:
        if "provider" in labels and math.isfinite(value):
            traffic[labels.get("model", ""), labels["provider"], labels.get("code", "")] += value
    return traffic


def _label_values(samples: list[tuple[dict[str, str], float]], label: str) -> list[str]:
    return [labels[label] for labels, _ in samples if label in labels]


def _by(samples: list[tuple[dict[str, str], float]], label: str, value: str) -> float | None:
    found = next((v for labels, v in samples if labels.get(label) == value), None)
    return found if found is not None and math.isfinite(found) else None


def _share(counts: dict[str, float], match: Callable[[str], bool]) -> float:
    total = sum(counts.values())
    return sum(v for code, v in counts.items() if match(code)) / total if total > 0 else 0.0


def _backend_health(backend: str, traffic: Traffic, results: dict[str, list[tuple[dict[str, str], float]]],
                    ) -> BackendHealth:
    codes: dict[str, float] = defaultdict(float)
    for (_, b, code), rate in traffic.items():
        if b == backend:
            codes[code] += rate
    upstream = {labels.get("code", ""): v for labels, v in results["upstream"] if labels.get("provider") == backend}
    rate = sum(codes.values())
    error_ratio = _share(codes, lambda c: c.startswith("5"))
    # A hosted provider's 429s reach the client as the gateway's 503: its own answers say which were throttled.
    limited = _share(upstream, lambda c: c == "429") if upstream else _share(codes, lambda c: c == "429")
    p50, p95 = _by(results["ttft_p50"], "provider", backend), _by(results["ttft_p95"], "provider", backend)
    status, reasons = _backend_status(rate, error_ratio, limited, p95)
    models = sorted({m for (m, b, _), r in traffic.items() if b == backend and r > 0})
    return BackendHealth(backend=backend, status=status, reasons=reasons, requests_per_s=round(rate, 4),
                         error_ratio=round(error_ratio, 4), rate_limited_ratio=round(limited, 4),
                         ttft_p50_s=_rounded(p50), ttft_p95_s=_rounded(p95), models=models)


def _backend_status(rate: float, error_ratio: float, limited: float, ttft_p95: float | None,
                    ) -> tuple[Status, list[str]]:
    if rate <= 0:
        return "idle", ["no requests in the window"]
    reasons = []
    if error_ratio >= DEGRADED_RATIO:
        reasons.append(f"{error_ratio:.1%} of requests answered 5xx")
    if limited >= DEGRADED_RATIO:
        reasons.append(f"{limited:.1%} of its answers were 429 (rate limited)")
    if ttft_p95 is not None and ttft_p95 > TTFT_OBJECTIVE_S:
        reasons.append(f"TTFT p95 {ttft_p95:.2f} s over the {TTFT_OBJECTIVE_S:g} s latency objective")
    if error_ratio >= FAILING_ERROR_RATIO:
        return "failing", reasons
    return ("degraded" if reasons else "ok"), reasons


def _dependency_health(dependency: str, results: dict[str, list[tuple[dict[str, str], float]]],
                       ) -> DependencyHealth:
    rate = _by(results["dep_rate"], "dependency", dependency) or 0.0
    p50, p95 = _by(results["dep_p50"], "dependency", dependency), _by(results["dep_p95"], "dependency", dependency)
    status: Status = "idle" if rate <= 0 else "ok"
    reasons = ["no calls in the window"] if rate <= 0 else []
    if p95 is not None and p95 >= DEPENDENCY_DEGRADED_S:
        status = "failing" if p95 >= DEPENDENCY_FAILING_S else "degraded"
        reasons.append(f"p95 {p95:.3f} s per call, added to every request's latency; no routing change avoids it")
    return DependencyHealth(dependency=dependency, status=status, reasons=reasons, calls_per_s=round(rate, 4),
                            p50_s=_rounded(p50), p95_s=_rounded(p95))


def _per_model(traffic: Traffic) -> list[ModelTraffic]:
    pairs: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (model, backend, code), rate in traffic.items():
        pairs[model, backend][code] += rate
    return [ModelTraffic(model=m, backend=b, requests_per_s=round(sum(codes.values()), 4),
                         error_ratio=round(_share(codes, lambda c: c.startswith("5")), 4))
            for (m, b), codes in pairs.items()]


def _health_summary(backends: list[BackendHealth], dependencies: list[DependencyHealth], traffic: Traffic) -> str:
    if not traffic:
        return ("no gateway traffic in the window: is the gateway scraped by Prometheus "
                "(metric gateway_requests_total)?")
    return (_summary_part("backends", [(b.backend, b.status, b.reasons) for b in backends]) + ". "
            + _summary_part("dependencies", [(d.dependency, d.status, d.reasons) for d in dependencies]))


def _summary_part(kind: str, items: list[tuple[str, Status, list[str]]]) -> str:
    bad = [f"{name} {status} ({', '.join(reasons)})" for name, status, reasons in items
           if status in ("failing", "degraded")]
    idle = sum(1 for _, status, _ in items if status == "idle")
    rest = f"{len(items) - len(bad) - idle} ok" + (f", {idle} idle" if idle else "")
    return f"{len(items)} {kind}: " + "; ".join([*bad, rest])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
