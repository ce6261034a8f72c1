"""The words every part of the agent shares, as the scenario and result formats fix them: fault kinds (the
root causes a diagnosis may name), action kinds (what a decision may be about) and the policy's verdicts."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

FaultKind = Literal[
    "gpu_xid", "gpu_thermal_throttle", "cuda_oom", "host_oom", "memory_leak", "hung_pod", "bad_rollout",
    "traffic_surge", "node_not_ready", "provider_outage", "primary_outage", "provider_rate_limit",
    "dependency_latency", "noisy_neighbor_metric",
]
ActionKind = Literal[
    "scale_deployment", "restart_deployment", "delete_pod", "cordon_node", "drain_node", "rollback_deployment",
    "failover_provider", "set_route_weights", "escalate",
]
Verdict = Literal["allow", "require_approval", "deny"]  # what the policy gate rules on one proposed action
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)


def is_action_kind(kind: str) -> TypeGuard[ActionKind]:
    return kind in ACTION_KINDS
