"""Latency of the agent service's Alertmanager webhook on PostgreSQL, quiet and while people approve actions.

The service's webhook runs as it does under `firebreak serve` (uvicorn, the real `AgentService`, its store on a
throwaway PostgreSQL database), in a process of its own; only the incident graphs are left out (an idle runner),
so that what is timed is the webhook and its store. This process posts Alertmanager v4 webhooks to it over HTTP
from `--concurrency` threads and times each post: one new alert per post, eight alerts per model (the first
opens an incident, the others join it), so that incidents stay small and every post costs alike.

Each round has a quiet phase and an approving one, in alternating order. While approving, another process
approves pending actions one after the other as `firebreak approve` does (open the store, `decide_approval`,
close) for as long as the phase lasts. The first `--warmup` posts of each phase are not timed; p99 is the
nearest rank.

usage: .venv/bin/python bench/store_webhook_latency.py [--posts 300] [--concurrency 4] [--rounds 2]
           [--postgres postgresql+psycopg://postgres@127.0.0.1:5432] [--code DIR] [--json OUT]
`--code` measures another checkout's agent (say, a worktree of an older commit) with this script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
ALERTS_PER_INCIDENT = 8  # each post is one alert; then the next model, so that every post costs alike
PENDING_APPROVALS = 3000  # more than an approving phase gets through


@dataclass
class Phase:
    name: str
    latencies_ms: list[float]
    approvals: int = 0
    seconds: float = 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the processes it starts ---------------------------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The agent service's webhook on `url`'s store; its runner starts nothing."""
    import uvicorn

    from agent.config import AgentConfig
    from agent.notify import Notifier
    from agent.service import AgentService
    from agent.store import Store

    store = Store.open(url)
    context = SimpleNamespace(store=_for_the_loop(store), config=AgentConfig(database_url=url),
                              notifier=Notifier([]), tools=None)
    runner = SimpleNamespace(context=context, start=lambda incident: None)
    uvicorn.run(AgentService(runner, TOKEN).app(), host="127.0.0.1", port=port, log_level="warning")


def _for_the_loop(store: Any) -> Any:
    """The store as the service's event loop calls it: awaited off the loop where that exists, else itself."""
    try:
        from agent.store import AsyncStore
    except ImportError:  # before the store went off the loop
        return store
    return AsyncStore(store)


def approve(url: str, first: int, last: int) -> None:
    """Approves ACT-first..ACT-last one at a time, each as one `firebreak approve` does, until stopped."""
    from agent.store import Store

    done = 0
    stopped = False

    def stop(*_: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, stop)
    for number in range(first, last + 1):
        if stopped:
            break
        with Store.open(url) as store:
            store.decide_approval(f"ACT-{number}", True, decided_by="bench", via="cli")
        done += 1
        if done == 1:
            print("approving", flush=True)
    print(done, flush=True)


# --- the run -------------------------------------------------------------------------------------------------


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    admin = make_url(server).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = f"firebreak_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_approvals(url: str) -> tuple[int, int]:
    """An incident with many actions awaiting approval; returns the first and last action's number."""
    from agent.store import Store

    with Store.open(url) as store:
        incident = store.open_incident({"slo": "availability", "model": "approvals", "title": "bench",
                                        "detected_by": "watcher"}).incident
        numbers = [int(store.record_decision({
            "incident_id": incident.id, "idempotency_key": f"{incident.id}/bench/{n}", "kind": "drain_node",
            "target": f"node/gpu-node-{n}", "decision": "require_approval"}).id.split("-")[1])
            for n in range(PENDING_APPROVALS)]
    return numbers[0], numbers[-1]


