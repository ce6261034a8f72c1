"""Offline diagnosis: the applicable runbooks' signals scored against the evidence into ranked hypotheses.

A runbook's confidence is the summed weight of its matched signals over the sum of its positive weights,
clamped to 0..1 (a matched negative-weight signal is evidence against it); a runbook whose required signal
does not match is out. Signals are read in order and the first one to bind a name wins, so a runbook puts
its most specific signal first. The outcome is "none" when the caller says nothing burns (whatever the
runbooks see: a bad GPU that serves no one needs no action), "diagnosed" when the best hypothesis reaches
`min_confidence`, and "unexplained" otherwise: then the agent escalates with every observation it made.

Evidence maps `ToolCall.key` to the tool's structured result; a string or a lone `{"error": text}` there
is the tool's error (MCP structured results are JSON objects), and a missing key means the call was not
made. Either way the signals reading it do not match and the hypothesis lists the evidence it lacked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from agent.diagnose.predicates import Match, Predicate, Unbound, parse_path, render, render_value
from agent.diagnose.runbooks import IncidentContext, Runbook, Signal, Step, ToolCall, one_of_groups
from agent.vocabulary import ActionKind

Evidence = Mapping[str, Any]
LINES_PER_SIGNAL = 3  # evidence lines shown per signal; the rest are counted
_NOT_COLLECTED = object()


class SignalOutcome(BaseModel):
    id: str
    matched: bool
    weight: float
    required: bool
    count: int  # elements that passed the signal's condition
    error: str | None = None  # why its evidence was unavailable
    one_of: str | None = None


def weigh(weights: Iterable[tuple[float, str | None]]) -> float:
    """Summed signal weights, each given with its `one_of` group: a group, being one fact seen several ways,
    counts once, with its heaviest member."""
    loose, groups = 0.0, dict[str, float]()
    for weight, group in weights:
        if group is None:
            loose += weight
        else:
            groups[group] = max(groups.get(group, weight), weight)
    return loose + sum(groups.values())


class PlannedAction(BaseModel):
    """A remediation step with its templates filled; `ready` only when every precondition held."""

    action: ActionKind
    target: str | None
    params: dict[str, Any]
    reversible: bool
    revert: str | None
    ready: bool
    blocked_by: list[str]


class PlannedCheck(BaseModel):
    """A verification check to run after acting: call the tool again and test the fresh result."""

    description: str
    call: ToolCall
    predicate: Predicate
    scope: dict[str, Any]  # the incident and the hypothesis' bindings the predicate's operands may name

    def passes(self, result: Any) -> bool:
        return _error_of(result) is None and self.predicate.evaluate(result, self.scope).ok


class PlannedVerification(BaseModel):
    slo_burn_below: float
    window_s: int
    checks: list[PlannedCheck]


class PlannedEscalation(BaseModel):
    to: str
    message: str


class Hypothesis(BaseModel):
    runbook: str
    title: str
    root_cause: str
    component: str
    confidence: float
    evidence: list[str]  # what it rests on, one human-readable line per observation
    counter_evidence: list[str]
    missing_evidence: list[str]  # tool calls that failed or were not made
    signals: list[SignalOutcome]
    remediation: list[PlannedAction]
    verification: PlannedVerification
    escalation: PlannedEscalation

    @property
    def support(self) -> float:
        return weigh((s.weight, s.one_of) for s in self.signals if s.matched and s.weight > 0)


class Diagnosis(BaseModel):
    outcome: Literal["diagnosed", "none", "unexplained"]
    root_cause: str  # the best hypothesis' fault kind, "none", or "unknown" when unexplained
    component: str | None
    confidence: float
    evidence: list[str]
    hypotheses: list[Hypothesis]  # ranked, best first; only runbooks with some confidence
    problems: list[str]  # failed evidence calls, runbooks whose plan could not be filled

    @property
    def top(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.outcome == "diagnosed" else None


@dataclass
class _Reading:
    """What one runbook's signals found in the evidence."""

    scope: dict[str, Any]
    outcomes: list[SignalOutcome] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


class _Unfillable(Exception):
    pass


