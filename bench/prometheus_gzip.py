"""What gzip costs a Prometheus query next to Prometheus: the servers' default (`Accept-Encoding: identity`) against
`PROMETHEUS_GZIP=true`, on the sandbox's real Prometheus.

Two measurements, each call alternating between the two settings so that load drifts over both alike: the instant
query `up` through prometheus-api-client's session as the prometheus server holds it, and the whole `query` tool
call in-process (FastMCP's call path, the worker thread, the answer's serialisation; no transport, no client).

usage: .venv/bin/python bench/prometheus_gzip.py [--calls 600] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import Settings

SETTINGS = ("identity", "gzip")
WARMUP = 30


def progress(message: str) -> None:
    print(f"[gzip-bench] {message}", file=sys.stderr, flush=True)


async def alternate(calls: int, by_setting: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, float]:
    """p50 ms of each setting's call, the settings taking turns."""
    times: dict[str, list[float]] = {name: [] for name in by_setting}
    for index in range(WARMUP + calls):
        for name, run in by_setting.items():
            start = time.perf_counter()
            await run()
            if index >= WARMUP:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


async def measure(sandbox: RunningSandbox, calls: int) -> dict[str, dict[str, float]]:
    env = sandbox.agent_env()
    settings = {"identity": Settings.load(env), "gzip": Settings.load({**env, "PROMETHEUS_GZIP": "true"})}
    clients = {name: prometheus_api(s.prometheus) for name, s in settings.items()}
    servers = {name: build("prometheus", s) for name, s in settings.items()}

    def query_up(name: str) -> Callable[[], Awaitable[object]]:
        return lambda: anyio.to_thread.run_sync(lambda: clients[name].query("up"))

    def tool_call(name: str) -> Callable[[], Awaitable[object]]:
        return lambda: servers[name].call_tool("query", {"promql": "up"})

    progress(f"{WARMUP} warm-up + {calls} timed calls of each, alternating")
    async with contextlib.AsyncExitStack() as running:
        for server in servers.values():  # a connected client runs the server's lifespan, which holds its clients
            await running.enter_async_context(Client(server))
        return {"custom_query up": await alternate(calls, {name: query_up(name) for name in SETTINGS}),
                "query tool, in-process": await alternate(calls, {name: tool_call(name) for name in SETTINGS})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="timed calls per measurement and setting")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    progress("starting the sandbox (fleet, Prometheus, Alertmanager)")
    with RunningSandbox() as sandbox:
        sandbox.wait_for_first_scrapes()
        result = anyio.run(measure, sandbox, args.calls)
    print(f"\np50 ms of {args.calls} calls each{'':9}{'identity':>10}{'gzip':>10}{'saved':>8}")
    for label, p50 in result.items():
        print(f"{label:<43}{p50['identity']:>10.2f}{p50['gzip']:>10.2f}{p50['gzip'] - p50['identity']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps({"calls": args.calls, "p50_ms": result}, indent=2))
        progress(f"wrote {args.json}")


if __name__ == "__main__":
    main()
