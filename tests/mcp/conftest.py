"""One sandbox with real Prometheus and Alertmanager for the MCP server tests, and in-memory MCP clients on it.

The shared `fleet` is for reads; a test that writes or injects a fault takes `fresh_fleet`, its own sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import pytest
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.settings import Settings

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox() as sandbox:
        sandbox.wait_for_first_scrapes()
        yield sandbox


@pytest.fixture
def fresh_fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox() as sandbox:
        sandbox.wait_for_first_scrapes()
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