def payload(n: int) -> dict[str, Any]:
    model = f"model-{n // ALERTS_PER_INCIDENT}"
    alert = {"status": "firing", "labels": {"alertname": "ModelAvailabilityBudgetBurn", "slo": "availability",
                                            "model": model, "severity": "page"},
             "annotations": {"summary": f"{model} availability burning"}, "startsAt": "2026-12-03T12:00:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus", "fingerprint": f"fp-{n}"}
    return {"version": "4", "status": "firing", "receiver": "firebreak", "groupKey": "{}:{slo}",
            "groupLabels": {}, "commonLabels": {}, "externalURL": "http://am", "truncatedAlerts": 0,
            "alerts": [alert]}


class Poster:
    def __init__(self, port: int, concurrency: int) -> None:
        self.url = f"http://127.0.0.1:{port}/webhook/alertmanager"
        self.client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(concurrency)
        self.sent = 0

    def post(self, count: int) -> list[float]:
        """Posts `count` new alerts, `concurrency` at a time; each post's latency in ms."""
        first, self.sent = self.sent, self.sent + count
        return list(self.pool.map(self._post_one, range(first, first + count)))

    def _post_one(self, n: int) -> float:
        started = time.perf_counter()
        response = self.client.post(self.url, json=payload(n))
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return elapsed


def run_phase(poster: Poster, name: str, posts: int, warmup: int, approver: list[str] | None) -> Phase:
    process = None
    if approver is not None:
        process = subprocess.Popen(approver, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        if process.stdout.readline().strip() != "approving":
            raise RuntimeError("the approval loop did not start")
    started = time.monotonic()
    poster.post(warmup)
    phase = Phase(name, poster.post(posts))
    phase.seconds = time.monotonic() - started
    if process is not None:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        phase.approvals = int(out.split()[-1])
    return phase


def wait_for_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the webhook did not listen on {port}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300, help="timed webhook posts per phase")
    parser.add_argument("--warmup", type=int, default=20, help="untimed posts at the start of each phase")
    parser.add_argument("--concurrency", type=int, default=4, help="posts in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="quiet + approving phases, alternated")
    parser.add_argument("--postgres", default=os.environ.get("FIREBREAK_TEST_POSTGRES",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose agent is measured")
    parser.add_argument("--json", type=Path, help="write every latency here")
    parser.add_argument("--role", choices=["serve", "approve"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--actions", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    if args.role == "serve":
        return serve(args.db, args.port)
    if args.role == "approve":
        return approve(args.db, *args.actions)

    me = [sys.executable, __file__, "--code", str(args.code)]
    with throwaway_database(args.postgres) as url:
        first, last = seed_approvals(url)
        port = free_port()
        server = subprocess.Popen([*me, "--role", "serve", "--db", url, "--port", str(port)])
        try:
            wait_for_port(port)
            poster = Poster(port, args.concurrency)
            phases = []
            for round_ in range(args.rounds):
                for approving in (False, True) if round_ % 2 == 0 else (True, False):
                    approver = [*me, "--role", "approve", "--db", url, "--actions", str(first), str(last)]
                    phase = run_phase(poster, "approving" if approving else "quiet", args.posts, args.warmup,
                                      approver if approving else None)
                    first += phase.approvals
                    phases.append(phase)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(phases, args)


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    print(f"the agent of {args.code.resolve()}: {args.posts} posts per phase, {args.concurrency} in flight, "
          f"{args.rounds} rounds (ms)")
    print(f"{'phase':<10} {'p50':>7} {'p99':>7} {'max':>7} {'approvals/s':>12}")
    for name in ("quiet", "approving"):
        mine = [p for p in phases if p.name == name]
        latencies = [ms for p in mine for ms in p.latencies_ms]
        rate = sum(p.approvals for p in mine) / sum(p.seconds for p in mine)
        print(f"{name:<10} {statistics.median(latencies):7.1f} {percentile(latencies, 99):7.1f} "
              f"{max(latencies):7.1f} {rate if name == 'approving' else 0:12.1f}")
    if args.json:
        args.json.write_text(json.dumps([p.__dict__ for p in phases]))


if __name__ == "__main__":
    main()
