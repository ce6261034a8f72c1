"""The gateway server: the routing table and provider health as the sandbox's gateway and Prometheus show them,
and the writes that move traffic, stored in the ConfigMap the gateway re-reads.

Writes without faults share one module sandbox (`routes_fleet`); each of those tests changes a different model
(or only dry-runs), so none depends on another's outcome. The fault test takes its own `fresh_fleet`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers import compose
from mcp_servers.gateway import build
from mcp_servers.gateway.adapters import ConfigMapRoutes, RoutesConflict
from mcp_servers.gateway.table import RouteChange, RoutingTable
from mcp_servers.kubernetes.client import Kube
from mcp_servers.settings import Settings
from tests.mcp.calls import call, refusal
from tests.polling import until

pytestmark = pytest.mark.anyio

# LiteLLM's model_list holds every provider for every model; only the standby has a weight.
DEFAULT_ROUTES = {"llama-70b": {"self-hosted": 95, "anthropic": 5, "openai": 0, "google": 0},
                  "qwen-7b": {"self-hosted": 95, "anthropic": 0, "openai": 5, "google": 0},
                  "mistral-7b": {"self-hosted": 95, "anthropic": 0, "openai": 0, "google": 5}}


def full(weights: dict[str, int]) -> dict[str, int]:
    """A model's weights as stored: every configured backend, those left out at 0."""
    return {b: weights.get(b, 0) for b in ("self-hosted", "anthropic", "openai", "google")}


def gateway_client(sandbox: RunningSandbox) -> Client:
    return Client(build(Settings.load(env=sandbox.agent_env())))


@pytest.fixture(scope="module")
def routes_fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox() as sandbox:
        yield sandbox


# -- reads on the shared fleet -------------------------------------------------------------------------------
async def test_each_model_is_mostly_self_hosted_with_its_standby_warm(fleet: RunningSandbox) -> None:
    async with gateway_client(fleet) as client:
        view = await call(client, "gateway_routes")
    assert {m["model"]: m["weights"] for m in view["models"]} == DEFAULT_ROUTES
    assert all(m["primary"] == "self-hosted" and m["shifted_to"] == [] and m["hosted_share"] == 5
               for m in view["models"])
    assert view["in_force"] is True and view["reload_error"] is None
    assert view["summary"].startswith("3 models, all primarily self-hosted")
    assert view["source"].startswith("ConfigMap inference/gateway-routes at version ")


async def test_a_healthy_fleet_has_every_backend_and_dependency_ok(fleet: RunningSandbox) -> None:
    async with gateway_client(fleet) as client:
        async def every_backend_seen() -> dict[str, Any] | None:
            # A counter's first sample gives no rate: a young fleet's 5 % standbys show idle for a few seconds.
            report = await call(client, "provider_health", detail=True)
            return report if all(b["status"] != "idle" for b in report["backends"]) else None

        report = await until(every_backend_seen, "traffic on every backend")
    backends = {b["backend"]: b for b in report["backends"]}
    assert set(backends) == {"self-hosted", "anthropic", "openai", "google"}
    assert all(b["status"] == "ok" and b["reasons"] == [] and b["requests_per_s"] > 0 for b in backends.values())
    assert backends["openai"]["models"] == ["qwen-7b"]
    assert backends["self-hosted"]["models"] == ["llama-70b", "mistral-7b", "qwen-7b"]
    assert backends["self-hosted"]["ttft_p95_s"] is not None and backends["self-hosted"]["ttft_p95_s"] < 1.0
    dependencies = {d["dependency"]: d for d in report["dependencies"]}
    assert set(dependencies) == {"tokenizer-service", "auth-service"}
    assert all(d["status"] == "ok" and d["p95_s"] < 0.1 for d in dependencies.values())
    assert report["summary"] == "4 backends: 4 ok. 2 dependencies: 2 ok"
    pairs = {(t["model"], t["backend"]) for t in report["per_model"]["items"]}
    assert pairs == {(m, b) for m, weights in DEFAULT_ROUTES.items() for b, w in weights.items() if w > 0}


