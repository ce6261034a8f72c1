"""Claude's diagnosis: a bounded tool-use loop over the fleet's read-only MCP tools that ends in one structured,
validated `submit_diagnosis` call.

Claude sees the runbooks' front matter and the offline diagnosis as a starting point, may read the fleet through
the same read tools the runbooks use, and must answer in the runbooks' vocabulary. It never plans actions: the
diagnosis it submits is mapped onto a runbook with the same root cause, and only that runbook's own plan (filled
from the evidence by the offline reading) can reach the policy gate. Whatever goes wrong (an API error, output
that fails validation twice, a spent turn budget) the offline diagnosis stands with the reason in its problems:
this path never raises into the graph.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import anthropic
from anthropic.types import (
    AssistantMessageParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    Usage,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from agent.diagnose.diagnosis import Diagnosis, Hypothesis, PlannedEscalation, PlannedVerification
from agent.diagnose.runbooks import COMPONENT_KINDS, READ_TOOLS, IncidentContext, Runbook, RunbookSet
from agent.tools import ToolClient
from agent.vocabulary import ACTION_KINDS, FAULT_KINDS, ActionKind, FaultKind

log = logging.getLogger("firebreak.agent.llm")

DEFAULT_MODEL = "claude-sonnet-5-5"
SUBMIT = "submit_diagnosis"
RESULT_CHARS = 12_000  # of one tool result's JSON sent back to Claude: tools cap their own lists, this caps the rest
EVIDENCE_LINES = 20
EVIDENCE_CHARS = 400
COMPONENT_PATTERN = rf"^({'|'.join(COMPONENT_KINDS)})/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"

RootCause = Literal[FaultKind, "unknown"]  # "none" is not offered: Claude is consulted only while an SLO burns


class LlmUsage(BaseModel):
    """What the language model cost an incident: the result format's `llm` object."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, usage: Usage) -> None:
        self.calls += 1
        # Cached prompt tokens are billed apart from `input_tokens`, yet they are input the model read.
        cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
        self.input_tokens += usage.input_tokens + cached
        self.output_tokens += usage.output_tokens


class Submission(BaseModel):
    """The input of `submit_diagnosis`: Claude's whole answer."""

    model_config = ConfigDict(extra="forbid")

    root_cause: RootCause = Field(description="a fault kind, or unknown when none fits the evidence")
    component: str | None = Field(
        default=None, pattern=COMPONENT_PATTERN,
        description="the smallest of deployment/NAME, node/NAME, provider/NAME, dependency/NAME that holds the "
                    "cause (a fault in one pod names its deployment); required unless root_cause is unknown")
    confidence: float = Field(ge=0, le=1)
    evidence: list[Annotated[str, StringConstraints(min_length=1, max_length=EVIDENCE_CHARS)]] = Field(
        min_length=1, max_length=EVIDENCE_LINES, description="the observations it rests on, one line each")
    runbook: str | None = Field(default=None, description="the id of the runbook that applies, if one does")
    remediation: list[ActionKind] = Field(
        default_factory=list, max_length=10, description="the action kinds of that runbook's remediation to take")


def _parse(raw: object, runbooks: RunbookSet) -> Submission | str:
    """The submission, or what is wrong with it in words Claude can act on."""
    try:
        submission = Submission.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors()[:6])
        return f"the {SUBMIT} input is invalid ({problems})"
    if submission.root_cause != "unknown" and not submission.component:
        return f"root_cause {submission.root_cause} needs its component"
    if submission.runbook:
        runbook = runbooks.get(submission.runbook)
        if runbook is None:
            return f"there is no runbook {submission.runbook!r}"
        if runbook.root_cause != submission.root_cause:
            return f"runbook {runbook.id} is for {runbook.root_cause}, not {submission.root_cause}"
    return submission


# ---- the conversation ------------------------------------------------------------------------------------------


class _GiveUp(Exception):
    """Claude did not produce a usable diagnosis; the message says why."""


@dataclass
class ClaudeDiagnoser:
    client: anthropic.AsyncAnthropic
    model: str = DEFAULT_MODEL
    max_turns: int = 8  # Messages requests for investigating; one corrective retry may come on top
    max_tokens: int = 16_000  # adaptive thinking spends from it too
    min_confidence: float = 0.5  # below it the diagnosis is "unexplained", as offline

    async def diagnose(self, incident: IncidentContext, runbooks: RunbookSet, tools: ToolClient, offline: Diagnosis,
                       *, burning: bool) -> tuple[Diagnosis, LlmUsage]:
        """Claude's diagnosis, or `offline` with the reason Claude's was not used among its problems."""
        usage = LlmUsage()
        if not burning:  # nothing to diagnose: the offline answer ("none") costs no tokens
            return offline, usage
        conversation = _Conversation(self, incident, runbooks, tools, offline, usage)
        try:
            submission = await conversation.run()
        except _GiveUp as reason:
            return _fallback(offline, str(reason)), usage
        except anthropic.AnthropicError as error:
            return _fallback(offline, _api_problem(error)), usage
        diagnosis = _diagnosis(submission, runbooks, offline, self.min_confidence)
        log.info("Claude (%s) diagnosed %s on %s in %d calls", self.model, diagnosis.root_cause,
                 diagnosis.component, usage.calls)
        return diagnosis, usage


