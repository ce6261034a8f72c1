"""`firebreak demo`: the sandbox, a fault, the burn-rate alert firing and resolving, shown live.

The agent is not wired in yet, so after the page reaches the webhook the demo plays the on-call engineer with
the real `kubectl rollout undo`, then watches the alert resolve. Exits 0 when the fleet is healthy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent.slo.alertmanager import render_alertmanager_config
from agent.slo.deploy import slo_rules_command
from sandbox.supervisor import LOOPBACK, free_ports
from sandbox.up import UpOptions, run

SLO_SPECS = Path(__file__).resolve().parent.parent / "deploy" / "slo"
FAULT = {"kind": "bad_rollout", "at_s": 5, "target": {"deployment": "qwen-7b"}, "params": {"error_share": 0.4}}
MODEL = FAULT["target"]["deployment"]
SLO = "availability"  # a bad build fails requests: the availability SLO pages
TIMEOUT_S = 240


@dataclass
class Notifications:
    """What Alertmanager's webhook delivered: (status, alertname, labels) in arrival order."""

    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def webhook(request: Request) -> JSONResponse:
            payload = await request.json()
            for alert in payload.get("alerts", []):
                labels = alert.get("labels", {})
                self.received.append((alert.get("status", ""), labels.get("alertname", ""), labels))
                _say(f"webhook <- Alertmanager: {alert.get('status')} {labels.get('alertname')} "
                     f"slo={labels.get('slo')} model={labels.get('model')} severity={labels.get('severity')}")
            return JSONResponse({"ok": True})
        return Starlette(routes=[Route("/webhook/alertmanager", webhook, methods=["POST"])])

    def has(self, status: str, model: str, slo: str) -> bool:
        return any(s == status and labels.get("model") == model and labels.get("slo") == slo
                   and labels.get("severity") == "page" for s, _, labels in self.received)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def demo(time_scale: float = 60.0) -> int:
    notifications = Notifications()
    (hook_port,) = free_ports(1)
    hook = uvicorn.Server(uvicorn.Config(notifications.app(), host=LOOPBACK, port=hook_port, log_level="warning"))
    hook.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="firebreak-demo-") as tmp:
        state = Path(tmp)
        rules = state / "slo-rules.yml"
        slo_rules_command(SLO_SPECS, time_scale, rules)
        options = UpOptions(state_dir=state, rule_files=[rules], time_scale=time_scale, alertmanager_config=(
            render_alertmanager_config(f"http://{LOOPBACK}:{hook_port}/webhook/alertmanager", None, time_scale)))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(hook.serve()), asyncio.create_task(run(options, stop))]
        try:
            return await _story(state, notifications, tasks)
        finally:
            stop.set()
            hook.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)


async def _story(state: Path, notifications: Notifications, tasks: list[asyncio.Task[Any]]) -> int:
    endpoints = await _wait_for_endpoints(state, tasks)
    kubeconfig = str(state / "kubeconfig")
    _say(f"sandbox up: {json.dumps(endpoints)}")
    print(await _kubectl(kubeconfig, "get", "pods", "-n", "inference", "-o", "wide"), flush=True)
    control = json.loads((state / "control.json").read_text())
    async with httpx.AsyncClient(timeout=10) as client:
        await client.post(f"{control['url']}/faults", json=[FAULT],
                          headers={"Authorization": f"Bearer {control['token']}"})
        _say(f"fault scheduled: {FAULT['kind']} on {MODEL} in {FAULT['at_s']}s")
        started = time.monotonic()
        undone = False
        while time.monotonic() - started < TIMEOUT_S:
            await asyncio.sleep(3)
            print(await _burn_table(client, endpoints["prometheus"]), flush=True)
            if notifications.has("firing", MODEL, SLO) and not undone:
                _say(f"{SLO} page received; on-call runs: kubectl rollout undo deployment/{MODEL}")
                print(await _kubectl(kubeconfig, "rollout", "history", f"deployment/{MODEL}", "-n", "inference"))
                print(await _kubectl(kubeconfig, "rollout", "undo", f"deployment/{MODEL}", "-n", "inference"))
                undone = True
            if undone and notifications.has("resolved", MODEL, SLO):
                _say(f"healed: the page for {MODEL} resolved {time.monotonic() - started:.0f}s after the fault "
                     "was scheduled")
                return 0
    _say("the alert did not fire and resolve in time")
    return 1


async def _wait_for_endpoints(state: Path, tasks: list[asyncio.Task[Any]]) -> dict[str, str]:
    for _ in range(600):
        if (state / "endpoints.json").exists():
            return dict(json.loads((state / "endpoints.json").read_text()))
        for task in tasks:
            if task.done() and task.exception():
                raise RuntimeError(f"the sandbox failed to start: {task.exception()}")
        await asyncio.sleep(0.1)
    raise RuntimeError("the sandbox gave no endpoints.json in 60 s")


async def _burn_table(client: httpx.AsyncClient, prometheus: str) -> str:
    async def query(expr: str) -> list[dict[str, Any]]:
        response = await client.get(f"{prometheus}/api/v1/query", params={"query": expr})
        return list(response.json()["data"]["result"])
    short = {(r["metric"]["slo"], r["metric"]["model"]): float(r["value"][1])
             for r in await query("slo:burn_rate:ratio_rate5m")}
    long = {(r["metric"]["slo"], r["metric"]["model"]): float(r["value"][1])
            for r in await query("slo:burn_rate:ratio_rate1h")}
    firing = {(r["metric"].get("slo"), r["metric"].get("model")): r["metric"].get("severity")
              for r in await query('ALERTS{alertstate="firing"}')}
    rows = [f"  {'SLO':<14}{'model':<12}{'burn 5m':>9}{'burn 1h':>9}  alert"]
    for key in sorted(short):
        rows.append(f"  {key[0]:<14}{key[1]:<12}{short[key]:>9.2f}{long.get(key, 0.0):>9.2f}  {firing.get(key, '')}")
    return "\n".join(rows)


async def _kubectl(kubeconfig: str, *args: str) -> str:
    """The real kubectl, run without blocking the loop that also serves the sandbox's API."""
    process = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", kubeconfig, *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return output.decode().rstrip()
