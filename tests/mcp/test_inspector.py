"""A second outside client: the MCP Inspector's CLI mode (npm `@modelcontextprotocol/inspector`) lists and
calls the tools over stdio, and over streamable HTTP with the bearer token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.sandbox_run import RunningSandbox
from tests.mcp.processes import FIREBREAK, TOKEN, env_for, start_http, stop

pytestmark = pytest.mark.slow

INSPECTOR = "@modelcontextprotocol/inspector@2.12"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "firebreak-inspector"


@pytest.fixture(scope="module")
def inspector() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "mcp-inspector"
    if not binary.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: the MCP Inspector cannot be fetched")
        subprocess.run(["npm", "install", "--silent", "--prefix", str(CACHE), INSPECTOR], check=True, timeout=300)
    return binary


def _inspect(inspector: Path, *args: str) -> dict:
    done = subprocess.run([str(inspector), "--cli", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_inspector_lists_and_calls_tools_over_stdio(inspector: Path, fleet: RunningSandbox) -> None:
    env = [arg for key, value in fleet.agent_env().items() for arg in ("-e", f"{key}={value}")]
    listed = _inspect(inspector, *env, FIREBREAK, "mcp", "all", "--transport", "stdio", "--method", "tools/list")
    called = _inspect(inspector, *env, FIREBREAK, "mcp", "all", "--transport", "stdio", "--method", "tools/call",
                      "--tool-name", "list_nodes")
    assert {"slo_status", "list_nodes", "failover_provider"} <= {tool["name"] for tool in listed["tools"]}
    assert not called.get("isError")
    assert called["structuredContent"]["total"] == 4


def test_the_inspector_over_http_needs_the_token(inspector: Path, fleet: RunningSandbox) -> None:
    process, url = start_http(["gpu"], env_for(fleet, FIREBREAK_MCP_TOKEN=TOKEN))
    try:
        listed = _inspect(inspector, url, "--transport", "http", "--header", f"Authorization: Bearer {TOKEN}",
                          "--method", "tools/list")
        refused = subprocess.run([str(inspector), "--cli", url, "--transport", "http", "--method", "tools/list"],
                                 capture_output=True, text=True, timeout=120)
    finally:
        stop(process)
    assert {tool["name"] for tool in listed["tools"]} == {"gpu_health", "unhealthy_gpus", "explain_xid"}
    assert refused.returncode != 0