class _Conversation:
    def __init__(self, diagnoser: ClaudeDiagnoser, incident: IncidentContext, runbooks: RunbookSet,
                 tools: ToolClient, offline: Diagnosis, usage: LlmUsage) -> None:
        self.d, self.runbooks, self.tools, self.usage = diagnoser, runbooks, tools, usage
        schemas = tools.schemas()
        self.offered = sorted(READ_TOOLS & set(schemas))
        self.tool_params: list[ToolParam] = [
            {"name": name, "description": schemas[name].description, "input_schema": schemas[name].input_schema}
            for name in self.offered
        ]
        self.tool_params.append(_submit_tool())
        # Cached: the tools and the system prompt repeat every turn.
        self.system: list[TextBlockParam] = [{"type": "text", "text": system_prompt(runbooks, offline),
                                              "cache_control": {"type": "ephemeral"}}]
        self.messages: list[MessageParam] = [
            {"role": "user", "content": [{"type": "text", "text": incident_message(incident)}]}]
        self.requests = 0
        self.corrected = False

    async def run(self) -> Submission:
        while True:
            response = await self._ask()
            uses = [block for block in response.content if isinstance(block, ToolUseBlock)]
            submit = next((use for use in uses if use.name == SUBMIT), None)
            if response.stop_reason == "max_tokens":
                problem = f"the answer was cut off at max_tokens ({self.d.max_tokens})"
            elif submit is not None:
                parsed = _parse(submit.input, self.runbooks)
                if isinstance(parsed, Submission):
                    return parsed
                problem = parsed
            elif uses and self.requests < self.d.max_turns:
                results = [await self._run_tool(use) for use in uses]
                self.messages += [_assistant(response), {"role": "user", "content": results}]
                continue
            elif uses:
                problem = f"no {SUBMIT} call within {self.d.max_turns} turns"
            else:
                problem = f"it answered without calling {SUBMIT}"
            self._correct(response, uses, problem)

    async def _ask(self) -> Message:
        # No forced tool_choice, not even on the corrective retry: current models answer it with a 400.
        self.requests += 1
        response = await self.d.client.messages.create(
            model=self.d.model, max_tokens=self.d.max_tokens, system=self.system, messages=self.messages,
            tools=self.tool_params,
        )
        self.usage.add(response.usage)
        return response

    async def _run_tool(self, use: ToolUseBlock) -> ToolResultBlockParam:
        if use.name not in self.offered:
            return _tool_result(use.id, f"{use.name} is not one of the tools offered: {', '.join(self.offered)}",
                                error=True)
        if not isinstance(use.input, dict):
            return _tool_result(use.id, "the tool input must be a JSON object", error=True)
        result = await self.tools.call(use.name, use.input)
        if not result.ok:
            return _tool_result(use.id, result.error or f"{use.name} failed", error=True)
        return _tool_result(use.id, _clip(json.dumps(result.data, default=str)))

    def _correct(self, response: Message, uses: Sequence[ToolUseBlock], problem: str) -> None:
        """One corrective message; a second failure gives up."""
        if self.corrected:
            raise _GiveUp(f"{problem}, after one corrective retry")
        self.corrected = True
        note: TextBlockParam = {"type": "text", "text": f"Not accepted: {problem}. Call {SUBMIT} now, following "
                                                        "its input schema exactly, with what you have found; keep "
                                                        "evidence lines short."}
        if response.stop_reason == "max_tokens":
            # A cut-off turn may hold a half-written tool call: it is dropped and the last message asked again.
            content = self.messages[-1]["content"]
            assert isinstance(content, list)  # this conversation writes every turn's content as a list of blocks
            content.append(note)
            return
        answers = [_tool_result(use.id, problem if use.name == SUBMIT else f"not run: {problem}", error=True)
                   for use in uses]  # every tool_use must be answered in the next message
        self.messages += [_assistant(response), {"role": "user", "content": [*answers, note]}]


def _assistant(response: Message) -> AssistantMessageParam:
    """The turn as it came (thinking blocks must go back unchanged), but for a tool call whose input is not an
    object: the API takes only objects back, and the tool_result says what was wrong."""
    return {"role": "assistant", "content": [
        b.model_copy(update={"input": {}}) if isinstance(b, ToolUseBlock) and not isinstance(b.input, dict) else b
        for b in response.content
    ]}


