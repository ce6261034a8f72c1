"""Offline diagnosis on the real thing: for each fault kind, a fresh sandbox with Prometheus, the fault from its
scenario, the evidence gathered exactly as the agent's investigate step gathers it (slo_status plus every
applicable runbook's evidence calls, through the composed MCP servers), looked at again as the agent does while
nothing explains the burn, and `diagnose` must name the scenario's root cause and component. The agent sees
tool results only; the scenario is read here, by the test."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from agent.config import AgentConfig
from agent.detect.burn import readings
from agent.diagnose.diagnosis import Diagnosis, diagnose
from agent.diagnose.runbooks import IncidentContext, RunbookSet, ToolCall, load_runbooks
from agent.tools import ToolClient
from harness.sandbox_run import RunningSandbox
from harness.scenario import RATE_WINDOW
from harness.scenario_spec import Scenario
from mcp_servers.compose import build
from mcp_servers.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE_WAIT_S = 60.0  # wall seconds at time scale 60: an SLO hour, enough for every fault to burn
QUIET_WAIT_S = 30.0  # how long a fault that should burn nothing is given to prove it
POLL_S = 1.0
SETTLE_S = 4.0  # an alert reaches the agent a few seconds after the burn starts; so does its investigation
# the sandbox's: how many looks the agent takes, how far apart, and the range of its rate queries
AGENT = AgentConfig(time_scale=60, rate_window=RATE_WINDOW)

# The model whose incident the agent would open for each scenario: the one whose SLO the fault burns.
CASES = {
    "gpu-xid": "llama-70b", "gpu-thermal-throttle": "qwen-7b", "cuda-oom": "mistral-7b", "host-oom": "llama-70b",
    "memory-leak": "qwen-7b", "hung-pod": "llama-70b", "bad-rollout": "qwen-7b", "traffic-surge": "mistral-7b",
    "node-not-ready": "llama-70b", "provider-outage": "llama-70b", "primary-outage": "mistral-7b",
    "provider-rate-limit": "qwen-7b", "noisy-neighbor-metric": "llama-70b", "dependency-latency": "qwen-7b",
}


async def _investigate(tools: ToolClient, library: RunbookSet, incident: IncidentContext) -> dict[str, Any]:
    """What agent.nodes.investigate collects: the burn first, then each distinct runbook call once."""
    slo_call = ToolCall(tool="slo_status", args={"model": incident.model})
    calls = [slo_call, *(c for c in library.evidence_calls(incident) if c.key != slo_call.key)]
    results = await asyncio.gather(*(tools.call(c.tool, c.args) for c in calls))
    return {c.key: r.data if r.ok else {"error": r.error} for c, r in zip(calls, results, strict=True)}


def _burning(evidence: dict[str, Any], model: str) -> bool:
    burn = evidence[ToolCall(tool="slo_status", args={"model": model}).key]
    return any(r.burning for r in readings(burn) if r.model == model)


async def _diagnose_after_fault(sandbox: RunningSandbox, library: RunbookSet, incident: IncidentContext,
                                expect_burn: bool) -> tuple[Diagnosis, bool]:
    """Polls the burn until the SLO burns (when an alert would open the incident), then investigates as the agent
    would a few seconds later; a scenario that should not burn is investigated once the wait is over."""
    client = Client(build("all", Settings.load(env=sandbox.agent_env())))
    slo_call = ToolCall(tool="slo_status", args={"model": incident.model})
    async with ToolClient(client) as tools:
        deadline = time.monotonic() + (EVIDENCE_WAIT_S if expect_burn else QUIET_WAIT_S)
        burning = False
        while not (expect_burn and burning) and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            burn = await tools.call(slo_call.tool, slo_call.args)
            burning = burn.ok and _burning({slo_call.key: burn.data}, incident.model)
        if burning:
            await asyncio.sleep(SETTLE_S)
        for look in range(AGENT.investigation_rounds):  # the agent looks again while nothing explains the burn
            if look:
                await asyncio.sleep(AGENT.wall(AGENT.reinvestigate_after_s))
            evidence = await _investigate(tools, library, incident)
            diagnosis = diagnose(library.applicable(incident), incident, evidence, burning=burning)
            if diagnosis.outcome != "unexplained":
                break
    return diagnosis, burning


# A known regression, open in issue 16: since the kubelet evicts (rather than OOM-kills) under host memory pressure,
# the evicted llama-70b pod is replaced on another node within seconds of fleet time and its SLO has stopped
# burning by the time this test looks. The runbook itself matches (confidence 1.0); the burn is what is missing.
EVICTED_TOO_FAST = pytest.mark.xfail(reason="host-oom: the eviction's burn is over before the look", strict=False)


@pytest.mark.parametrize("name", [pytest.param(n, marks=EVICTED_TOO_FAST) if n == "host-oom" else n
                                  for n in sorted(CASES)])
def test_offline_diagnosis_names_the_injected_fault(name: str) -> None:
    scenario = Scenario.load(ROOT / "scenarios" / f"{name}.yaml")
    assert scenario.expect is not None
    library = load_runbooks(ROOT / "runbooks")
    incident = IncidentContext(model=CASES[name], slo=None, rate_window=RATE_WINDOW)
    expected = scenario.expect.root_cause
    with RunningSandbox(seed=scenario.seed) as sandbox:
        sandbox.wait_for_first_scrapes()
        sandbox.inject([{**fault.model_dump(), "at_s": 0} for fault in scenario.faults])
        diagnosis, burning = asyncio.run(_diagnose_after_fault(sandbox, library, incident, expected != "none"))
    ranked = [(h.runbook, h.confidence) for h in diagnosis.hypotheses]
    assert burning == (expected != "none"), ranked
    assert diagnosis.root_cause == expected, (ranked, diagnosis.evidence)
    assert diagnosis.component == scenario.expect.component, (ranked, diagnosis.evidence)
