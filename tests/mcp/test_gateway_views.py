"""The gateway server's views and its write loop alone: routes and metrics in, answers out, no gateway needed."""

from __future__ import annotations

import pytest

from mcp_servers.errors import Conflict
from mcp_servers.failures import Failure
from mcp_servers.gateway.adapters import RoutesConflict
from mcp_servers.gateway.health import health_report
from mcp_servers.gateway.routes import failover_models, moved, ordered, routes_view
from mcp_servers.gateway.table import RoutingTable
from mcp_servers.gateway.writes import WRITE_ATTEMPTS, apply
from tests.signals import fires

BACKENDS = ("self-hosted", "anthropic", "openai", "google")
TABLE = RoutingTable(models={"qwen-7b": {"self-hosted": 95, "openai": 5},
                             "llama-70b": {"self-hosted": 20, "anthropic": 80}}, version="7")


def test_the_routes_view_says_where_traffic_was_moved_and_whether_it_is_in_force() -> None:
    view = routes_view(TABLE, "ConfigMap inference/gateway-routes", ({"qwen-7b": {"self-hosted": 100}}, None), False)
    assert view.source == "ConfigMap inference/gateway-routes at version 7"
    assert [(m.model, m.primary, m.shifted_to) for m in view.models] == [
        ("qwen-7b", "self-hosted", []), ("llama-70b", "anthropic", ["anthropic"])]
    assert view.in_force is False and view.recent_changes is None
    assert view.summary == ("2 models, 1 with traffic moved to hosted providers (llama-70b: self-hosted 20%, "
                            "anthropic 80%); the gateway does not report these routes in force yet")


def test_a_failover_moves_the_whole_share_and_keeps_the_configured_order() -> None:
    assert ordered(moved({"openai": 5, "self-hosted": 95}, "self-hosted", "openai"), BACKENDS) == {
        "self-hosted": 0, "openai": 100}
    asked: list[str] = []

    def known() -> list[str]:
        asked.append("models")
        return list(TABLE.models)

    assert failover_models("*", "self-hosted", TABLE, known) == ["qwen-7b", "llama-70b"]
    assert not asked, "a failover of every model asks the gateway for none"
    with pytest.raises(Failure) as nothing:
        failover_models("qwen-7b", "google", TABLE, known)
    assert nothing.value.kind == "conflict"
    with pytest.raises(Failure) as unknown:
        failover_models("mistral-7b", "self-hosted", TABLE, known)
    assert unknown.value.kind == "not_found"


def test_the_health_report_ranks_a_failing_backend_first() -> None:
    results = {"requests": [({"model": "qwen-7b", "provider": "openai", "code": "503"}, 3.0),
                            ({"model": "qwen-7b", "provider": "openai", "code": "200"}, 1.0),
                            ({"model": "qwen-7b", "provider": "self-hosted", "code": "200"}, 10.0)],
               "upstream": [], "ttft_p50": [], "ttft_p95": [({"provider": "self-hosted"}, 0.4)],
               "dep_rate": [({"dependency": "tokenizer"}, 5.0)], "dep_p50": [],
               "dep_p95": [({"dependency": "tokenizer"}, 0.2)]}
    report = health_report(results, BACKENDS, "300s", detail=True)
    assert [(b.backend, b.status) for b in report.backends] == [
        ("openai", "failing"), ("self-hosted", "ok"), ("anthropic", "idle"), ("google", "idle")]
    assert report.backends[0].error_ratio == 0.75
    assert [(d.dependency, d.status) for d in report.dependencies] == [("tokenizer", "degraded")]
    assert report.per_model is not None and report.per_model.items[0].backend == "openai"
    assert report.summary.startswith("4 backends: openai failing (75.0% of requests answered 5xx); 1 ok, 2 idle. ")


def test_timeouts_show_per_backend_and_per_model_apart_from_5xx() -> None:
    results = {"requests": [({"model": "llama-70b", "provider": "self-hosted", "code": "408"}, 0.5),
                            ({"model": "llama-70b", "provider": "self-hosted", "code": "200"}, 9.5),
                            ({"model": "qwen-7b", "provider": "self-hosted", "code": "200"}, 10.0)],
               "upstream": [], "ttft_p50": [], "ttft_p95": [], "dep_rate": [], "dep_p50": [], "dep_p95": []}
    report = health_report(results, BACKENDS, "120s", detail=True)
    self_hosted = report.backends[0]
    assert (self_hosted.backend, self_hosted.status) == ("self-hosted", "degraded")
    assert (self_hosted.timeout_ratio, self_hosted.error_ratio) == (0.025, 0)
    assert self_hosted.reasons == ["2.5% of requests timed out (408)"]
    assert report.per_model is not None
    assert {(t.model, t.timeout_ratio) for t in report.per_model.items} == {("llama-70b", 0.05), ("qwen-7b", 0)}
    answer = report.model_dump()
    assert fires("hung-pod", "gateway-times-out-the-model", answer, model="llama-70b")
    assert not fires("hung-pod", "gateway-times-out-the-model", answer, model="qwen-7b")


class AlwaysRacing:
    """Routes that another writer changes before every write of ours lands."""

    kind, location = "memory", "memory routes"

    def __init__(self) -> None:
        self.writes = 0

    def read_routes(self) -> RoutingTable:
        return TABLE

    def write_routes(self, table: RoutingTable, reason: str, idempotency_key: str, dry_run: bool) -> RoutingTable:
        self.writes += 1
        raise RoutesConflict("changed since it was read")

    def close(self) -> None:
        pass


def test_a_write_that_keeps_losing_the_race_gives_up_as_a_conflict() -> None:
    routes = AlwaysRacing()
    with pytest.raises(Conflict, match=f"^memory routes kept changing while this write was tried {WRITE_ATTEMPTS} "
                                       "times: try again$"):
        apply(routes, lambda table: {"qwen-7b": {"self-hosted": 100}}, action="set_route_weights",
              target="model/qwen-7b", reason="test", idempotency_key="k", dry_run=False)
    assert routes.writes == WRITE_ATTEMPTS
