"""What the policy gate is told a rollout disrupts: the serving pods it replaces, counted as the strategy says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from agent.policy.facts import deployment_facts
from agent.tools import ToolClient, ToolResult

pytestmark = pytest.mark.anyio

# two replicas, maxUnavailable 1: one old pod serves, the new revision's pod never got ready
STUCK_ROLLOUT: dict[str, dict[str, Any]] = {
    "describe_deployment": {"deployment": {"desired": 2, "ready": 1}, "max_unavailable": 1},
    "rollout_history": {"revisions": [{"revision": 33, "current": True, "ready": 0},
                                      {"revision": 32, "current": False, "ready": 1}]},
}


@dataclass
class CannedTools:
    answers: dict[str, dict[str, Any]]
    unreadable: set[str] = field(default_factory=set)

    async def call(self, tool: str, args: dict[str, Any]) -> ToolResult:
        if tool in self.unreadable or tool not in self.answers:
            return ToolResult(tool=tool, args=args, ok=False, error="unreachable")
        return ToolResult(tool=tool, args=args, ok=True, data=self.answers[tool])


async def disrupted(action: str, tools: CannedTools) -> tuple[int, int]:
    facts = await deployment_facts(cast(ToolClient, tools), action, "mistral-7b", "inference")
    (deployment,) = facts.disruptions
    return deployment.ready, deployment.disrupted


async def test_a_rollback_replaces_only_the_current_revisions_pods() -> None:
    assert await disrupted("rollback_deployment", CannedTools(STUCK_ROLLOUT)) == (1, 0)


async def test_a_rollback_whose_history_cannot_be_read_counts_every_ready_pod() -> None:
    tools = CannedTools(STUCK_ROLLOUT, unreadable={"rollout_history"})
    assert await disrupted("rollback_deployment", tools) == (1, 1)


async def test_a_restart_replaces_every_serving_pod_a_few_at_a_time() -> None:
    assert await disrupted("restart_deployment", CannedTools(STUCK_ROLLOUT)) == (1, 1)
