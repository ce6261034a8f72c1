"""Tool-call latency of Firebreak's prometheus and kubernetes MCP servers next to the public peers, in one run.

One sandbox (real Prometheus) runs in this process; every server runs as its own process and is called through
the reference `mcp` SDK client, over stdio and over streamable HTTP: ours (`firebreak mcp prometheus|kubernetes`),
`prometheus-mcp-server` (PyPI) and `kubernetes-mcp-server` (npm, its Go binary run directly). Rounds interleave
every server and transport in a shuffled order so that the sandbox's load drifts over all of them alike; warm-up
calls are not counted. Then a fault is injected and the "what is wrong with this pod" answer is sized against
`kubectl describe` plus logs (bench/mcp_answer_size.py).

usage: .venv/bin/python bench/mcp_latency.py [--calls 30] [--warmup 3] [--peers DIR] [--json OUT]
The peers are installed into DIR (default ~/.cache/firebreak-bench-peers) on first use; see `setup_peers`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from mcp_answer_size import measure_answer_size, print_answer_size

from harness.sandbox_run import RunningSandbox
from sandbox.processes import free_ports

FIREBREAK = str(Path(sys.executable).with_name("firebreak"))
PROM_PEER = "prometheus-mcp-server==1.6.2"
K8S_PEER = "kubernetes-mcp-server@0.0.67"
DEFAULT_PEERS = Path.home() / ".cache" / "firebreak-bench-peers"
CALL_TIMEOUT_S = 60
VLLM_RATE = "sum by (model_name) (rate(vllm:request_success_total[1m]))"
TRANSPORTS = ("stdio", "http")


def progress(message: str) -> None:
    print(f"[mcp-bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- the peers


@dataclass(frozen=True)
class Peers:
    prometheus: Path  # the prometheus-mcp-server console script in its own venv
    kubernetes: Path  # kubernetes-mcp-server's Go binary, as the npm package ships it
    versions: dict[str, str]


def setup_peers(directory: Path) -> Peers:
    """Installs the peers into `directory` when they are missing, saying what it installs.

    DIR/promvenv: `python -m venv` + `pip install prometheus-mcp-server==1.6.2` (its own venv: its FastMCP and
    mcp versions must not meet ours). DIR/k8s: `npm install --prefix DIR/k8s kubernetes-mcp-server@0.0.67`, whose
    optional dependency for this platform carries the Go binary (the PyPI package would download it at run time).
    """
    venv = directory / "promvenv"
    prometheus = venv / "bin" / "prometheus-mcp-server"
    if not prometheus.exists():
        progress(f"installing {PROM_PEER} into {venv} (python -m venv + pip install)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", PROM_PEER], check=True)
    kubernetes = _k8s_binary(directory / "k8s")
    if kubernetes is None:
        progress(f"installing {K8S_PEER} into {directory / 'k8s'} (npm install)")
        subprocess.run(["npm", "install", "--silent", "--prefix", str(directory / "k8s"), K8S_PEER], check=True)
        kubernetes = _k8s_binary(directory / "k8s")
        if kubernetes is None:
            raise RuntimeError(f"npm installed {K8S_PEER} without a Go binary for this platform")
    version = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; "
                              "print(m.version('prometheus-mcp-server'))"], capture_output=True, text=True, check=True)
    package = json.loads((directory / "k8s" / "node_modules" / "kubernetes-mcp-server" / "package.json").read_text())
    return Peers(prometheus, kubernetes, {"prometheus-mcp-server": version.stdout.strip(),
                                          "kubernetes-mcp-server": package["version"]})


def _k8s_binary(prefix: Path) -> Path | None:
    found = sorted(prefix.glob("node_modules/kubernetes-mcp-server-*/bin/kubernetes-mcp-server-*"))
    return found[0] if found else None


# ------------------------------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Server:
    """How to start one MCP server over stdio, and over streamable HTTP on a given port."""

    name: str  # "firebreak prometheus", "prometheus-mcp-server", ...
    group: str  # prometheus | kubernetes
    ours: bool
    command: list[str]
    env: dict[str, str]
    http_args: list[str] = field(default_factory=list)  # "{port}" is replaced by the port
    http_env: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # the bearer token the HTTP server requires

    def http_command(self, port: int) -> tuple[list[str], dict[str, str]]:
        args = [a.replace("{port}", str(port)) for a in self.http_args]
        env = {k: v.replace("{port}", str(port)) for k, v in self.http_env.items()}
        return [*self.command, *args], {**self.env, **env}


def servers(sandbox: RunningSandbox, peers: Peers, token: str) -> list[Server]:
    env = {**os.environ, **sandbox.agent_env()}
    quiet_fastmcp = {"FASTMCP_SHOW_SERVER_BANNER": "false", "FASTMCP_CHECK_FOR_UPDATES": "off"}
    ours_http = ["--transport", "http", "--port", "{port}"]
    kubeconfig = ["--kubeconfig", str(sandbox.kubeconfig), "--log-file", "stderr"]
    return [
        Server("firebreak prometheus", "prometheus", True, [FIREBREAK, "mcp", "prometheus"], env,
               http_args=ours_http, http_env={"FIREBREAK_MCP_TOKEN": token}, token=token),
        Server("prometheus-mcp-server", "prometheus", False, [str(peers.prometheus)], {**env, **quiet_fastmcp},
               http_env={"PROMETHEUS_MCP_SERVER_TRANSPORT": "http", "PROMETHEUS_MCP_BIND_PORT": "{port}"}),
        Server("firebreak kubernetes", "kubernetes", True, [FIREBREAK, "mcp", "kubernetes"], env,
               http_args=ours_http, http_env={"FIREBREAK_MCP_TOKEN": token}, token=token),
        Server("kubernetes-mcp-server", "kubernetes", False, [str(peers.kubernetes), *kubeconfig], env,
               http_args=["--port", "{port}", "--bind-address", "127.0.0.1"]),
    ]


@contextlib.contextmanager
def http_process(server: Server, log: Path) -> Iterator[str]:
    """Starts the server on a free port and yields its /mcp URL once the port answers; stops it afterwards."""
    (port,) = free_ports(1)
    command, env = server.http_command(port)
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url, timeout=1)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} over HTTP did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def open_session(server: Server, transport: str, logs: Path) -> AsyncIterator[ClientSession]:
    """An initialised reference-client session; the server process lives exactly as long as the session."""
    log = logs / f"{server.name.replace(' ', '-')}-{transport}.log"
    if transport == "stdio":
        params = StdioServerParameters(command=server.command[0], args=server.command[1:], env=server.env)
        with log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                yield session
        return
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    with http_process(server, log) as url:
        async with httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT_S) as http, \
                streamable_http_client(url, http_client=http) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


# ------------------------------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: dict[str, Any]


PING = Call("ping", {})  # not a tool: MCP's own ping request, a round trip that does no work on either side
FLOOR = "MCP ping"  # the label of the ping rows: a reference for the calls, not a call the target is about


@dataclass(frozen=True)
class Case:
    """One representative call, and the peer's call that does the same job (None: the peer has none)."""

    group: str
    label: str
    ours: Call
    peer: Call | None
    note: str = ""


