"""Executable runbooks: `runbooks/*.md`, YAML front matter for the agent and Markdown below it for people.

A runbook names the evidence it needs (read-only MCP tool calls, arguments templated from the incident),
the signals that point to its root cause (predicates over those results, see `agent.diagnose.predicates`), the
component and remediation plan to fill from what the signals bound, and how to verify and escalate.
`runbooks/gpu-xid.md` is the worked example.

Loading checks everything a typo could break (unknown keys, tool names, predicates, templates naming
something nothing binds) so that a bad runbook fails when it is loaded, by name, and never mid-incident;
`load_runbooks` skips it and loads the rest.

Evidence is keyed by the canonical call, `ToolCall.key` (`list_pods(deployment="llama-70b")`), not by
a runbook's own call ids: the investigate step makes each distinct call of `RunbookSet.evidence_calls`
once and `Runbook.calls` maps a runbook's ids back to those keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.diagnose.predicates import Predicate, parse_path, render_value, template_names, value_names
from agent.vocabulary import ActionKind, FaultKind

RevertKind = Literal[
    "uncordon_node", "scale_deployment", "rollback_deployment", "set_route_weights", "failover_provider",
]
READ_TOOLS = frozenset({
    "query", "query_range", "slo_status", "firing_alerts", "target_health", "find_metrics", "metric_labels",
    "served_model_name",
    "list_deployments", "describe_deployment", "list_pods", "describe_pod", "list_nodes", "describe_node",
    "list_events", "rollout_history", "pod_logs",
    "gpu_health", "unhealthy_gpus", "explain_xid",
    "search_logs", "log_error_summary", "compare_logs",
    "gateway_routes", "provider_health",
})
COMPONENT_KINDS = ("deployment", "node", "provider", "dependency")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RunbookError(ValueError):
    """A runbook file that cannot be used; the message says what is wrong and where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncidentContext(BaseModel):
    """What templates may use before any evidence: the burning SLO's labels (and the alert, if one came)."""

    model: str
    namespace: str = "inference"
    slo: str | None = None
    alert: str | None = None
    # The range runbook queries give rate() and increase(): a few of this Prometheus' scrape intervals, so that
    # the window always holds samples yet shows a change within a minute or two (deployment configuration).
    rate_window: str = "2m"
    # The model's `model_name` label on vLLM's series, which need not be the Deployment's name (vLLM's default is
    # the --model value): what the prometheus server's `served_model_name` answers; empty, the model's own name.
    served_model: str = ""

    def scope(self) -> dict[str, Any]:
        return {**self.model_dump(), "served_model": self.served_model or self.model}


CONTEXT_NAMES = frozenset(IncidentContext.model_fields)


class ToolCall(BaseModel):
    """One read-only MCP tool call with concrete arguments; `key` names its result in the evidence."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """`list_pods(deployment="llama-70b", namespace="inference")`: the form `agent.tools` logs calls in."""
        return f"{self.tool}({', '.join(f'{k}={json.dumps(v, default=str)}' for k, v in sorted(self.args.items()))})"


def _known_tool(tool: str) -> str:
    if tool not in READ_TOOLS:
        raise ValueError(f"unknown read tool {tool!r}")
    return tool


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} is not a valid id (lower-case letters, digits, '-' and '_')")
    return value


Id = Annotated[str, AfterValidator(_identifier)]
ReadTool = Annotated[str, AfterValidator(_known_tool)]


class EvidenceCall(_Strict):
    id: Id
    tool: ReadTool
    args: dict[str, Any] = Field(default_factory=dict)


class Probe(Predicate):
    """A predicate over the result of one of the runbook's evidence calls."""

    from_: str = Field(alias="from")


class Signal(_Strict):
    id: Id
    description: str
    when: Probe
    # Positive weights are evidence for the root cause, negative ones evidence against it.
    weight: float = Field(ge=-1, le=1)
    required: bool = False
    one_of: Id | None = Field(default=None, description="a group of signals, each another way to see one fact: "
                              "at least one signal of every group must match, as a required signal must")
    bind: dict[str, str] = Field(default_factory=dict, description="name -> path in the first matched element")
    evidence: str | None = Field(default=None, description="one line per matched element; `{$.field}` is the element")

    @field_validator("bind")
    @classmethod
    def _valid_bind(cls, bind: dict[str, str]) -> dict[str, str]:
        for name, path in bind.items():
            if not _NAME.match(name) or name in CONTEXT_NAMES:
                raise ValueError(f"cannot bind {name!r}: names are identifiers other than {sorted(CONTEXT_NAMES)}")
            parse_path(path)
        return bind

    @model_validator(mode="after")
    def _required_counts(self) -> Signal:
        if self.weight == 0 or ((self.required or self.one_of) and self.weight < 0):
            raise ValueError("weight must be non-zero, and positive on a required signal or one in a `one_of` group")
        if self.required and self.one_of:
            raise ValueError("a signal is either required or one of a group, not both")
        return self


