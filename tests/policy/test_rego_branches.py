"""Every decision branch of policies/remediation.rego with the shipped data (policies/data.yaml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent.policy.gate import PolicyGate, PolicyRuling

from .conftest import NOW, request

GateWith = Callable[..., PolicyGate]


def only_reason(ruling: PolicyRuling) -> str:
    assert len(ruling.reasons) == 1, ruling.reasons
    return ruling.reasons[0]


def disruption(ready: int, disrupted: int, replicas: int = 3, deployment: str = "qwen-7b") -> dict[str, Any]:
    return {"disruptions": [{"deployment": deployment, "replicas": replicas, "ready": ready, "disrupted": disrupted}]}


# --- allowed kinds, targets and namespaces ---


@pytest.mark.parametrize(
    ("kind", "target", "namespace", "fleet"),
    [
        ("scale_deployment", "deployment/qwen-7b", "inference", {"replicas": 3}),
        ("restart_deployment", "deployment/tokenizer-service", "platform", {}),
        ("rollback_deployment", "deployment/llama-70b", "inference", {}),
        ("delete_pod", "pod/qwen-7b-5d9f-abcde", "inference", disruption(ready=3, disrupted=1)),
        ("cordon_node", "node/gpu-node-2", "", {}),
        ("failover_provider", "provider/openai", "", {}),
    ],
)
def test_an_auto_allowed_kind_that_passes_every_check_is_allowed(
    gate: PolicyGate, kind: str, target: str, namespace: str, fleet: dict[str, Any]
) -> None:
    ruling = gate.decide(request(kind, target, namespace, fleet=fleet))
    assert ruling.verdict == "allow"
    assert only_reason(ruling) == f"{kind} on {target} is auto-allowed and passed every check"
    assert ruling.dry_run is False
    assert ruling.policy_version.startswith("sha256:")


def test_a_namespace_outside_the_allowed_list_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request(namespace="kube-system"))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "namespace kube-system is not allowed (allowed: inference, platform)"


def test_a_namespaced_target_without_a_namespace_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request("restart_deployment", namespace=""))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "deployment/qwen-7b is namespaced but the action names no namespace"


def test_a_target_of_the_wrong_kind_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request("cordon_node", "deployment/qwen-7b"))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "cordon_node acts on node/NAME, not on deployment/qwen-7b"


def test_a_kind_the_data_neither_allows_nor_makes_approvable_is_denied(gate_with: GateWith) -> None:
    strict = gate_with(kinds={"auto_allowed": ["scale_deployment"], "require_approval": ["drain_node"]})
    ruling = strict.decide(request("rollback_deployment"))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "rollback_deployment is neither auto-allowed nor approvable under this policy"


# --- replica bounds ---


def test_scaling_above_the_deployments_maximum_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request(params={"replicas": 13}))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "scaling qwen-7b to 13 replicas is above its maximum of 12"


def test_scaling_below_the_deployments_minimum_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request(target="deployment/llama-70b", params={"replicas": 1}))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "scaling llama-70b to 1 replicas is below its minimum of 2"


def test_a_deployment_without_its_own_bounds_gets_the_default(gate: PolicyGate) -> None:
    def scale(n: int) -> PolicyRuling:
        return gate.decide(request(target="deployment/auth-service", namespace="platform", params={"replicas": n}))

    assert scale(8).verdict == "allow"
    ruling = scale(9)
    assert only_reason(ruling) == "scaling auth-service to 9 replicas is above its maximum of 8"


@pytest.mark.parametrize("params", [{}, {"replicas": 2.5}, {"replicas": "4"}])
def test_a_scale_without_a_whole_replica_count_is_denied(gate: PolicyGate, params: dict[str, Any]) -> None:
    ruling = gate.decide(request(params=params))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "scale_deployment needs params.replicas, a whole number"


def test_scaling_down_during_an_incident_needs_approval(gate: PolicyGate) -> None:
    ruling = gate.decide(request(params={"replicas": 2}, fleet={"replicas": 3}))
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "scaling qwen-7b down from 3 to 2 replicas removes capacity during an incident"


# --- disruption budget: max(1 pod, 25 % of replicas) unavailable at once ---


def test_disrupting_more_pods_than_the_budget_needs_approval(gate: PolicyGate) -> None:
    ruling = gate.decide(request("delete_pod", "pod/qwen-7b-x", fleet=disruption(ready=3, disrupted=2)))
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == (
        "delete_pod would leave 2 of 3 pods of qwen-7b unavailable, over its disruption budget of 1"
    )


def test_pods_already_unavailable_count_against_the_budget(gate: PolicyGate) -> None:
    ruling = gate.decide(request("delete_pod", "pod/qwen-7b-x", fleet=disruption(ready=2, disrupted=1)))
    assert ruling.verdict == "require_approval"
    assert "would leave 2 of 3 pods of qwen-7b unavailable" in only_reason(ruling)


def test_the_budget_grows_with_the_deployment(gate: PolicyGate) -> None:
    eight = disruption(ready=8, disrupted=2, replicas=8, deployment="llama-70b")
    assert gate.decide(request("delete_pod", "pod/llama-70b-x", fleet=eight)).verdict == "allow"


def test_taking_down_every_serving_pod_is_denied(gate: PolicyGate) -> None:
    fleet = disruption(ready=1, disrupted=1, replicas=1, deployment="inference-gateway")
    ruling = gate.decide(request("delete_pod", "pod/inference-gateway-x", fleet=fleet))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "delete_pod would take down every serving pod of inference-gateway (1 ready)"


def test_replacing_pods_that_serve_nothing_is_not_a_disruption(gate: PolicyGate) -> None:
    ruling = gate.decide(request("delete_pod", "pod/qwen-7b-x", fleet=disruption(ready=0, disrupted=0)))
    assert ruling.verdict == "allow"


def test_a_pod_deletion_without_pod_facts_needs_approval(gate: PolicyGate) -> None:
    ruling = gate.decide(request("delete_pod", "pod/qwen-7b-x"))
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "delete_pod came without pod facts, so its disruption budget cannot be checked"


def test_a_node_drain_always_needs_approval_even_within_budget(gate: PolicyGate) -> None:
    ruling = gate.decide(request("drain_node", "node/gpu-node-2", "", fleet=disruption(ready=3, disrupted=1)))
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "drain_node always needs a person's approval"


# --- rate limits ---


def recent(
    kind: str = "scale_deployment", target: str = "deployment/qwen-7b", age_s: float = 120, status: str = "succeeded"
) -> dict[str, Any]:
    return {"kind": kind, "target": target, "at": NOW - age_s, "status": status}


def test_a_second_action_of_a_kind_on_a_target_within_the_window_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request(recent_actions=[recent()]))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == (
        "rate limit: scale_deployment on deployment/qwen-7b ran 1 time(s) in the last 600 s (at most 1)"
    )


@pytest.mark.parametrize(
    "earlier",
    [
        recent(age_s=601),
        recent(target="deployment/mistral-7b"),
        recent(kind="restart_deployment"),
        recent(status="denied"),
        recent(status="dry_run"),
    ],
    ids=["outside-window", "other-target", "other-kind", "denied", "dry-run"],
)
def test_actions_that_do_not_count_leave_the_rate_limit_alone(gate: PolicyGate, earlier: dict[str, Any]) -> None:
    assert gate.decide(request(recent_actions=[earlier])).verdict == "allow"


def test_an_incident_at_its_action_cap_is_denied(gate: PolicyGate) -> None:
    ruling = gate.decide(request(incident={"id": "INC-7", "actions_taken": 5}))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "incident INC-7 already took 5 actions (at most 5): escalate instead"
    assert gate.decide(request(incident={"id": "INC-7", "actions_taken": 4})).verdict == "allow"


def test_escalation_is_allowed_past_every_limit(gate: PolicyGate) -> None:
    ruling = gate.decide(
        request(
            "escalate",
            "incident/INC-7",
            "kube-system",
            incident={"id": "INC-7", "actions_taken": 50},
            recent_actions=[recent("escalate", "incident/INC-7", age_s=1)],
        )
    )
    assert ruling.verdict == "allow"
    assert only_reason(ruling) == "escalate is always allowed: paging a person is never blocked"


# --- change freezes ---

HOLIDAYS = {"reason": "holiday freeze", "start": "2025-12-24T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
THURSDAY_MORNINGS = {"reason": "release train", "weekly": {"days": ["Thursday"], "from": "09:00", "to": "11:00"}}


def test_an_action_inside_a_freeze_window_needs_approval(gate_with: GateWith) -> None:
    ruling = gate_with(freeze={"windows": [HOLIDAYS]}).decide(request())
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "change freeze (holiday freeze) until 2026-01-02T00:00:00+00:00"


def test_a_freeze_in_deny_mode_denies(gate_with: GateWith) -> None:
    ruling = gate_with(freeze={"mode": "deny", "windows": [HOLIDAYS]}).decide(request())
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "change freeze (holiday freeze) until 2026-01-02T00:00:00+00:00"


@pytest.mark.parametrize("now", [NOW - 9 * 86400, NOW + 86400], ids=["before", "after"])
def test_a_freeze_window_binds_only_between_its_start_and_end(gate_with: GateWith, now: int) -> None:
    assert gate_with(freeze={"windows": [HOLIDAYS]}).decide(request(now=now)).verdict == "allow"


def test_a_weekly_freeze_binds_on_its_days_and_hours(gate_with: GateWith) -> None:
    weekly = gate_with(freeze={"windows": [THURSDAY_MORNINGS]})
    ruling = weekly.decide(request())
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "change freeze (release train) on Thursday, 09:00-11:00 UTC"
    assert weekly.decide(request(now=NOW + 3600)).verdict == "allow"  # 11:00, the end is exclusive
    assert weekly.decide(request(now=NOW + 86400)).verdict == "allow"  # Friday


def test_escalation_is_allowed_during_a_freeze(gate_with: GateWith) -> None:
    frozen = gate_with(freeze={"mode": "deny", "windows": [HOLIDAYS, THURSDAY_MORNINGS]})
    assert frozen.decide(request("escalate", "incident/INC-1", "")).verdict == "allow"


# --- gateway traffic ---

CURRENT = {"route_weights": {"self-hosted": 95, "openai": 5}}


def test_moving_most_of_a_models_traffic_needs_approval(gate: PolicyGate) -> None:
    weights = {"weights": {"self-hosted": 0, "openai": 100}}
    ruling = gate.decide(request("set_route_weights", "model/qwen-7b", "", weights, fleet=CURRENT))
    assert ruling.verdict == "require_approval"
    assert only_reason(ruling) == "set_route_weights moves 95% of qwen-7b's traffic, more than 50%"


def test_moving_a_small_share_of_traffic_is_allowed(gate: PolicyGate) -> None:
    weights = {"weights": {"self-hosted": 60, "openai": 35, "anthropic": 5}}
    assert gate.decide(request("set_route_weights", "model/qwen-7b", "", weights, fleet=CURRENT)).verdict == "allow"


def test_new_weights_without_the_current_ones_need_approval(gate: PolicyGate) -> None:
    ruling = gate.decide(
        request("set_route_weights", "model/qwen-7b", "", {"weights": {"self-hosted": 90, "openai": 10}})
    )
    assert ruling.verdict == "require_approval"
    assert "the traffic shift cannot be measured" in only_reason(ruling)


@pytest.mark.parametrize("params", [{}, {"weights": {"self-hosted": "all"}}, {"weights": [100]}])
def test_route_weights_that_are_not_percentages_are_denied(gate: PolicyGate, params: dict[str, Any]) -> None:
    ruling = gate.decide(request("set_route_weights", "model/qwen-7b", "", params, fleet=CURRENT))
    assert ruling.verdict == "deny"
    assert only_reason(ruling) == "set_route_weights needs params.weights, {backend: percent}"


# --- dry-run ---

DRY_RUN_NOTE = "dry-run: record the action, do not carry it out"


def test_dry_run_forced_by_the_data_is_flagged_in_the_decision(gate_with: GateWith) -> None:
    ruling = gate_with(dry_run=True).decide(request())
    assert (ruling.verdict, ruling.dry_run) == ("allow", True)
    assert ruling.reasons[-1] == DRY_RUN_NOTE


def test_dry_run_asked_by_the_caller_is_flagged_in_the_decision(gate: PolicyGate) -> None:
    ruling = gate.decide(request(dry_run=True))
    assert ruling.dry_run is True
    assert DRY_RUN_NOTE in ruling.reasons


def test_escalation_is_never_a_dry_run(gate_with: GateWith) -> None:
    ruling = gate_with(dry_run=True).decide(request("escalate", "incident/INC-1", ""))
    assert (ruling.verdict, ruling.dry_run) == ("allow", False)


# --- precedence ---


def test_deny_wins_over_require_approval_and_shows_only_deny_reasons(gate_with: GateWith) -> None:
    frozen = gate_with(freeze={"windows": [HOLIDAYS]})
    ruling = frozen.decide(request(params={"replicas": 99}, fleet={"replicas": 100}))
    assert ruling.verdict == "deny"
    assert ruling.reasons == ["scaling qwen-7b to 99 replicas is above its maximum of 12"]


def test_every_deny_reason_is_given_in_a_stable_order(gate: PolicyGate) -> None:
    ruling = gate.decide(request(namespace="default", params={"replicas": 99}))
    assert ruling.reasons == [
        "namespace default is not allowed (allowed: inference, platform)",
        "scaling qwen-7b to 99 replicas is above its maximum of 12",
    ]


def test_require_approval_wins_over_allow(gate_with: GateWith) -> None:
    ruling = gate_with(freeze={"windows": [HOLIDAYS]}).decide(request("cordon_node", "node/gpu-node-2", ""))
    assert ruling.verdict == "require_approval"
    assert not any("auto-allowed" in reason for reason in ruling.reasons)