def cases(llama_pod: str) -> list[Case]:
    pod = {"name": llama_pod, "namespace": "inference"}
    return [
        Case("prometheus", FLOOR, PING, PING, "no work on either side: the transport's and server's floor"),
        Case("kubernetes", FLOOR, PING, PING, "no work on either side: the transport's and server's floor"),
        Case("prometheus", "query up", Call("query", {"promql": "up"}), Call("execute_query", {"query": "up"})),
        Case("prometheus", "query vLLM rate", Call("query", {"promql": VLLM_RATE}),
             Call("execute_query", {"query": VLLM_RATE})),
        Case("prometheus", "slo_status (all SLOs)", Call("slo_status", {}), None, "peer has no SLO tool"),
        Case("kubernetes", "list pods (inference)", Call("list_pods", {"namespace": "inference"}),
             Call("pods_list_in_namespace", {"namespace": "inference"}),
             "ours: from the watch mirror (no API read); peer: 1 list"),
        Case("kubernetes", "describe llama-70b pod", Call("describe_pod", pod),
             Call("pods_get", pod),
             "ours: pod, node, owner and events from the watch mirror (no API read); peer pods_get: 1 read"),
        Case("kubernetes", "list nodes", Call("list_nodes", {}),
             Call("resources_list", {"apiVersion": "v1", "kind": "Node"}),
             "ours: nodes and the pods holding their GPUs from the watch mirror (no API read)"),
    ]


