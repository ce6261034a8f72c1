"""Fault injection: each fault kind changes the fleet's physics or its configuration, never its evidence directly.

The evidence (metrics, Kubernetes state, events, logs) follows from what the controllers, kubelets, serving
model and exporters make of the changed world, as it would on a real fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from sandbox.faults import (
    bad_rollout,
    cuda_oom,
    dependency_latency,
    deployment_patch,
    gpu_thermal_throttle,
    gpu_xid,
    host_oom,
    hung_pod,
    memory_leak,
    node_not_ready,
    noisy_neighbor_metric,
    primary_outage,
    provider_outage,
    provider_rate_limit,
    traffic_surge,
)

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class FaultSpec(BaseModel):
    kind: str
    at_s: float = Field(default=0.0, ge=0)
    target: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)


KINDS: dict[str, Any] = {m.__name__.rsplit(".", 1)[1]: m for m in (
    gpu_xid, gpu_thermal_throttle, cuda_oom, host_oom, memory_leak, hung_pod, bad_rollout, traffic_surge,
    node_not_ready, provider_outage, primary_outage, provider_rate_limit, dependency_latency,
    noisy_neighbor_metric, deployment_patch)}


def validate(spec: FaultSpec) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"unknown fault kind {spec.kind!r}; known kinds: {', '.join(KINDS)}")


@dataclass
class Scheduled:
    spec: FaultSpec
    due: float  # wall seconds on the sandbox clock
    fired: bool = False
    result: str = ""


class FaultSchedule:
    """Faults waiting for their time; `fire_due` applies those whose time has come."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.entries: list[Scheduled] = []

    def add(self, specs: list[FaultSpec]) -> list[Scheduled]:
        for spec in specs:
            validate(spec)
        now = self.sandbox.clock.now()
        added = [Scheduled(spec, now + spec.at_s) for spec in specs]
        self.entries += added
        return added

    def fire_due(self) -> None:
        now = self.sandbox.clock.now()
        for entry in self.entries:
            if not entry.fired and now >= entry.due:
                entry.fired = True
                try:
                    entry.result = KINDS[entry.spec.kind].apply(self.sandbox, entry.spec.target, entry.spec.params)
                except (ValueError, KeyError) as error:
                    entry.result = f"failed: {error}"
