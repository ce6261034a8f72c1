"""`firebreak scenario run`: a fresh sandbox, Prometheus, Alertmanager and agent; the scenario's faults on
schedule; the agent left to work until its incidents close or `duration_s` ends; the result, graded.

The agent runs exactly as against a real cluster: its MCP servers get the sandbox's kubeconfig and endpoints,
Alertmanager calls its webhook, and it never sees the scenario. Only the harness reads Prometheus directly,
to judge whether the SLOs really recovered.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastmcp import Client

from agent.boot import open_agent
from agent.config import AgentConfig, AlertmanagerNotify, NotifyConfig, WebhookConfig
from agent.service import AgentService
from agent.store import IncidentView
from harness.sandbox_run import RunningSandbox
from harness.scenario_spec import ActionOut, DiagnosisOut, LlmOut, Scenario, ScenarioResult, grade
from mcp_servers.compose import build
from mcp_servers.errors import BackendError
from mcp_servers.prometheus.client import PrometheusApi, prometheus_api
from mcp_servers.prometheus.slo_conventions import BUDGET_PACE, SHORTEST_WINDOW, burn_rate
from mcp_servers.settings import HttpEndpoint, Settings
from sandbox.processes import free_ports

log = logging.getLogger("firebreak.harness")

TIME_SCALE = 60.0
VERIFY_S = 5.0  # wall seconds the burned SLOs must stay under burn rate 1 to count as mitigated
RATE_WINDOW = "3s"  # three scrapes of the sandbox's Prometheus, which scrapes every second
BURN_QUERY = burn_rate(SHORTEST_WINDOW)  # the first window to tell that a burn has stopped
CLOSED = ("resolved", "escalated")

OnProgress = Callable[[str], None]  # takes one line of a run's progress, for people to read


@dataclass
class Progress:
    """Who watches a run: `say` gets the incidents' steps as they happen, `burns` each burn-rate sample."""

    say: OnProgress = lambda message: None
    burns: Callable[[dict[str, float], float], None] = lambda burns, at_s: None


@dataclass
class BurnTracker:
    """The harness's own reading of the SLOs: which burned since the fault, and since when all are calm."""

    prometheus: PrometheusApi
    burned: set[str] = field(default_factory=set)
    calm_since: float | None = None
    worst: dict[str, float] = field(default_factory=dict)

    async def sample(self, now: float) -> None:
        try:
            series = await asyncio.to_thread(self.prometheus.query, BURN_QUERY)
        except BackendError:
            return
        current = {f"{s['metric'].get('model')}/{s['metric'].get('slo')}": float(s["value"][1]) for s in series}
        current = {k: v for k, v in current.items() if v == v}  # NaN: no traffic in the window
        self.worst = current
        self.burned |= {k for k, v in current.items() if v >= BUDGET_PACE}
        calm = all(current.get(k, 0.0) < BUDGET_PACE for k in self.burned)
        self.calm_since = (self.calm_since or now) if calm and self.burned else None

    def mitigated(self, now: float) -> bool:
        return not self.burned or (self.calm_since is not None and now - self.calm_since >= VERIFY_S)


async def run_scenario(scenario: Scenario, progress: Progress | None = None) -> ScenarioResult:
    progress = progress or Progress()
    token = secrets.token_urlsafe(16)
    (hook_port,) = free_ports(1)
    sandbox = RunningSandbox(profile=scenario.fleet, seed=scenario.seed, time_scale=TIME_SCALE,
                             webhook_url=f"http://127.0.0.1:{hook_port}/webhook/alertmanager", webhook_token=token,
                             agent_metrics=f"127.0.0.1:{hook_port}")
    with tempfile.TemporaryDirectory(prefix="firebreak-scenario-") as tmp, sandbox:
        await asyncio.to_thread(sandbox.wait_for_first_scrapes)
        # Pages go to the sandbox's Alertmanager, whose on-call receiver nobody has filled in: accepted there,
        # as a real Alertmanager would accept them, and routed to no one.
        notify = NotifyConfig(alertmanager=AlertmanagerNotify(url=sandbox.endpoints["alertmanager"],
                                                              resend_s=max(1.0, 60 / TIME_SCALE)))
        config = AgentConfig(database_url=f"sqlite:///{tmp}/firebreak.db", time_scale=TIME_SCALE,
                             webhook=WebhookConfig(port=hook_port), watch_interval_s=1.0, notify=notify,
                             verify_window_s=VERIFY_S * TIME_SCALE, approval_timeout_s=30,
                             rate_window=RATE_WINDOW)
        client = Client(build("all", Settings.load(env=sandbox.agent_env())))
        async with open_agent(config, client, webhook_token=token) as service:
            return await _drive(scenario, sandbox, service, progress)