def diagnose(runbooks: Iterable[Runbook], incident: IncidentContext, evidence: Evidence, *, burning: bool,
             min_confidence: float = 0.5) -> Diagnosis:
    """`burning` is the caller's reading of the SLO burn rates; runbooks never decide that."""
    hypotheses: list[Hypothesis] = []
    observations: list[str] = []
    problems: list[str] = []
    for runbook in runbooks:
        if not runbook.applies(incident):
            continue
        reading = _read_signals(runbook, incident, evidence)
        observations += reading.evidence
        problems += reading.missing
        try:
            hypothesis = _hypothesis(runbook, incident, evidence, reading)
        except _Unfillable as error:
            problems.append(f"runbook {runbook.id}: {error}")
            continue
        if hypothesis:
            hypotheses.append(hypothesis)
    hypotheses.sort(key=lambda h: (-h.confidence, -h.support, h.runbook))
    problems = _distinct(problems)
    if not burning:
        return Diagnosis(outcome="none", root_cause="none", component=None, confidence=1.0,
                         evidence=["no SLO is burning"], hypotheses=hypotheses, problems=problems)
    best = hypotheses[0] if hypotheses else None
    if best and best.confidence >= min_confidence:
        return Diagnosis(outcome="diagnosed", root_cause=best.root_cause, component=best.component,
                         confidence=best.confidence, evidence=best.evidence, hypotheses=hypotheses, problems=problems)
    verdict = (f"no runbook reached confidence {min_confidence:g} (best: {best.runbook} at {best.confidence:g})"
               if best else "no runbook matched the evidence")
    return Diagnosis(outcome="unexplained", root_cause="unknown", component=None,
                     confidence=best.confidence if best else 0.0,
                     evidence=_distinct([verdict, *observations, *problems]), hypotheses=hypotheses, problems=problems)


def _read_signals(runbook: Runbook, incident: IncidentContext, evidence: Evidence) -> _Reading:
    calls = runbook.calls(incident)
    reading = _Reading(scope=incident.scope())
    for signal in runbook.signals:
        call = calls[signal.when.from_]
        result = evidence.get(call.key, _NOT_COLLECTED)
        error = _error_of(result)
        if error is not None:
            reading.missing = _distinct([*reading.missing, f"{call.tool}: {error}"])
            reading.outcomes.append(_outcome(signal, Match(False, []), error))
            continue
        match = signal.when.evaluate(result, reading.scope)
        reading.outcomes.append(_outcome(signal, match))
        if match.ok:
            _bind(signal, match, reading.scope)
            lines = _evidence_lines(signal, call.tool, match, reading.scope)
            (reading.evidence if signal.weight > 0 else reading.against).extend(lines)
    return reading


def _outcome(signal: Signal, match: Match, error: str | None = None) -> SignalOutcome:
    return SignalOutcome(id=signal.id, matched=match.ok, weight=signal.weight, required=signal.required,
                         count=len(match.elements), error=error, one_of=signal.one_of)


def _bind(signal: Signal, match: Match, scope: dict[str, Any]) -> None:
    if not match.elements:
        return
    for name, path in signal.bind.items():
        found = parse_path(path).resolve(match.elements[0])
        if name not in scope and found:
            scope[name] = found[0]


def _evidence_lines(signal: Signal, tool: str, match: Match, scope: dict[str, Any]) -> list[str]:
    if not signal.evidence:
        more = f" ({len(match.elements)} matched)" if len(match.elements) > 1 else ""
        return [f"{tool}: {signal.description}{more}"]
    if not match.elements:  # an absence signal ("count == 0"): nothing to describe one by one
        return [f"{tool}: {render(signal.evidence, scope, missing='?')}"]
    lines = [f"{tool}: {render(signal.evidence, {**scope, '$': e}, missing='?')}"
             for e in match.elements[:LINES_PER_SIGNAL]]
    if len(match.elements) > LINES_PER_SIGNAL:
        lines.append(f"{tool}: … and {len(match.elements) - LINES_PER_SIGNAL} more")
    return lines


def _score(runbook: Runbook, counted: set[str]) -> float:
    return weigh((s.weight, s.one_of) for s in runbook.signals if s.id in counted)


