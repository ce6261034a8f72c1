"""A running sandbox (fleet, Prometheus, Alertmanager) in a background thread, as the harness and tests use it.

What the agent may see is `endpoints` and `kubeconfig`, exactly what `firebreak sandbox up` writes; fault
injection (`inject`) goes through the sandbox's own control API, which only the harness holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from agent.slo.alertmanager import render_alertmanager_config
from agent.slo.deploy import slo_rules_command
from agent.slo.rules import AGENT_JOB
from mcp_servers.errors import BackendError
from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import HttpEndpoint
from sandbox.fleet import load_profile
from sandbox.up import UpOptions, run

SLO_SPECS = Path(__file__).resolve().parent.parent / "deploy" / "slo"
START_TIMEOUT_S = 60.0


class RunningSandbox:
    def __init__(self, *, profile: str = "default", time_scale: float = 60.0, seed: int = 1,
                 webhook_url: str = "http://127.0.0.1:9/webhook/alertmanager", webhook_token: str | None = None,
                 state_dir: Path | None = None, agent_metrics: str | None = None) -> None:
        """`agent_metrics` (host:port) is where the agent that works this fleet serves /metrics: Prometheus
        scrapes it, and the rules watch its heartbeat. Without it no agent is watched."""
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="firebreak-sandbox-")
        self.state_dir = state_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.time_scale = time_scale
        rules = self.state_dir / "slo-rules.yml"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        slo_rules_command(SLO_SPECS, time_scale, rules, watch_agent=agent_metrics is not None)
        self._options = UpOptions(state_dir=self.state_dir, rule_files=[rules], profile=profile,
                                  time_scale=time_scale, seed=seed, alertmanager_config=render_alertmanager_config(
                                      webhook_url, webhook_token, time_scale), agent_target=agent_metrics)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sandbox", daemon=True)
        self.endpoints: dict[str, str] = {}

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def start(self) -> RunningSandbox:
        endpoints = self.state_dir / "endpoints.json"
        endpoints.unlink(missing_ok=True)  # a state directory kept from a last run must not pass for this one
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not endpoints.exists():
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox gave no endpoints.json in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        self.endpoints = json.loads(endpoints.read_text())
        return self

    def wait_for_first_scrapes(self, timeout_s: float = 30.0) -> None:
        """Prometheus refreshes http_sd every 5 s: a run starts once every fleet target has been scraped (the
        agent's own comes up when the agent does)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(BackendError, KeyError):
                targets = prometheus_api(HttpEndpoint(url=self.endpoints["prometheus"])).targets(state="active")
                active = [t for t in targets["activeTargets"] if t["labels"].get("job") != AGENT_JOB]
                if active and all(t["health"] == "up" for t in active):
                    return
            time.sleep(0.5)
        raise RuntimeError("Prometheus did not scrape every sandbox target in time")

    def stop(self) -> None:
        """Stops the sandbox; stopping one that has stopped already does nothing."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        if self._tmp is not None:
            self._tmp.cleanup()

    def inject(self, faults: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Schedules faults (scenario format; `at_s` counts from now). Returns what the sandbox scheduled."""
        return inject_faults(self.state_dir, faults)

    def agent_env(self) -> dict[str, str]:
        """The environment an agent or MCP server gets: the fleet's endpoints, nothing of the control API."""
        env = {"KUBECONFIG": str(self.kubeconfig), "PROMETHEUS_URL": self.endpoints["prometheus"],
               "ALERTMANAGER_URL": self.endpoints["alertmanager"], "GATEWAY_URL": self.endpoints["gateway"]}
        fleet = load_profile(self._options.profile)
        if not fleet.served_model_names:  # as its operator would: vLLM serves each model under its --model value
            env["FIREBREAK_SERVED_MODEL_NAMES"] = json.dumps({m.name: m.hf_model for m in fleet.models})
        return env

    def run_in_foreground(self) -> None:
        """Serves in this thread until SIGINT or SIGTERM (`firebreak sandbox up`), then stops everything it
        started; a failure, at start or later, is raised here."""
        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run(self._options, stop)
        asyncio.run(serve())

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported to the starting thread
            self._error = error
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await run(self._options, self._stop)

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def inject_faults(state_dir: Path, faults: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Schedules faults on the sandbox whose state is in `state_dir` (its control API's address and token), this
    process's or another's (`firebreak sandbox inject`). Returns what the sandbox scheduled."""
    control = json.loads((state_dir / "control.json").read_text())
    response = httpx.post(f"{control['url']}/faults", json=list(faults), timeout=10,
                          headers={"Authorization": f"Bearer {control['token']}"})
    if response.status_code >= 400:
        raise ValueError(f"the sandbox refused the faults: {response.text}")
    return list(response.json()["scheduled"])
