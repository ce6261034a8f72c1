"""One sandbox with real Prometheus and Alertmanager for the MCP server tests, and in-memory MCP clients on it.

The shared `fleet` is for reads; a test that writes or injects a fault takes `fresh_fleet`, its own sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from fastmcp import Client

from harness.fleet import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.settings import Settings

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


def _wait_for_first_scrapes(sandbox: RunningSandbox, timeout_s: float = 30.0) -> None:
    """Prometheus refreshes http_sd every 5 s: tests start once every target has been scraped."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        targets = httpx.get(f"{sandbox.endpoints['prometheus']}/api/v1/targets", timeout=5).json()
        active = targets["data"]["activeTargets"]
        if active and all(t["health"] == "up" for t in active):
            return
        time.sleep(0.5)
    raise RuntimeError("Prometheus did not scrape every sandbox target in time")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox() as sandbox:
        _wait_for_first_scrapes(sandbox)
        yield sandbox


@pytest.fixture
def fresh_fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox() as sandbox:
        _wait_for_first_scrapes(sandbox)
        yield sandbox


def settings_for(sandbox: RunningSandbox, **overrides: object) -> Settings:
    return Settings.load(env=sandbox.agent_env()).model_copy(update=overrides)


def client_factory(sandbox: RunningSandbox) -> ClientFactory:
    """`async with mcp("kubernetes") as client:` — FastMCP's in-memory client on one server (or "all")."""
    def open_client(name: str, **overrides: object) -> AbstractAsyncContextManager[Client]:
        return Client(build(name, settings_for(sandbox, **overrides)))
    return open_client


@pytest.fixture
def mcp(fleet: RunningSandbox) -> ClientFactory:
    return client_factory(fleet)


@pytest.fixture
def fresh_mcp(fresh_fleet: RunningSandbox) -> ClientFactory:
    return client_factory(fresh_fleet)