class Precondition(_Strict):
    description: str
    when: Probe


class Step(_Strict):
    action: ActionKind
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    preconditions: list[Precondition] = Field(default_factory=list)
    reversible: bool = False
    revert: RevertKind | None = None

    @model_validator(mode="after")
    def _revert_needs_reversible(self) -> Step:
        if self.revert and not self.reversible:
            raise ValueError("a step with `revert` must be `reversible: true`")
        return self


class Check(Predicate):
    """A verification check: a fresh tool call after the action, and what its result must show."""

    description: str = ""
    tool: ReadTool
    args: dict[str, Any] = Field(default_factory=dict)


class Verification(_Strict):
    slo_burn_below: float = Field(default=1.0, gt=0)
    window_s: int = Field(default=60, gt=0)
    checks: list[Check] = Field(default_factory=list)


class Escalation(_Strict):
    to: str = "on-call"
    message: str = "{model}: the {slo} SLO still burns and no runbook step fixed it"


class AppliesTo(_Strict):
    slos: list[str] | Literal["*"] = "*"
    alerts: list[str] | Literal["*"] = "*"


class Runbook(_Strict):
    id: Id
    title: str
    root_cause: FaultKind
    applies_to: AppliesTo | Literal["*"] = "*"
    component: str
    evidence_calls: list[EvidenceCall] = Field(min_length=1)
    signals: list[Signal] = Field(min_length=1)
    remediation: list[Step] = Field(default_factory=list)
    verification: Verification = Field(default_factory=Verification)
    escalation: Escalation = Field(default_factory=Escalation)

    _doc: str = PrivateAttr("")
    _path: str = PrivateAttr("")

    @field_validator("component")
    @classmethod
    def _component_kind(cls, component: str) -> str:
        if component.split("/", 1)[0] not in COMPONENT_KINDS or "/" not in component:
            raise ValueError(f"component must start with one of {', '.join(k + '/' for k in COMPONENT_KINDS)}")
        return component

    @model_validator(mode="after")
    def _consistent(self) -> Runbook:
        _check_references(self)
        return self

    @property
    def doc(self) -> str:
        """The Markdown for people (and for a language model's context)."""
        return self._doc

    @property
    def path(self) -> str:
        return self._path

    def bound_names(self, *, required_only: bool = False) -> set[str]:
        return {name for s in self.signals if s.required or not required_only for name in s.bind}

    def applies(self, incident: IncidentContext) -> bool:
        """An incident without an SLO or alert name is not filtered on it (a watcher-opened incident has no alert)."""
        if self.applies_to == "*":
            return True
        slos, alerts = self.applies_to.slos, self.applies_to.alerts
        return (slos == "*" or incident.slo is None or incident.slo in slos) and (
            alerts == "*" or incident.alert is None or incident.alert in alerts
        )

    def calls(self, incident: IncidentContext) -> dict[str, ToolCall]:
        """This runbook's evidence call ids mapped to concrete calls for the incident."""
        scope = incident.scope()
        return {c.id: ToolCall(tool=c.tool, args=render_value(c.args, scope)) for c in self.evidence_calls}


def one_of_groups(signals: list[Signal]) -> dict[str, list[str]]:
    """Each `one_of` group's signal ids, in the runbook's order."""
    groups: dict[str, list[str]] = {}
    for signal in signals:
        if signal.one_of:
            groups.setdefault(signal.one_of, []).append(signal.id)
    return groups


