"""Starting `firebreak mcp` as a separate process, as an MCP host does, for the transport tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness.sandbox_run import RunningSandbox
from sandbox.processes import free_ports

FIREBREAK = str(Path(sys.executable).with_name("firebreak"))
TOKEN = "test-token-5f1c"


def env_for(fleet: RunningSandbox, **extra: str) -> dict[str, str]:
    return {**os.environ, **fleet.agent_env(), **extra}


def start_http(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Starts `firebreak mcp ... --transport http` and waits until its port answers."""
    (port,) = free_ports(1)
    process = subprocess.Popen([FIREBREAK, "mcp", *args, "--transport", "http", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"firebreak mcp did not start: {process.communicate()[0]}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    return process.communicate(timeout=10)[0]
