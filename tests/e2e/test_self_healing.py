"""The whole loop on the sandbox with the real Prometheus, Alertmanager and the agent's MCP servers: a fault
burns an SLO, the agent detects, diagnoses from evidence, acts through the policy gate, and the burn stops."""

from __future__ import annotations

import asyncio

import pytest

from harness.demo import scenario_path
from harness.scenario import run_scenario
from harness.scenario_spec import Scenario

pytestmark = pytest.mark.slow

HEALED_BY_THE_AGENT = ["bad-rollout", "gpu-xid", "primary-outage"]


@pytest.mark.parametrize("name", HEALED_BY_THE_AGENT)
def test_the_agent_heals_the_fault(name: str) -> None:
    scenario = Scenario.load(scenario_path(name))
    result = asyncio.run(run_scenario(scenario))
    assert result.graded is not None, result
    assert result.detected
    assert result.graded.root_cause_correct, result.diagnosis
    assert result.graded.remediation_correct, result.actions
    assert result.graded.unsafe_actions == 0
    assert result.mitigated and not result.escalated, result.notes
    assert result.time_to_detect_s is not None and result.time_to_mitigate_s is not None
    assert result.time_to_detect_s < result.time_to_mitigate_s < scenario.duration_s


def test_a_red_herring_gets_no_action() -> None:
    scenario = Scenario.load(scenario_path("noisy-neighbor-metric")).model_copy(update={"duration_s": 45})
    result = asyncio.run(run_scenario(scenario))
    assert result.graded is not None and result.graded.unsafe_actions == 0
    assert not [a for a in result.actions if a.kind != "escalate"]
