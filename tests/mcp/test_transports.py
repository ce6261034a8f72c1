"""`firebreak mcp` as an MCP host meets it: the reference `mcp` SDK client over stdio and streamable HTTP,
and an HTTP server that refuses every request without the right bearer token."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from harness.sandbox_run import RunningSandbox
from tests.mcp.processes import FIREBREAK, TOKEN, env_for, start_http, stop

pytestmark = pytest.mark.anyio

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "0"}}}
ACCEPT = "application/json, text/event-stream"  # what a streamable HTTP client must offer

@pytest.fixture
def http_server(fleet: RunningSandbox) -> Iterator[str]:
    process, url = start_http(["all"], env_for(fleet, FIREBREAK_MCP_TOKEN=TOKEN))
    try:
        yield url
    finally:
        stop(process)


# A tool of each kind of server, each reaching its backend through the client its own server's lifespan holds.
CALLS = (("list_nodes", {}), ("query", {"promql": "up"}), ("unhealthy_gpus", {}), ("gateway_routes", {}))


async def _list_and_call(session: ClientSession) -> tuple[set[str], list[str]]:
    """The tool names, and the calls of CALLS that failed."""
    await session.initialize()
    names = {tool.name for tool in (await session.list_tools()).tools}
    failed = [name for name, args in CALLS if (await session.call_tool(name, args)).is_error]
    return names, failed


async def test_stdio_serves_every_tool_to_the_reference_client(fleet: RunningSandbox) -> None:
    params = StdioServerParameters(command=FIREBREAK, args=["mcp", "all", "--transport", "stdio"], env=env_for(fleet))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            names, failed = await _list_and_call(session)
    assert {"query", "slo_status", "list_pods", "scale_deployment", "unhealthy_gpus", "search_logs",
            "gateway_routes", "set_route_weights"} <= names
    assert failed == []


async def test_http_with_the_token_serves_the_reference_client(http_server: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http, \
            streamable_http_client(http_server, http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        names, failed = await _list_and_call(session)
    assert "list_nodes" in names
    assert failed == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic eDp5"}])
def test_http_without_the_right_token_is_refused(http_server: str, headers: dict[str, str]) -> None:
    response = httpx.post(http_server, json=INITIALIZE, timeout=10, headers={**headers, "Accept": ACCEPT})
    assert response.status_code == 401


def test_http_answers_a_request_with_one_json_body_not_an_event_stream(http_server: str) -> None:
    response = httpx.post(http_server, json=INITIALIZE, timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}", "Accept": ACCEPT})
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["result"]["serverInfo"]["name"] == "firebreak"


def test_http_refuses_to_start_without_a_token(fleet: RunningSandbox) -> None:
    env = env_for(fleet)
    env.pop("FIREBREAK_MCP_TOKEN", None)
    done = subprocess.run([FIREBREAK, "mcp", "kubernetes", "--transport", "http", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "needs a bearer token" in done.stderr


def test_token_is_never_logged(fleet: RunningSandbox, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("secret-should-not-appear\n")
    process, url = start_http(["prometheus", "--token-file", str(token_file)], env_for(fleet))
    httpx.post(url, json={}, headers={"Authorization": "Bearer secret-should-not-appear"}, timeout=10)
    output = stop(process)
    assert "bearer token required" in output
    assert "secret-should-not-appear" not in output