async def test_a_window_under_15_seconds_is_refused(fleet: RunningSandbox) -> None:
    async with gateway_client(fleet) as client:
        assert "minutes" in await refusal(client, "provider_health", minutes=0)


async def test_a_window_that_is_not_a_prometheus_duration_is_refused(fleet: RunningSandbox) -> None:
    async with gateway_client(fleet) as client:
        assert "window" in await refusal(client, "provider_health", window="5 minutes")


BAD_WEIGHTS = [
    pytest.param("qwen-7b", {"self-hosted": 90, "openai": 9}, "sum to 99", id="sum-99"),
    pytest.param("qwen-7b", {"self-hosted": 66.5, "openai": 33.5}, "valid integer", id="fraction"),
    pytest.param("qwen-7b", {"self-hosted": 101, "openai": -1}, "less than or equal to 100", id="out-of-range"),
    pytest.param("qwen-7b", {"self-hosted": 90, "azure": 10}, "unknown backend azure: known backends are "
                 "self-hosted, anthropic, openai, google", id="unknown-backend"),
    pytest.param("gpt-9", {"self-hosted": 100}, "unknown model 'gpt-9': the gateway routes llama-70b, qwen-7b, "
                 "mistral-7b", id="unknown-model"),
]


@pytest.mark.parametrize(("model", "weights", "message"), BAD_WEIGHTS)
async def test_invalid_weights_are_refused_and_change_nothing(fleet: RunningSandbox, model: str,
                                                              weights: dict[str, float], message: str) -> None:
    async with gateway_client(fleet) as client:
        before = await call(client, "gateway_routes")
        text = await refusal(client, "set_route_weights", model=model, weights=weights, reason="test",
                             idempotency_key=f"bad-{model}-{sorted(weights.items())}")
        assert message in text
        assert await call(client, "gateway_routes") == before


BAD_FAILOVERS = [
    pytest.param("qwen-7b", "openai", "openai", "both openai: nothing to move", id="same-backend"),
    pytest.param("qwen-7b", "anthropic", "self-hosted", "qwen-7b sends no traffic to anthropic", id="no-share"),
    pytest.param("*", "azure", "self-hosted", "unknown backend azure", id="unknown-backend"),
    pytest.param("gpt-9", "openai", "self-hosted", "unknown model 'gpt-9'", id="unknown-model"),
]


@pytest.mark.parametrize(("model", "source", "target", "message"), BAD_FAILOVERS)
async def test_impossible_failovers_are_refused_and_change_nothing(fleet: RunningSandbox, model: str, source: str,
                                                                   target: str, message: str) -> None:
    async with gateway_client(fleet) as client:
        before = await call(client, "gateway_routes")
        text = await refusal(client, "failover_provider", model=model, from_backend=source, to_backend=target,
                             reason="test", idempotency_key=f"bad-failover-{model}-{source}-{target}")
        assert message in text
        assert await call(client, "gateway_routes") == before


async def test_read_only_leaves_only_the_reads() -> None:
    offline = Settings(kubeconfig="/nonexistent/kubeconfig")  # listing tools must not touch the fleet
    async with Client(compose.build("gateway", offline)) as client:
        assert {tool.name for tool in await client.list_tools()} == {
            "gateway_routes", "provider_health", "set_route_weights", "failover_provider"}
    async with Client(compose.build("gateway", offline.model_copy(update={"read_only": True}))) as client:
        assert {tool.name for tool in await client.list_tools()} == {"gateway_routes", "provider_health"}


