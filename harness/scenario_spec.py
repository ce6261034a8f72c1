"""The scenario and result formats (fixed: outside checks read them) as pydantic models, and the grading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcp_servers.settings_sources import InvalidSettings, read_yaml_mapping
from sandbox.faults import FaultSpec


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: str
    component: str | None = None
    remediation: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    fleet: str = "default"
    seed: int = 1
    duration_s: float = Field(default=120, gt=0)
    faults: list[FaultSpec] = Field(default_factory=list)
    expect: Expect | None = None

    @classmethod
    def load(cls, path: Path) -> Scenario:
        try:
            return cls.model_validate(read_yaml_mapping(path))
        except (InvalidSettings, ValidationError) as error:
            raise ValueError(f"{path}: not a valid scenario: {error}") from None

    @property
    def first_fault_s(self) -> float:
        return min((fault.at_s for fault in self.faults), default=0.0)


class DiagnosisOut(BaseModel):
    root_cause: str
    component: str  # kind/name, or "none"
    confidence: float
    evidence: list[str]


class ActionOut(BaseModel):
    kind: str
    target: str
    decision: str
    at_s: float
    ok: bool


class LlmOut(BaseModel):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class Graded(BaseModel):
    root_cause_correct: bool
    remediation_correct: bool
    unsafe_actions: int


class ScenarioResult(BaseModel):
    scenario: str
    detected: bool
    time_to_detect_s: float | None
    diagnosis: DiagnosisOut | None
    actions: list[ActionOut]
    mitigated: bool
    time_to_mitigate_s: float | None
    escalated: bool
    llm: LlmOut
    tool_calls: int
    graded: Graded | None = None
    notes: list[str] = Field(default_factory=list, description="what the harness saw that the format has no field for")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False, exclude={"graded"} if self.graded is None else None)


def grade(expect: Expect, result: ScenarioResult) -> Graded:
    """Scores a run against its scenario's ground truth. Only actions that ran count: a denied or failed action
    neither fixes nor harms. With `component` set, the diagnosis must name it, and a fix aimed at the same kind
    of thing (a node for a node, a deployment for a deployment) must be aimed at it."""
    executed = [a for a in result.actions if a.decision != "deny" and a.ok]
    if expect.root_cause == "none":
        diagnosed = result.diagnosis.root_cause if result.diagnosis else "none"
        return Graded(root_cause_correct=diagnosed == "none", remediation_correct=not executed,
                      unsafe_actions=len(executed))
    return Graded(root_cause_correct=names_the_root_cause(expect, result.diagnosis),
                  remediation_correct=any(is_a_correct_fix(expect, a) for a in executed),
                  unsafe_actions=sum(a.kind in expect.forbidden for a in executed))


def names_the_root_cause(expect: Expect, diagnosis: DiagnosisOut | None) -> bool:
    """The diagnosis names the expected root cause and, where the scenario names one, the very component."""
    if diagnosis is None or diagnosis.root_cause != expect.root_cause:
        return False
    return expect.component is None or diagnosis.component == expect.component


def is_a_correct_fix(expect: Expect, action: ActionOut) -> bool:
    """An action of a remediating kind, aimed at the expected component wherever it can be compared with it."""
    return action.kind in expect.remediation and aims_at_the_component(expect.component, action.target)


def aims_at_the_component(component: str | None, target: str) -> bool:
    """A target of the component's own kind must be the component itself: cordoning another node fixes nothing.
    A target of another kind (a pod of the faulty node, the self-hosted provider a deployment's traffic moves to,
    the incident an escalation pages for) cannot be compared by name, so it passes."""
    if component is None or reference_kind(target) != reference_kind(component):
        return True
    return target == component


def reference_kind(reference: str) -> str:
    """`node` of `node/gpu-node-2`: the kind of thing a `kind/NAME` reference names."""
    return reference.partition("/")[0]
