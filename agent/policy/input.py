"""What the policy gate is asked: one proposed action with the facts the caller knows around it.

Times are Unix seconds (`now`, `recent_actions[].at`): the store and the clock give them without
formatting, and the Rego side turns them into nanoseconds for its time builtins.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.vocabulary import ActionKind


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProposedAction(_Strict):
    """`target` is KIND/NAME: deployment/qwen-7b, pod/qwen-7b-abc12, node/gpu-node-2, provider/openai, model/qwen-7b.

    params by kind: scale_deployment {replicas: int}; set_route_weights {weights: {backend: percent}}.
    """

    kind: ActionKind
    target: str = Field(pattern=r"^[a-z]+/[^/\s]+$")
    namespace: str = ""
    params: dict[str, Any] = {}


class IncidentFacts(_Strict):
    id: str
    slo: str = ""
    model: str = ""
    severity: str = ""
    actions_taken: int = Field(default=0, ge=0)  # actions already carried out for this incident, escalate excluded


class RecentAction(_Strict):
    """An action from the store; rate limits count those whose status says they reached the fleet."""

    kind: str
    target: str
    at: float  # Unix seconds
    status: str


class PodDisruption(_Strict):
    """One deployment the action touches: `disrupted` counts its serving pods the action takes down at once."""

    deployment: str
    replicas: int = Field(ge=0)  # desired
    ready: int = Field(ge=0)
    disrupted: int = Field(ge=0)


class FleetFacts(_Strict):
    replicas: int | None = Field(default=None, ge=0)  # current desired replicas of the target deployment
    disruptions: list[PodDisruption] = []
    route_weights: dict[str, int] | None = None  # current weights of the model set_route_weights changes


class PolicyInput(_Strict):
    action: ProposedAction
    incident: IncidentFacts
    recent_actions: list[RecentAction] = []
    fleet: FleetFacts = FleetFacts()
    now: float  # Unix seconds
    dry_run: bool = False  # the caller asks for a dry run; the policy's data can also force one

    def as_input(self) -> dict[str, Any]:
        """The document Rego reads as `input`: absent facts are left out rather than null."""
        return self.model_dump(mode="json", exclude_none=True)