def _check_references(runbook: Runbook) -> None:
    """Every id a predicate names exists, and every template names something the context or a signal binds."""
    call_ids = [c.id for c in runbook.evidence_calls]
    _unique("evidence call", call_ids)
    _unique("signal", [s.id for s in runbook.signals])
    for group, members in one_of_groups(runbook.signals).items():
        if len(members) < 2:
            raise ValueError(f"one_of group {group!r} has a single signal: make it `required` instead")
    if not any(s.weight > 0 for s in runbook.signals):
        raise ValueError("at least one signal needs a positive weight")
    for call in runbook.evidence_calls:
        _names_within(value_names(call.args), CONTEXT_NAMES, f"evidence call {call.id!r} args")
    bound: set[str] = set()
    for signal in runbook.signals:
        where = f"signal {signal.id!r}"
        _known_call(signal.when.from_, call_ids, where)
        _names_within(signal.when.names(), CONTEXT_NAMES | bound, f"{where} condition (bound so far)")
        bound |= set(signal.bind)
        if signal.evidence:
            _names_within(template_names(signal.evidence), CONTEXT_NAMES | bound | {"$"}, f"{where} evidence")
    always = CONTEXT_NAMES | runbook.bound_names(required_only=True)
    anywhere = CONTEXT_NAMES | bound
    _names_within(template_names(runbook.component), always, "component (context or required signals)")
    for i, step in enumerate(runbook.remediation):
        where = f"remediation[{i}] {step.action}"
        _names_within(template_names(step.target) | value_names(step.params), anywhere, where)
        for condition in step.preconditions:
            _known_call(condition.when.from_, call_ids, f"{where} precondition")
            _names_within(condition.when.names(), anywhere, f"{where} precondition")
    for i, check in enumerate(runbook.verification.checks):
        _names_within(value_names(check.args) | check.names(), always, f"verification.checks[{i}]")
    _names_within(template_names(runbook.escalation.message), anywhere, "escalation message")


def _unique(kind: str, ids: list[str]) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate {kind} id {', '.join(duplicates)}")


def _known_call(call_id: str, call_ids: list[str], where: str) -> None:
    if call_id not in call_ids:
        raise ValueError(f"{where}: `from: {call_id}` is not an evidence call (have: {', '.join(call_ids)})")


def _names_within(names: set[str], allowed: Iterable[str], where: str) -> None:
    unbound = sorted(names - set(allowed))
    if unbound:
        raise ValueError(f"{where}: template names {', '.join(unbound)}, which nothing binds there")


# ---- loading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadError:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class RunbookSet:
    runbooks: list[Runbook] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)

    def get(self, runbook_id: str) -> Runbook | None:
        return next((r for r in self.runbooks if r.id == runbook_id), None)

    def applicable(self, incident: IncidentContext) -> list[Runbook]:
        return [r for r in self.runbooks if r.applies(incident)]

    def evidence_calls(self, incident: IncidentContext) -> list[ToolCall]:
        """The distinct calls the applicable runbooks need, in first-seen order."""
        calls = {call.key: call for r in self.applicable(incident) for call in r.calls(incident).values()}
        return list(calls.values())


def split_front_matter(text: str) -> tuple[str, str]:
    """The YAML between the opening and closing `---` lines, and the Markdown after it."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise RunbookError("no YAML front matter: the file must start with a '---' line")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "".join(lines[1:number]), "".join(lines[number + 1:])
    raise RunbookError("front matter is not closed by a '---' line")


def parse_runbook(text: str) -> Runbook:
    front, body = split_front_matter(text)
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""  # +1 for 1-based, +1 for the opening '---'
        raise RunbookError(f"YAML error{where}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise RunbookError("front matter must be a mapping")
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as error:
        raise RunbookError("; ".join(_describe(e) for e in error.errors())) from None
    runbook._doc = body.strip()
    return runbook


def _describe(error: Any) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: missing field"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def load_runbook(path: Path) -> Runbook:
    try:
        runbook = parse_runbook(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RunbookError(f"cannot read: {error}") from None
    runbook._path = str(path)
    return runbook


def load_runbooks(directory: Path | str) -> RunbookSet:
    """Every `*.md` runbook in the directory but a README; a broken one goes to `errors` by file name and the
    rest load."""
    directory = Path(directory)
    loaded = RunbookSet()
    if not directory.is_dir():
        loaded.errors.append(LoadError(str(directory), "not a directory"))
        return loaded
    for path in sorted(p for p in directory.glob("*.md") if p.name.lower() != "readme.md"):
        try:
            runbook = load_runbook(path)
        except RunbookError as error:
            loaded.errors.append(LoadError(path.name, str(error)))
            continue
        if loaded.get(runbook.id):
            loaded.errors.append(LoadError(path.name, f"id {runbook.id!r} is already used by another runbook"))
            continue
        loaded.runbooks.append(runbook)
    return loaded
