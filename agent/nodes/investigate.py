"""Investigate: the evidence every applicable runbook asks for, plus the SLOs' burn, through MCP tools only.

Calls run concurrently and each failure is kept as evidence of its own. If the burn rates cannot be read, for
whatever reason, the agent is blind: it must neither act on nor close what it cannot see.
"""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.detect.burn import model_burn
from agent.diagnose.runbooks import ToolCall
from agent.state import IncidentState


async def investigate(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx = runtime.context
    rounds = state.get("investigations", 0)
    if rounds:  # nothing explained the last look: give the causes' evidence time to show
        await ctx.sleep(ctx.config.wall(ctx.config.reinvestigate_after_s))
    served, lookup_failed = state.get("served_model") or "", ""
    if not served and state.get("model"):
        served, lookup_failed = await _served_model(ctx, state.get("model") or "")
    incident = ctx.incident({**state, "served_model": served})
    slo_call = ToolCall(tool="slo_status", args={"model": incident.model})
    calls = [slo_call, *(c for c in ctx.runbooks.evidence_calls(incident) if c.key != slo_call.key)]
    results = await asyncio.gather(*(ctx.tools.call(call.tool, call.args) for call in calls))
    evidence = {call.key: result.data if result.ok else {"error": result.error}
                for call, result in zip(calls, results, strict=True)}
    burn = model_burn(results[0], incident.model, state["slo"])
    blind = f"cannot read the SLOs' burn rates: {burn.blind}" if burn.blind else ""
    failed = [c.key for c, r in zip(calls, results, strict=True) if not r.ok]
    failed += [lookup_failed] if lookup_failed else []
    await ctx.store.add_timeline(state["incident_id"], "evidence", f"{len(calls)} tool calls, {len(failed)} failed"
                                 + (f"; blind: {blind}" if blind else ""), {"calls": [c.key for c in calls],
                                                                            "failed": failed})
    return {"evidence": evidence, "blind": blind, "burning": burn.burning_now, "investigations": rounds + 1,
            "served_model": served}


async def _served_model(ctx: AgentContext, model: str) -> tuple[str, str]:
    """The model's `model_name` on vLLM's series as the tools are configured, and the failed call's key when they
    could not say. Then it stays unknown (the context falls back to the model's own name for this look, so its
    vLLM evidence shows as missing rather than as another model's) and the next look asks again."""
    call = ToolCall(tool="served_model_name", args={"deployment": model})
    result = await ctx.tools.call(call.tool, call.args)
    return (str(result.data["model_name"]), "") if result.ok else ("", call.key)
