"""The incident graph's state: plain JSON-able data, so the checkpointer can store it and a restart resumes.

Hypotheses are `agent.diagnose.diagnosis.Hypothesis` dumped to JSON (ranked, best first); their `remediation`
steps are the runbook's planned actions with every template filled. Nodes read them back as the typed models
(`hypotheses_of`, `hypothesis_tried`), never as raw dicts.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from agent.diagnose.diagnosis import Hypothesis
from agent.vocabulary import ActionKind, Verdict

Outcome = Literal["resolved", "escalated", "nothing-to-do"]


class DecidedAction(TypedDict):
    """The step being carried out, as the store recorded it with the policy's verdict."""

    key: str  # the idempotency key: one per policy decision, also the MCP write's idempotency key
    action: ActionKind
    target: str
    params: dict[str, Any]
    decision: Verdict
    reasons: list[str]


class IncidentState(TypedDict, total=False):
    incident_id: str
    slo: str
    model: str
    namespace: str
    served_model: str  # the model's `model_name` on vLLM's series, as the prometheus server is configured
    investigations: int  # rounds of evidence gathered so far
    evidence: dict[str, Any]  # ToolCall.key -> the tool's structured result, or {"error": text}
    burning: bool
    blind: str  # why the agent cannot see the fleet; empty when it can
    diagnosis: Literal["diagnosed", "none", "unexplained"]
    hypotheses: list[dict[str, Any]]
    attempt: int  # index of the hypothesis being tried
    step_index: int  # index of its remediation step being carried out
    decision: DecidedAction | None
    approved: bool
    action_ok: bool
    actions_taken: int
    verified: bool
    escalation: str  # why the agent hands over to a person
    outcome: Outcome


def hypotheses_of(state: IncidentState) -> list[Hypothesis]:
    return [Hypothesis.model_validate(h) for h in state.get("hypotheses") or []]


def hypothesis_tried(state: IncidentState) -> Hypothesis:
    """The hypothesis whose remediation is being carried out (`attempt`)."""
    return Hypothesis.model_validate(state["hypotheses"][state["attempt"]])
