"""The routing table as a model reads it, and the changes the write tools make to it (pure: a table in, a view or
the new weights out; which models exist is passed in, not looked up)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pydantic import BaseModel, Field

from mcp_servers.failures import Failure
from mcp_servers.gateway.table import RouteChange, RoutingTable, Weights

SELF_HOSTED = "self-hosted"
STANDBY_SHARE = 5  # percent a hosted backup gets to stay warm; more than this means traffic was moved to it


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


# -- the changes the write tools make ------------------------------------------------------------------------
def check_backends(weights: Iterable[str], backends: tuple[str, ...]) -> None:
    unknown = sorted(set(weights) - set(backends))
    if unknown:
        raise Failure("bad_input", f"unknown backend {', '.join(unknown)}: known backends are {', '.join(backends)}")


def check_weights(model: str, weights: Weights) -> None:
    if sum(weights.values()) != 100:
        raise Failure("bad_input",
                      f"weights for {model} sum to {sum(weights.values())}: they must be whole percentages "
                      "summing to 100")


def check_model(model: str, known: list[str]) -> None:
    if model not in known:
        raise Failure("not_found", f"unknown model {model!r}: the gateway routes {', '.join(known)}")


def failover_models(model: str, from_backend: str, table: RoutingTable, known: Callable[[], list[str]]) -> list[str]:
    """The models a failover from `from_backend` moves: `model`, or with `*` every model that sends it traffic.
    `known` gives the models the gateway serves, asked only when one model is named."""
    if model == "*":
        models = [m for m, w in table.models.items() if w.get(from_backend, 0) > 0]
        if not models:
            raise Failure("conflict", f"no model sends traffic to {from_backend}: nothing to fail over")
        return models
    check_model(model, known())
    if table.models.get(model, {}).get(from_backend, 0) == 0:
        raise Failure("conflict", f"{model} sends no traffic to {from_backend} "
                      f"(weights {table.models.get(model, {})}): nothing to fail over")
    return [model]


def moved(weights: Weights, from_backend: str, to_backend: str) -> Weights:
    """The weights with all of `from_backend`'s share given to `to_backend`."""
    result = dict(weights)
    result[to_backend] = result.get(to_backend, 0) + result.get(from_backend, 0)
    result[from_backend] = 0  # kept at 0 so the table shows where the traffic used to go
    return result


def ordered(weights: Weights, backends: tuple[str, ...]) -> Weights:
    """The configured order, so tables read alike; a backend the table has but the settings lack is kept."""
    return {b: weights[b] for b in sorted(weights, key=lambda b: backends.index(b) if b in backends else len(backends))}
