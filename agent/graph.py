"""The incident graph, wired: intake -> investigate -> diagnose -> plan -> policy -> (approval) -> act ->
verify -> resolve, or revert -> the next hypothesis, with every way out to escalate. The nodes live in
`agent/nodes/`; this module only says which follows which."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.nodes.act import act, more_steps
from agent.nodes.approval import approval
from agent.nodes.diagnose import diagnose_incident
from agent.nodes.escalate import escalate
from agent.nodes.intake import intake
from agent.nodes.investigate import investigate
from agent.nodes.plan import plan
from agent.nodes.policy import policy
from agent.nodes.resolve import resolve
from agent.nodes.revert import revert
from agent.nodes.verify import verify
from agent.state import IncidentState

# The compiled graph, typed with its context so that `ainvoke(..., context=AgentContext(...))` type-checks.
IncidentGraph = CompiledStateGraph[IncidentState, AgentContext, IncidentState, IncidentState]


def after_diagnose(state: IncidentState, runtime: Runtime[AgentContext]) -> str:
    if state.get("blind"):
        return "escalate"
    # A calm first look may be a dip between bursts, and an unexplained one may come before its cause's evidence:
    # both are looked at again before the incident is closed or handed over.
    looks_left = state.get("investigations", 1) < runtime.context.config.investigation_rounds
    if state.get("diagnosis") in ("none", "unexplained") and looks_left:
        return "investigate"
    if state.get("diagnosis") == "none":
        return "resolve"
    return "plan" if state.get("hypotheses") else "escalate"


def after_plan(state: IncidentState) -> str:
    return "escalate" if state.get("escalation") else "policy"


def after_policy(state: IncidentState) -> str:
    decision = state["decision"]
    assert decision is not None
    return {"allow": "act", "require_approval": "approval", "deny": "escalate"}[decision["decision"]]


def after_approval(state: IncidentState) -> str:
    if state.get("approved"):
        return "act"
    return "escalate" if state.get("escalation") else "plan"


def after_act(state: IncidentState) -> str:
    if not state.get("action_ok"):
        return "plan"
    return "plan" if more_steps(state) else "verify"


def after_verify(state: IncidentState) -> str:
    if state.get("verified"):
        return "resolve"
    return "escalate" if state.get("escalation") else "revert"


def build_graph(checkpointer: BaseCheckpointSaver | None = None, *,
                interrupt_after: list[str] | None = None) -> IncidentGraph:
    """`interrupt_after` stops the graph after the named nodes, as if the process died there (tests)."""
    graph = StateGraph(IncidentState, context_schema=AgentContext)
    for name, node in (("intake", intake), ("investigate", investigate), ("diagnose", diagnose_incident),
                       ("plan", plan), ("policy", policy), ("approval", approval), ("act", act),
                       ("verify", verify), ("revert", revert), ("escalate", escalate), ("resolve", resolve)):
        graph.add_node(name, node)
    graph.add_edge(START, "intake")
    graph.add_edge("intake", "investigate")
    graph.add_edge("investigate", "diagnose")
    graph.add_conditional_edges("diagnose", after_diagnose, ["plan", "escalate", "resolve", "investigate"])
    graph.add_conditional_edges("plan", after_plan, ["policy", "escalate"])
    graph.add_conditional_edges("policy", after_policy, ["act", "approval", "escalate"])
    graph.add_conditional_edges("approval", after_approval, ["act", "plan", "escalate"])
    graph.add_conditional_edges("act", after_act, ["plan", "verify"])
    graph.add_conditional_edges("verify", after_verify, ["resolve", "revert", "escalate"])
    graph.add_edge("revert", "plan")
    graph.add_edge("escalate", END)
    graph.add_edge("resolve", END)
    return graph.compile(checkpointer=checkpointer, interrupt_after=interrupt_after)
