"""`firebreak sandbox up`: the fleet's HTTP servers, its simulation loop, Prometheus and Alertmanager, together.

Writes `kubeconfig` and `endpoints.json` into the state dir once everything answers (the fleet's contract with
the agent), and `control.json` with the fault-injection API (the harness's alone). Everything stops on `stop`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import uvicorn
import yaml

from sandbox.apiserver import build_app
from sandbox.control import control_app
from sandbox.fleet import load_profile
from sandbox.gateway_api import gateway_app
from sandbox.processes import LOOPBACK, free_ports
from sandbox.runtime import Sandbox
from sandbox.supervisor import Monitoring
from sandbox.telemetry import telemetry_app
from sandbox.tls import ServingCertificate, issue

log = logging.getLogger("firebreak.sandbox")


class _NothingCancelled(logging.Filter):
    """uvicorn reports the one-second shutdown grace running out as an error even when it cancelled nothing
    (a client's idle keep-alive connection): that is the expected way to stop, not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Cancel 0 running task(s)")


logging.getLogger("uvicorn.error").addFilter(_NothingCancelled())


@dataclass
class UpOptions:
    state_dir: Path
    rule_files: Sequence[Path]
    alertmanager_config: str
    profile: str = "default"
    time_scale: float = 60.0
    seed: int = 1
    agent_target: str | None = None  # host:port of the agent's /metrics, scraped as job "firebreak"


class _Server(uvicorn.Server):
    """Several servers share one loop, so none of them may take over the process's signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def kubeconfig(server: str, token: str, ca_pem: bytes) -> str:
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "firebreak-sandbox", "cluster": cluster}],
        "users": [{"name": "firebreak", "user": {"token": token}}],
        "contexts": [{"name": "firebreak-sandbox",
                      "context": {"cluster": "firebreak-sandbox", "user": "firebreak", "namespace": "inference"}}],
        "current-context": "firebreak-sandbox",
    }, sort_keys=False)


async def run(options: UpOptions, stop: asyncio.Event) -> None:
    state = options.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    for stale in ("endpoints.json", "kubeconfig", "control.json"):
        (state / stale).unlink(missing_ok=True)
    sandbox = Sandbox(load_profile(options.profile), options.time_scale, options.seed)
    sandbox.boot()
    kube_port, telemetry_port, gateway_port, control_port = free_ports(4)
    token, control_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    apps = [(build_app(sandbox.store, token, sandbox.logs), kube_port),
            (telemetry_app(sandbox, f"{LOOPBACK}:{telemetry_port}"), telemetry_port),
            (gateway_app(sandbox), gateway_port), (control_app(sandbox, control_token), control_port)]
    tls = issue(state / "pki")
    # A client's idle keep-alive connection must not hold the shutdown up: one second of grace is plenty.
    servers = [_Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off",
                                      timeout_graceful_shutdown=1, access_log=False,
                                      **_tls_options(tls if port == kube_port else None)))
               for app, port in apps]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    simulation = asyncio.create_task(sandbox.run(stop))
    try:
        await _wait_started(servers, tasks)
        async with Monitoring(state, f"http://{LOOPBACK}:{telemetry_port}/sd", options.rule_files,
                              options.alertmanager_config, agent_target=options.agent_target) as monitoring:
            _write_state(state, token, tls.ca_pem, kube_port, gateway_port, control_port, control_token, monitoring)
            log.info("sandbox up: kubernetes https://%s:%d, prometheus %s, alertmanager %s, state in %s",
                     LOOPBACK, kube_port, monitoring.prometheus_url, monitoring.alertmanager_url, state)
            await stop.wait()
    finally:
        stop.set()
        sandbox.store.end_watches()  # open watches would otherwise outlast the shutdown grace and be cancelled
        for server in servers:
            server.should_exit = True
        await asyncio.gather(simulation, *tasks, return_exceptions=True)
        for stale in ("endpoints.json", "control.json"):
            (state / stale).unlink(missing_ok=True)


async def _wait_started(servers: list[_Server], tasks: list[asyncio.Task[None]]) -> None:
    while not all(s.started for s in servers):
        for task in tasks:
            if task.done():
                raise RuntimeError(f"a sandbox HTTP server failed to start: {task.exception()!r}")
        await asyncio.sleep(0.05)


class _TlsOptions(TypedDict, total=False):
    ssl_certfile: str
    ssl_keyfile: str


def _tls_options(tls: ServingCertificate | None) -> _TlsOptions:
    """uvicorn's TLS arguments, none for a plain-HTTP listener (typed, so mypy checks them against Config)."""
    return {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)} if tls is not None else {}


def _write_state(state: Path, token: str, ca_pem: bytes, kube_port: int, gateway_port: int, control_port: int,
                 control_token: str, monitoring: Monitoring) -> None:
    def private(path: Path, text: str) -> None:
        path.touch(mode=0o600)
        path.write_text(text)
    private(state / "kubeconfig", kubeconfig(f"https://{LOOPBACK}:{kube_port}", token, ca_pem))
    private(state / "control.json", json.dumps({"url": f"http://{LOOPBACK}:{control_port}",
                                                "token": control_token}))
    endpoints = {"kubernetes": f"https://{LOOPBACK}:{kube_port}", "prometheus": monitoring.prometheus_url,
                 "alertmanager": monitoring.alertmanager_url, "gateway": f"http://{LOOPBACK}:{gateway_port}"}
    # Written last and atomically: its presence tells waiting tools that everything answers.
    tmp = state / "endpoints.json.tmp"
    tmp.write_text(json.dumps(endpoints, indent=2))
    tmp.rename(state / "endpoints.json")
