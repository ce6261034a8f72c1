"""The stdio transport as an MCP host meets it: the reference client over a pipe, stray output kept off the
wire, requests of any size, and stdin from a plain file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

pytestmark = pytest.mark.anyio

# A server whose tools misbehave the way real code does: a print left in, a child process writing to stdout.
SERVER = """
import subprocess
from fastmcp import FastMCP
from mcp_servers.stdio_transport import run_stdio

server = FastMCP("probe")

@server.tool
def noisy() -> str:
    print("a stray print")
    subprocess.run(["echo", "a child's output"], check=True)
    return "answered"

@server.tool
def size(text: str) -> int:
    return len(text)

run_stdio(server)
"""


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    return script


def _params(script: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(script)], cwd=str(Path.cwd()))


async def test_stray_output_goes_to_stderr_and_the_wire_stays_clean(server_script: Path, tmp_path: Path) -> None:
    errors = tmp_path / "stderr"
    with errors.open("w") as errlog:
        async with stdio_client(_params(server_script), errlog=errlog) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            first = await session.call_tool("noisy", {})
            second = await session.call_tool("noisy", {})
    assert [first.content[0].text, second.content[0].text] == ["answered", "answered"]  # type: ignore[union-attr]
    assert "a stray print" in errors.read_text()
    assert "a child's output" in errors.read_text()


async def test_a_request_larger_than_asyncios_default_line_limit_is_answered(server_script: Path) -> None:
    text = "x" * 1_000_000  # asyncio's readline stops at 64 KiB by default
    async with stdio_client(_params(server_script)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("size", {"text": text})
    assert result.structured_content == {"result": len(text)}


def test_stdin_from_a_regular_file_is_served_too(server_script: Path, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "file", "version": "0"}}}) + "\n")
    with requests.open() as stdin:
        done = subprocess.run([sys.executable, str(server_script)], stdin=stdin, capture_output=True, text=True,
                              timeout=60, cwd=Path.cwd())
    answer = json.loads(done.stdout.splitlines()[0])
    assert answer["id"] == 1
    assert answer["result"]["serverInfo"]["name"] == "probe"