async def call(session: ClientSession, target: Call) -> CallToolResult | None:
    """The tool's answer (None for a ping); a tool error stops the benchmark (a failing call times nothing)."""
    with anyio.fail_after(CALL_TIMEOUT_S):
        if target is PING:
            await session.send_ping()
            return None
        result = await session.call_tool(target.tool, target.arguments)
    if not isinstance(result, CallToolResult) or result.is_error:
        raise RuntimeError(f"{target.tool}({target.arguments}) failed: {text_of(result)[:500]}")
    return result


def text_of(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []) or [])


async def validation_ms(session: ClientSession, tool: str, result: CallToolResult, repeats: int = 20) -> float:
    """What the reference client spends re-validating the structured answer against the tool's output schema,
    inside every timed call: a richer schema costs the caller here, on the client side."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await session.validate_tool_result(tool, result)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def first_llama_pod(session: ClientSession) -> str:
    result = await session.call_tool("list_pods", {"namespace": "inference", "deployment": "llama-70b"})
    names = sorted(p["name"] for p in (result.structured_content or {})["pods"]["items"])
    if not names:
        raise RuntimeError("the sandbox has no llama-70b pod")
    return names[0]


# ------------------------------------------------------------------------------------------------- measurement


@dataclass
class Sample:
    group: str
    call: str
    server: str
    transport: str
    ours: bool
    tool: str
    times_ms: list[float] = field(default_factory=list)
    answer_chars: int = 0
    validation_ms: float = 0.0

    def percentile(self, q: float) -> float:
        """Nearest rank: with fewer than 100 calls, p99 is the slowest call."""
        ordered = sorted(self.times_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        return {"group": self.group, "call": self.call, "server": self.server, "transport": self.transport,
                "tool": self.tool, "n": len(self.times_ms), "p50_ms": round(statistics.median(self.times_ms), 2),
                "p99_ms": round(self.percentile(0.99), 2), "mean_ms": round(statistics.fmean(self.times_ms), 2),
                "answer_chars": self.answer_chars, "client_validation_ms": round(self.validation_ms, 2)}


async def measure_latency(sessions: dict[tuple[str, str], ClientSession], all_servers: list[Server],
                          all_cases: list[Case], calls: int, warmup: int) -> list[Sample]:
    jobs: list[tuple[Sample, ClientSession, Call]] = []
    for case in all_cases:
        for server in (s for s in all_servers if s.group == case.group):
            target = case.ours if server.ours else case.peer
            if target is None:
                continue
            for transport in TRANSPORTS:
                sample = Sample(case.group, case.label, server.name, transport, server.ours, target.tool)
                jobs.append((sample, sessions[(server.name, transport)], target))
    answers = []
    for sample, session, target in jobs:
        for _ in range(warmup - 1):
            await call(session, target)
        answers.append(await call(session, target))  # at least one untimed call: it also caches the tool list
        sample.answer_chars = len(text_of(answers[-1]))
    for (sample, session, target), answer in zip(jobs, answers, strict=True):
        if answer is not None:
            sample.validation_ms = await validation_ms(session, target.tool, answer)
    order = random.Random(0)
    timed = list(jobs)
    for round_index in range(calls):
        order.shuffle(timed)
        for sample, session, target in timed:
            start = time.perf_counter()
            await call(session, target)
            sample.times_ms.append((time.perf_counter() - start) * 1000)
        if (round_index + 1) % 10 == 0 or round_index + 1 == calls:
            progress(f"latency: round {round_index + 1}/{calls} done")
    return [sample for sample, _, _ in jobs]


# ------------------------------------------------------------------------------------------------- report


def comparison(samples: list[Sample], all_cases: list[Case]) -> list[dict[str, Any]]:
    """One row per call and transport: ours, the peer's (when it has the call) and ours / peer."""
    rows = []
    for case in all_cases:
        for transport in TRANSPORTS:
            same = [s for s in samples if (s.group, s.call, s.transport) == (case.group, case.label, transport)]
            ours = next(s for s in same if s.ours)
            peer = next((s for s in same if not s.ours), None)
            row: dict[str, Any] = {"group": case.group, "call": case.label, "transport": transport,
                                   "ours": ours.summary(), "peer": peer.summary() if peer else None,
                                   "note": case.note}
            if peer:
                row["p50_ratio"] = round(row["ours"]["p50_ms"] / row["peer"]["p50_ms"], 2)
                row["p99_ratio"] = round(row["ours"]["p99_ms"] / row["peer"]["p99_ms"], 2)
            rows.append(row)
    return rows