def _unmet_group(runbook: Runbook, reading: _Reading) -> bool:
    matched = {o.id for o in reading.outcomes if o.matched}
    return any(not matched.intersection(members) for members in one_of_groups(runbook.signals).values())


def _hypothesis(runbook: Runbook, incident: IncidentContext, evidence: Evidence,
                reading: _Reading) -> Hypothesis | None:
    if any(o.required and not o.matched for o in reading.outcomes) or _unmet_group(runbook, reading):
        return None
    positive = _score(runbook, {s.id for s in runbook.signals if s.weight > 0})
    confidence = round(min(1.0, max(0.0, _score(runbook, {o.id for o in reading.outcomes if o.matched}) / positive)),
                       3)
    if confidence == 0:
        return None
    scope, calls = reading.scope, runbook.calls(incident)
    unread = _unread_counter_evidence(runbook, reading)
    return Hypothesis(
        runbook=runbook.id, title=runbook.title, root_cause=runbook.root_cause,
        component=_fill(runbook.component, scope, "component"), confidence=confidence,
        evidence=reading.evidence, counter_evidence=reading.against, missing_evidence=reading.missing,
        signals=reading.outcomes,
        remediation=[_plan(step, scope, calls, evidence, unread) for step in runbook.remediation],
        verification=PlannedVerification(slo_burn_below=runbook.verification.slo_burn_below,
                                          window_s=runbook.verification.window_s, checks=_checks(runbook, scope)),
        escalation=PlannedEscalation(to=runbook.escalation.to,
                                     message=render(runbook.escalation.message, scope, missing="?")),
    )


def _unread_counter_evidence(runbook: Runbook, reading: _Reading) -> list[str]:
    """The evidence against the hypothesis that could not be read. It blocks every step: acting while unable to
    rule out what would make the action wrong is acting blind, even when the evidence for it is strong."""
    failed = {o.id: o.error for o in reading.outcomes if o.weight < 0 and o.error is not None}
    return [f"could not rule out that {s.description} ({failed[s.id]})" for s in runbook.signals if s.id in failed]


def _fill(template: str, scope: dict[str, Any], what: str) -> str:
    """A template that must fill: a bound element lacking the field makes the runbook unusable here."""
    try:
        return render(template, scope)
    except Unbound as error:
        raise _Unfillable(f"{what} names {error}, which the matched evidence does not hold") from None


def _checks(runbook: Runbook, scope: dict[str, Any]) -> list[PlannedCheck]:
    try:
        return [
            PlannedCheck(description=c.description, call=ToolCall(tool=c.tool, args=render_value(c.args, scope)),
                         predicate=Predicate(path=c.path, where=c.where, count=c.count), scope=scope)
            for c in runbook.verification.checks
        ]
    except Unbound as error:
        raise _Unfillable(f"a verification check names {error}, which the matched evidence does not hold") from None


def _plan(step: Step, scope: dict[str, Any], calls: dict[str, ToolCall], evidence: Evidence,
          unread_against: list[str]) -> PlannedAction:
    blocked = list(unread_against)
    target: str | None = None
    params: dict[str, Any] = step.params
    try:
        target = render(step.target, scope)
        params = render_value(step.params, scope)
    except Unbound as error:
        blocked.append(f"needs {error}, which no matched signal bound")
    for precondition in step.preconditions:
        result = evidence.get(calls[precondition.when.from_].key, _NOT_COLLECTED)
        if _error_of(result) is not None:
            blocked.append(f"{precondition.description} (evidence unavailable)")
        elif not precondition.when.evaluate(result, scope).ok:
            blocked.append(precondition.description)
    return PlannedAction(action=step.action, target=target, params=params, reversible=step.reversible,
                         revert=step.revert, ready=not blocked, blocked_by=blocked)


def _error_of(result: Any) -> str | None:
    if result is _NOT_COLLECTED:
        return "not collected"
    if isinstance(result, str):
        return result
    if isinstance(result, dict) and list(result) == ["error"]:
        return str(result["error"])
    return None


def _distinct(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