async def _drive(scenario: Scenario, sandbox: RunningSandbox, service: AgentService,
                 progress: Progress) -> ScenarioResult:
    stop = asyncio.Event()
    agent = asyncio.create_task(service.run(stop))
    started = time.monotonic()
    if scenario.faults:
        sandbox.inject([fault.model_dump() for fault in scenario.faults])
        progress.say(f"faults scheduled: {', '.join(f'{f.kind} at {f.at_s:g}s' for f in scenario.faults)}")
    origin = started + scenario.first_fault_s
    tracker = BurnTracker(prometheus_api(HttpEndpoint(url=sandbox.endpoints["prometheus"])))
    seen: dict[str, int] = {}
    try:
        while time.monotonic() - started < scenario.duration_s:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if now >= origin:
                await tracker.sample(now)
                progress.burns(tracker.worst, now - origin)
            seen = await _report_progress(service, seen, now - origin, progress.say)
            if await _settled(service, tracker, now):
                break
    finally:
        stop.set()
        await agent
    return _result(scenario, service, tracker, origin, started)


async def _settled(service: AgentService, tracker: BurnTracker, now: float) -> bool:
    incidents = await service.store.list_incidents(limit=100)
    return bool(incidents) and all(i.status in CLOSED for i in incidents) and tracker.mitigated(now)


async def _report_progress(service: AgentService, seen: dict[str, int], at_s: float,
                           say: OnProgress) -> dict[str, int]:
    """Says each incident's new timeline entries; `seen` counts what was said per incident."""
    for incident in reversed(await service.store.list_incidents(limit=100)):
        timeline = (await service.store.get_incident(incident.id)).timeline
        for entry in timeline[seen.get(incident.id, 0):]:
            say(f"+{at_s:5.1f}s {entry.incident_id} {entry.kind}: {entry.message}")
        seen[incident.id] = len(timeline)
    return seen


def _result(scenario: Scenario, service: AgentService, tracker: BurnTracker, origin: float,
            started: float) -> ScenarioResult:
    store = service.store.sync  # the agent has stopped: nothing else runs on the loop
    incidents = sorted(store.list_incidents(limit=100), key=lambda i: i.opened_at)
    wall_offset = time.time() - time.monotonic()  # store times are wall clock; the run is timed monotonically
    origin_wall = origin + wall_offset

    def at(moment: float) -> float:
        return round(moment - origin_wall, 1)

    actions = [ActionOut(kind=a.kind, target=a.target, decision=a.decision, at_s=at(a.decided_at.timestamp()),
                         ok=a.status == "succeeded")
               for incident in incidents for a in store.get_incident(incident.id).actions]
    first = incidents[0] if incidents else None
    now = time.monotonic()
    mitigated = tracker.mitigated(now) if tracker.burned else True
    mitigated_at = tracker.calm_since if tracker.burned and mitigated else None
    result = ScenarioResult(
        scenario=scenario.name, detected=first is not None,
        time_to_detect_s=at(first.opened_at.timestamp()) if first else None,
        diagnosis=_diagnosis(first), actions=sorted(actions, key=lambda a: a.at_s), mitigated=mitigated,
        time_to_mitigate_s=round(mitigated_at - origin, 1) if mitigated_at is not None else None,
        escalated=any(i.status == "escalated" for i in incidents),
        llm=LlmOut(**vars(service.runner.context.llm)), tool_calls=service.runner.context.tools.calls,
        notes=[f"SLOs that burned: {', '.join(sorted(tracker.burned)) or 'none'}",
               f"run took {now - started:.0f}s of {scenario.duration_s:g}s"])
    if scenario.expect is not None:
        result.graded = grade(scenario.expect, result)
    return result


def _diagnosis(incident: IncidentView | None) -> DiagnosisOut | None:
    if incident is None or incident.diagnosis is None:
        return DiagnosisOut(root_cause="none", component="none", confidence=1.0, evidence=["no incident opened"]) \
            if incident is None else None
    d = incident.diagnosis
    return DiagnosisOut(root_cause=d.root_cause, component="none" if d.component == "-" else d.component,
                        confidence=d.confidence, evidence=d.evidence)