def _tool_result(tool_use_id: str, content: str, *, error: bool = False) -> ToolResultBlockParam:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": error}


def _clip(text: str, limit: int = RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [clipped: {limit} of {len(text)} characters; ask for less detail or a narrower scope]"


def _submit_tool() -> ToolParam:
    return {
        "name": SUBMIT,
        "description": "Submit the final diagnosis of the incident, once, when the evidence supports it. "
                       "Name a root cause from the vocabulary and, if a runbook applies, its id and the action "
                       "kinds of its remediation; the agent carries out only the runbook's own plan.",
        "input_schema": Submission.model_json_schema(),
    }


def _api_problem(error: anthropic.AnthropicError) -> str:
    if isinstance(error, anthropic.APIStatusError):
        return f"the Anthropic API answered {error.status_code}: {error.message}"
    if isinstance(error, anthropic.APIConnectionError):
        return f"cannot reach the Anthropic API: {error}"
    return f"Anthropic client error: {type(error).__name__}: {error}"


def _fallback(offline: Diagnosis, reason: str) -> Diagnosis:
    log.warning("Claude's diagnosis not used: %s", reason)
    return offline.model_copy(update={"problems": [*offline.problems, f"Claude's diagnosis not used: {reason}"]})


# ---- prompts ---------------------------------------------------------------------------------------------------


def system_prompt(runbooks: RunbookSet, offline: Diagnosis) -> str:
    return "\n\n".join([
        "You are Firebreak, the SRE agent of an LLM inference fleet (vLLM-style model servers on GPUs behind a "
        "gateway that can move traffic to hosted backup providers). An SLO burns; find its root cause. Read the "
        "fleet only through the tools offered (all read-only), a few well-chosen calls, then call "
        f"{SUBMIT} exactly once.",
        f"Root causes: {', '.join(FAULT_KINDS)}, or unknown when none fits.\n"
        f"Action kinds: {', '.join(ACTION_KINDS)}.\n"
        "Components: deployment/NAME, node/NAME, provider/NAME or dependency/NAME, the smallest that holds the "
        "cause (a fault in one pod names its deployment; the pod goes in the evidence). Beware of red herrings: "
        "a faulty GPU or noisy metric that serves nothing burning is not the cause.",
        "Runbooks (the agent acts only through these; name the one that applies):\n"
        + ("\n".join(_runbook_summary(r) for r in runbooks.runbooks) or "(none loaded)"),
        "The offline diagnosis from the runbooks' signals (a starting point, not the answer):\n"
        + _offline_summary(offline),
    ])


def _runbook_summary(runbook: Runbook) -> str:
    slos = "any SLO" if runbook.applies_to == "*" or runbook.applies_to.slos == "*" else \
        "SLOs " + ", ".join(runbook.applies_to.slos)
    signals = "; ".join(f"{'+' if s.weight > 0 else '-'}{abs(s.weight):g} {s.description}"
                        f"{' (required)' if s.required else ''}{f' (one of {s.one_of})' if s.one_of else ''}"
                        for s in runbook.signals)
    reads = ", ".join(f"{c.tool}({json.dumps(c.args)})" for c in runbook.evidence_calls)
    plan = "; ".join(f"{s.action} {s.target}" for s in runbook.remediation) or "none (escalate)"
    return (f"- {runbook.id}: {runbook.title}. root_cause {runbook.root_cause}, component {runbook.component}, "
            f"{slos}.\n  reads: {reads}\n  signals: {signals}\n  remediation: {plan}")


def _offline_summary(offline: Diagnosis) -> str:
    lines = [f"outcome {offline.outcome}, root_cause {offline.root_cause}, component {offline.component}, "
             f"confidence {offline.confidence:g}"]
    lines += [f"  evidence: {line}" for line in offline.evidence[:EVIDENCE_LINES]]
    for h in offline.hypotheses[:5]:
        lines.append(f"- hypothesis {h.runbook} ({h.root_cause} on {h.component}) confidence {h.confidence:g}")
        lines += [f"    for: {line}" for line in h.evidence[:5]]
        lines += [f"    against: {line}" for line in h.counter_evidence[:5]]
        lines += [f"    missing: {line}" for line in h.missing_evidence[:5]]
    lines += [f"  problem: {line}" for line in offline.problems[:10]]
    return "\n".join(lines)


def incident_message(incident: IncidentContext) -> str:
    slo = f"the {incident.slo} SLO" if incident.slo else "an SLO"
    alert = f" (alert {incident.alert})" if incident.alert else ""
    return (f"Incident: {slo} of model {incident.model} in namespace {incident.namespace} is burning{alert}. "
            f"Diagnose it and call {SUBMIT}.")


# ---- from Claude's answer to the agent's diagnosis -------------------------------------------------------------


def _diagnosis(submission: Submission, runbooks: RunbookSet, offline: Diagnosis, min_confidence: float) -> Diagnosis:
    if submission.root_cause == "unknown":
        return Diagnosis(outcome="unexplained", root_cause="unknown", component=submission.component,
                         confidence=submission.confidence, evidence=submission.evidence,
                         hypotheses=offline.hypotheses, problems=offline.problems)
    hypothesis, notes = _hypothesis(submission, runbooks, offline)
    ranked = [hypothesis, *(h for h in offline.hypotheses if h.runbook != hypothesis.runbook)]
    problems = list(dict.fromkeys([*offline.problems, *notes]))
    if submission.confidence < min_confidence:
        verdict = f"Claude's best guess {submission.root_cause} is below confidence {min_confidence:g}"
        return Diagnosis(outcome="unexplained", root_cause="unknown", component=None,
                         confidence=submission.confidence, evidence=[verdict, *submission.evidence],
                         hypotheses=ranked, problems=problems)
    return Diagnosis(outcome="diagnosed", root_cause=hypothesis.root_cause, component=hypothesis.component,
                     confidence=submission.confidence, evidence=hypothesis.evidence, hypotheses=ranked,
                     problems=problems)


def _hypothesis(submission: Submission, runbooks: RunbookSet, offline: Diagnosis) -> tuple[Hypothesis, list[str]]:
    """The offline hypothesis of the runbook Claude chose (its plan is the only one the agent may act on), with
    Claude's confidence and evidence; without one, a hypothesis with no plan, which the agent escalates."""
    candidates = [h for h in offline.hypotheses if h.root_cause == submission.root_cause
                  and (submission.runbook is None or h.runbook == submission.runbook)]
    candidates.sort(key=lambda h: h.component != submission.component)  # stable: offline rank breaks ties
    if not candidates:
        runbook = runbooks.get(submission.runbook) if submission.runbook else next(
            (r for r in runbooks.runbooks if r.root_cause == submission.root_cause), None)
        return _unplanned(submission, runbook)
    chosen = candidates[0]
    notes = []
    if submission.component != chosen.component:
        notes.append(f"Claude named {submission.component}; runbook {chosen.runbook} plans for {chosen.component}")
    planned = {step.action for step in chosen.remediation}
    ignored = [action for action in submission.remediation if action not in planned]
    if ignored:
        notes.append(f"ignored Claude's remediation {', '.join(ignored)}: runbook {chosen.runbook} does not plan it")
    evidence = list(dict.fromkeys([*submission.evidence, *chosen.evidence]))
    return chosen.model_copy(update={"confidence": submission.confidence, "evidence": evidence}), notes


def _unplanned(submission: Submission, runbook: Runbook | None) -> tuple[Hypothesis, list[str]]:
    component = submission.component or ""
    if runbook is None:
        note = f"no runbook for {submission.root_cause}: nothing to act on, a person decides"
        verification, escalation_to = PlannedVerification(slo_burn_below=1.0, window_s=60, checks=[]), "on-call"
    else:
        note = f"runbook {runbook.id}'s plan could not be filled from the evidence: nothing to act on"
        verification = PlannedVerification(slo_burn_below=runbook.verification.slo_burn_below,
                                           window_s=runbook.verification.window_s, checks=[])
        escalation_to = runbook.escalation.to
    hypothesis = Hypothesis(
        runbook=runbook.id if runbook else "claude",
        title=runbook.title if runbook else f"{submission.root_cause} on {component} (no runbook)",
        root_cause=submission.root_cause, component=component, confidence=submission.confidence,
        evidence=submission.evidence, counter_evidence=[], missing_evidence=[], signals=[], remediation=[],
        verification=verification,
        escalation=PlannedEscalation(to=escalation_to, message=f"Claude diagnosed {submission.root_cause} on "
                                                               f"{component}: {note}"),
    )
    return hypothesis, [note]


# ---- wiring ----------------------------------------------------------------------------------------------------


def build_claude_diagnoser(env: Mapping[str, str]) -> ClaudeDiagnoser | None:
    """Claude only with `ANTHROPIC_API_KEY`; `ANTHROPIC_BASE_URL` and `FIREBREAK_CLAUDE_MODEL` when set."""
    key = env.get("ANTHROPIC_API_KEY")
    if not key:
        return None
    # One SDK retry: a longer wait holds the incident up, and the offline diagnosis is always there.
    client = anthropic.AsyncAnthropic(api_key=key, base_url=env.get("ANTHROPIC_BASE_URL") or None,
                                      max_retries=1, timeout=60.0)
    return ClaudeDiagnoser(client, model=env.get("FIREBREAK_CLAUDE_MODEL") or DEFAULT_MODEL)
