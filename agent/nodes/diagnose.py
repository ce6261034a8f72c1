"""Diagnose: every applicable runbook scored against the evidence (offline), then, with a model key, Claude's
bounded tool-use loop over the same tools, which must return the same validated structure or fall back."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.diagnose.diagnosis import Diagnosis, diagnose
from agent.state import IncidentState


async def diagnose_incident(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    if state.get("blind"):  # without the burn there is nothing to weigh the evidence against
        await ctx.store.set_diagnosis(state["incident_id"], {"root_cause": "unknown", "component": "-",
                                                             "confidence": 0.0, "evidence": [state["blind"]]})
        return {"diagnosis": "unexplained", "hypotheses": []}
    incident = ctx.incident(state)
    burning = bool(state.get("burning"))
    result = diagnose(ctx.runbooks.applicable(incident), incident, state.get("evidence") or {}, burning=burning,
                      min_confidence=ctx.config.min_confidence)
    if ctx.claude is not None and burning:
        result = await _with_claude(ctx, state, result)
    await _record(ctx, state["incident_id"], result)
    acted_on = [h for h in result.hypotheses if h.confidence >= ctx.config.min_confidence]
    return {"diagnosis": result.outcome, "hypotheses": [h.model_dump(mode="json") for h in acted_on],
            "attempt": 0, "step_index": 0}


async def _with_claude(ctx: AgentContext, state: IncidentState, offline: Diagnosis) -> Diagnosis:
    result, usage = await ctx.claude.diagnose(ctx.incident(state), ctx.runbooks, ctx.tools, offline, burning=True)
    ctx.llm.calls += usage.calls
    ctx.llm.input_tokens += usage.input_tokens
    ctx.llm.output_tokens += usage.output_tokens
    return result


async def _record(ctx: AgentContext, incident_id: str, result: Diagnosis) -> None:
    top = result.hypotheses[0] if result.outcome == "diagnosed" else None
    await ctx.store.set_diagnosis(incident_id, {"root_cause": result.root_cause, "component": result.component or "-",
                                                "confidence": result.confidence, "evidence": result.evidence,
                                                "runbook": top.runbook if top else None})
    ranked = ", ".join(f"{h.runbook} {h.confidence:.2f}" for h in result.hypotheses[:5]) or "no hypothesis"
    await ctx.store.add_timeline(incident_id, "hypothesis", f"{result.outcome}: {result.root_cause} "
                                 f"({result.component or '-'}, confidence {result.confidence:.2f}); ranked: {ranked}",
                                 {"evidence": result.evidence, "problems": result.problems})