def print_latency(rows: list[dict[str, Any]], calls: int) -> None:
    print(f"\nTool-call latency, ms: p50 / p99 of {calls} calls each (nearest rank), through the reference client;"
          "\n'valid.' is the part of a call the client spends validating the answer against its output schema;"
          "\nratio = ours / peer p50")
    header = (f"{'server':<11}{'call':<27}{'transport':<10}{'ours p50/p99':>15}{'valid.':>8}{'peer p50/p99':>15}"
              f"{'valid.':>8}{'ratio':>7}")
    print(header)
    print("-" * len(header))
    notes: dict[str, str] = {}
    for row in rows:
        ours, peer = row["ours"], row["peer"]
        mark = ""
        if row["note"]:
            mark = notes.setdefault(row["note"], "*" * (len(notes) + 1))
        peer_times = f"{peer['p50_ms']:.1f} / {peer['p99_ms']:.1f}" if peer else "n/a"
        peer_validation = f"{peer['client_validation_ms']:.1f}" if peer else "-"
        ratio = f"{row['p50_ratio']:.2f}" if peer else "-"
        ours_times = f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}"
        print(f"{row['group']:<11}{(row['call'] + mark):<27}{row['transport']:<10}{ours_times:>15}"
              f"{ours['client_validation_ms']:>8.1f}{peer_times:>15}{peer_validation:>8}{ratio:>7}")
    for note, mark in notes.items():
        print(f"{mark} {note}")
    compared = [r for r in rows if r["peer"] and r["call"] != FLOOR]
    slower = [f"{r['call']} ({r['transport']})" for r in compared if r["p50_ratio"] > 1]
    print(f"\ntarget p50 <= peer: {'met' if not slower else 'NOT met for ' + ', '.join(slower)} "
          f"({len(compared) - len(slower)}/{len(compared)} comparable calls met)")


# ------------------------------------------------------------------------------------------------- main


async def run_bench(sandbox: RunningSandbox, peers: Peers, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    all_servers = servers(sandbox, peers, secrets.token_urlsafe(24))
    async with contextlib.AsyncExitStack() as stack:
        sessions: dict[tuple[str, str], ClientSession] = {}
        for server in all_servers:
            for transport in TRANSPORTS:
                progress(f"starting {server.name} over {transport}")
                sessions[(server.name, transport)] = await stack.enter_async_context(
                    open_session(server, transport, logs))
        all_cases = cases(await first_llama_pod(sessions[("firebreak kubernetes", "stdio")]))
        progress(f"latency: {args.warmup} warm-up + {args.calls} timed calls per server, call and transport")
        samples = await measure_latency(sessions, all_servers, all_cases, args.calls, args.warmup)
        progress("answer size: injecting gpu_xid (Xid 79) on gpu-node-2 GPU 1 and waiting for the crash")
        sizes = await measure_answer_size(sandbox, sessions[("firebreak kubernetes", "stdio")],
                                          sessions[("kubernetes-mcp-server", "stdio")], progress)
    return {"calls": args.calls, "warmup": args.warmup, "peers": peers.versions,
            "latency": comparison(samples, all_cases), "answer_size": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="timed calls per server, call and transport")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3, at least 1)")
    parser.add_argument("--peers", type=Path, default=DEFAULT_PEERS, help=f"peer installs (default {DEFAULT_PEERS})")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()
    peers = setup_peers(args.peers.expanduser())
    progress(f"peers: {peers.versions}")
    progress("starting the sandbox (fleet, Prometheus, Alertmanager)")
    with tempfile.TemporaryDirectory(prefix="firebreak-mcp-bench-") as tmp, RunningSandbox() as sandbox:
        sandbox.wait_for_first_scrapes()
        result = anyio.run(run_bench, sandbox, peers, args, Path(tmp))
    print_latency(result["latency"], args.calls)
    print_answer_size(result["answer_size"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        progress(f"wrote {args.json}")
    if not result["answer_size"]["nothing_essential_lost"]:
        sys.exit("describe_pod lost something essential: see the checklist")


if __name__ == "__main__":
    main()