# -- writes on the module's own fleet ------------------------------------------------------------------------
async def test_new_weights_are_stored_and_the_gateway_routes_by_them(routes_fleet: RunningSandbox) -> None:
    weights = {"self-hosted": 60, "openai": 40}
    async with gateway_client(routes_fleet) as client:
        result = await call(client, "set_route_weights", model="qwen-7b", weights=weights,
                            reason="warm openai for a migration", idempotency_key="qwen-60-40")
        assert result["before"] == {"qwen-7b": DEFAULT_ROUTES["qwen-7b"]}
        assert result["after"] == {"qwen-7b": full(weights)}
        assert not result["dry_run"] and not result["replayed"]

        async def gateway_uses_them() -> bool:
            served = httpx.get(f"{routes_fleet.endpoints['gateway']}/routes", timeout=5).json()
            return bool(served["routes"]["qwen-7b"] == full(weights))

        await until(gateway_uses_them, "the gateway reloading the new weights")
        view = await call(client, "gateway_routes", detail=True)
    qwen = next(m for m in view["models"] if m["model"] == "qwen-7b")
    assert qwen["weights"] == full(weights) and qwen["shifted_to"] == ["openai"] and qwen["primary"] == "self-hosted"
    assert view["in_force"] is True
    assert "qwen-7b: self-hosted 60%, openai 40%" in view["summary"]
    change = next(c for c in view["recent_changes"] if c["idempotency_key"] == "qwen-60-40")
    assert change["reason"] == "warm openai for a migration" and change["changed"] == {"qwen-7b": weights}


async def test_an_idempotency_key_applies_once_even_through_a_new_server(routes_fleet: RunningSandbox) -> None:
    first = {"self-hosted": 80, "google": 20}
    async with gateway_client(routes_fleet) as client:
        applied = await call(client, "set_route_weights", model="mistral-7b", weights=first, reason="first",
                             idempotency_key="mistral-once")
        again = await call(client, "set_route_weights", model="mistral-7b", weights={"self-hosted": 50, "google": 50},
                           reason="retry with other weights", idempotency_key="mistral-once")
    assert applied["after"] == {"mistral-7b": full(first)} and not applied["replayed"]
    assert again["replayed"] and again["after"] == {"mistral-7b": full(first)}
    assert "already applied" in again["message"] and "nothing done" in again["message"]
    async with gateway_client(routes_fleet) as restarted:  # a new server instance: the key lives in the ConfigMap
        replay = await call(restarted, "set_route_weights", model="mistral-7b", weights={"self-hosted": 100},
                            reason="after a restart", idempotency_key="mistral-once")
        view = await call(restarted, "gateway_routes")
    assert replay["replayed"]
    assert next(m["weights"] for m in view["models"] if m["model"] == "mistral-7b") == full(first)


async def test_failover_moves_a_backends_whole_share(routes_fleet: RunningSandbox) -> None:
    async with gateway_client(routes_fleet) as client:
        result = await call(client, "failover_provider", model="llama-70b", from_backend="self-hosted",
                            to_backend="anthropic", reason="every llama replica crashes",
                            idempotency_key="llama-to-anthropic")
        view = await call(client, "gateway_routes")
    assert result["target"] == "provider/self-hosted"
    assert result["before"] == {"llama-70b": DEFAULT_ROUTES["llama-70b"]}
    assert result["after"] == {"llama-70b": full({"anthropic": 100})}
    llama = next(m for m in view["models"] if m["model"] == "llama-70b")
    assert llama["primary"] == "anthropic" and llama["shifted_to"] == ["anthropic"] and llama["hosted_share"] == 100


async def test_a_dry_run_shows_the_change_and_stores_nothing(routes_fleet: RunningSandbox) -> None:
    async with gateway_client(routes_fleet) as client:
        before = await call(client, "gateway_routes")
        result = await call(client, "failover_provider", model="*", from_backend="self-hosted", to_backend="google",
                            reason="rehearsal", idempotency_key="rehearse-all-to-google", dry_run=True)
        after = await call(client, "gateway_routes", detail=True)
    assert result["dry_run"] and "would change" in result["message"]
    assert set(result["after"]) == {m["model"] for m in before["models"] if m["weights"].get("self-hosted")}
    assert all(w["self-hosted"] == 0 and sum(w.values()) == 100 for w in result["after"].values())
    assert after["source"] == before["source"] and after["models"] == before["models"]
    assert all(c["idempotency_key"] != "rehearse-all-to-google" for c in after["recent_changes"])


