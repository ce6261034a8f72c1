"""Verify: the model's SLOs must burn below the runbook's threshold for its whole window, and the runbook's
own checks must pass, before the verification timeout. Losing sight of the SLOs here escalates: a burn that
could not be read is never taken for a calm one."""

from __future__ import annotations

from collections import deque

from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.detect.burn import model_burn
from agent.diagnose.diagnosis import PlannedCheck
from agent.state import IncidentState, hypothesis_tried


async def verify(state: IncidentState, runtime: Runtime[AgentContext]) -> IncidentState:
    ctx, config = runtime.context, runtime.context.config
    verification = hypothesis_tried(state).verification
    threshold = verification.slo_burn_below
    # The runbook may ask for a longer calm than the service's floor, never a shorter one: a burn rate over
    # short windows dips below 1 for a moment while a rollout is still replacing bad pods.
    window = config.wall(max(verification.window_s, config.verify_window_s))
    checks = verification.checks
    deadline = ctx.clock() + config.wall(config.verify_timeout_s) + window
    samples: deque[tuple[float, float]] = deque()  # (when, the model's worst short-window burn)
    while ctx.clock() < deadline:
        burn = model_burn(await ctx.tools.call("slo_status", {"model": state["model"]}), state["model"], state["slo"])
        if burn.blind:
            return await _failed(ctx, state, f"lost sight of the SLOs while verifying: {burn.blind}", blind=True)
        now = ctx.clock()
        samples.append((now, burn.worst))
        while len(samples) > 1 and samples[1][0] <= now - window:  # keep one sample from the window's start
            samples.popleft()
        if _stayed_calm(samples, now, window, threshold):
            passed, unreadable = await _run_checks(ctx, checks)
            if unreadable:
                return await _failed(ctx, state, f"could not read a runbook check while verifying: {unreadable}",
                                     blind=True)
            if passed:
                await ctx.store.add_timeline(state["incident_id"], "verification", f"verified: burn below "
                                             f"{threshold:g} over {window:.0f}s and {len(checks)} runbook checks pass")
                return {"verified": True}
        await ctx.sleep(max(0.5, min(5.0, window / 4)))
    return await _failed(ctx, state, f"the burn did not stay below {threshold:g} for {window:.0f}s in time")


def _stayed_calm(samples: deque[tuple[float, float]], now: float, window: float, threshold: float) -> bool:
    """The burn averaged over a whole window is below the threshold. An average, not every sample: a 5-minute
    burn rate on a latency SLO jumps over 1 for a sample now and then on a healthy fleet."""
    covered = bool(samples) and samples[0][0] <= now - window
    return covered and sum(burn for _, burn in samples) / len(samples) < threshold


async def _run_checks(ctx: AgentContext, checks: list[PlannedCheck]) -> tuple[bool, str]:
    """(whether every check passes, why one could not be read): a check it cannot read neither passes nor
    fails, as either would lead to an action (resolving, or reverting and trying the next fix) on no evidence."""
    for check in checks:
        result = await ctx.tools.call(check.call.tool, check.call.args)
        if not result.ok:
            return False, f"{check.call.tool} failed ({result.kind}): {result.error}"
        if not check.passes(result.data):
            return False, ""
    return True, ""


async def _failed(ctx: AgentContext, state: IncidentState, why: str, *, blind: bool = False) -> IncidentState:
    await ctx.store.add_timeline(state["incident_id"], "verification", f"not verified: {why}")
    if blind:
        return {"verified": False, "blind": why, "escalation": why}
    return {"verified": False}