def test_a_write_against_a_stale_table_is_refused_so_no_edit_is_lost(routes_fleet: RunningSandbox) -> None:
    adapter = ConfigMapRoutes(Kube(Settings(kubeconfig=str(routes_fleet.kubeconfig))), "inference", "gateway-routes")
    try:
        stale = adapter.read_routes()
        adapter.write_routes(stale, "someone else's edit", "other-writer", dry_run=False)
        with pytest.raises(RoutesConflict):
            adapter.write_routes(stale, "my edit", "stale-writer", dry_run=False)
        keys = [c.idempotency_key for c in adapter.read_routes().changes]
    finally:
        adapter.close()  # an open keep-alive connection holds up the sandbox's shutdown
    assert "other-writer" in keys and "stale-writer" not in keys


# -- a write racing another writer, on an in-memory adapter --------------------------------------------------
class RacingRoutes:
    """In-memory routes where another writer edits mistral-7b just before our first write lands."""

    kind, location = "memory", "memory routes"

    def __init__(self) -> None:
        self.table = RoutingTable(models=DEFAULT_ROUTES, version="1")

    def read_routes(self) -> RoutingTable:
        return self.table.model_copy(deep=True)

    def write_routes(self, table: RoutingTable, reason: str, idempotency_key: str, dry_run: bool) -> RoutingTable:
        if self.table.version == "1":
            self._store({**self.table.models, "mistral-7b": {"self-hosted": 90, "google": 10}}, "other-writer")
        if table.version != self.table.version:
            raise RoutesConflict("changed since it was read")
        self._store(table.models, idempotency_key)
        return self.table

    def close(self) -> None:
        pass

    def _store(self, models: dict[str, dict[str, int]], key: str) -> None:
        change = RouteChange(idempotency_key=key, at="2026-01-01T00:00:00+00:00", reason="", changed={})
        self.table = RoutingTable(models=models, version=str(int(self.table.version or 0) + 1),
                                  changes=[*self.table.changes, change])


async def test_a_write_that_loses_a_race_is_reapplied_on_top_of_the_other_edit() -> None:
    routes = RacingRoutes()
    async with Client(build(Settings(), adapter=routes)) as client:
        result = await call(client, "set_route_weights", model="qwen-7b", weights={"self-hosted": 100},
                            reason="test", idempotency_key="after-the-race")
    assert result["after"] == {"qwen-7b": {"self-hosted": 100}}
    assert routes.table.models["mistral-7b"] == {"self-hosted": 90, "google": 10}
    assert routes.table.models["qwen-7b"] == {"self-hosted": 100}


# -- a fault on a fresh fleet --------------------------------------------------------------------------------
async def test_a_provider_outage_shows_that_provider_failing_first(fresh_fleet: RunningSandbox) -> None:
    fresh_fleet.inject([{"kind": "provider_outage", "at_s": 0, "target": {"provider": "openai"},
                         "params": {"error_share": 1.0}}])
    async with gateway_client(fresh_fleet) as client:
        async def openai_failing() -> dict[str, Any] | None:
            report = await call(client, "provider_health", window="3s")  # the sandbox's rate window
            return report if report["backends"][0]["status"] == "failing" else None

        report = await until(openai_failing, "openai showing as failing")
    worst, *others = report["backends"]
    assert worst["backend"] == "openai" and worst["models"] == ["qwen-7b"]
    assert worst["error_ratio"] >= 0.5 and "answered 5xx" in worst["reasons"][0]
    assert all(b["status"] in ("ok", "idle") for b in others), others  # a young fleet's standbys may be idle yet
    assert report["summary"].startswith("4 backends: openai failing (")
