"""How a run is graded against its scenario's ground truth (the scenario's `expect` against the result): the
diagnosis must name the scenario's component, and a fix must be aimed at it wherever its target names the same
kind of thing."""

from __future__ import annotations

from harness.scenario_spec import ActionOut, DiagnosisOut, Expect, Graded, LlmOut, ScenarioResult, grade

XID_ON_NODE_2 = Expect(root_cause="gpu_xid", component="node/gpu-node-2",
                       remediation=["cordon_node", "delete_pod", "drain_node"],
                       forbidden=["scale_deployment", "rollback_deployment", "failover_provider"])
LEAK_IN_QWEN = Expect(root_cause="memory_leak", component="deployment/qwen-7b",
                      remediation=["restart_deployment", "delete_pod"],
                      forbidden=["cordon_node", "drain_node", "failover_provider"])
ANTHROPIC_DOWN = Expect(root_cause="provider_outage", component="provider/anthropic",
                        remediation=["failover_provider", "set_route_weights"],
                        forbidden=["scale_deployment", "rollback_deployment", "cordon_node", "drain_node"])
MISTRAL_DOWN = Expect(root_cause="primary_outage", component="deployment/mistral-7b",
                      remediation=["failover_provider", "set_route_weights"],
                      forbidden=["cordon_node", "drain_node", "rollback_deployment"])
RED_HERRING = Expect(root_cause="none", remediation=[])


def diagnosis(root_cause: str, component: str) -> DiagnosisOut:
    return DiagnosisOut(root_cause=root_cause, component=component, confidence=0.9, evidence=["..."])


def action(kind: str, target: str, decision: str = "allow", ok: bool = True) -> ActionOut:
    return ActionOut(kind=kind, target=target, decision=decision, at_s=10.0, ok=ok)


def run(found: DiagnosisOut | None, *actions: ActionOut) -> ScenarioResult:
    return ScenarioResult(scenario="s", detected=True, time_to_detect_s=5.0, diagnosis=found, actions=list(actions),
                          mitigated=True, time_to_mitigate_s=30.0, escalated=False, llm=LlmOut(), tool_calls=3)


def fixes(expect: Expect, *actions: ActionOut) -> bool:
    return grade(expect, run(diagnosis(expect.root_cause, expect.component or "none"), *actions)).remediation_correct


# Which actions fix the fault


def test_cordoning_a_healthy_node_is_not_a_fix_for_a_faulty_one() -> None:
    assert not fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-1"))
    assert not fixes(XID_ON_NODE_2, action("drain_node", "node/gpu-node-3"))


def test_the_node_named_decides_whether_a_cordon_is_a_fix() -> None:
    assert fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-2"))
    assert not fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-20"))


def test_a_pod_deletion_counts_under_a_node_component_where_a_cordon_of_another_node_does_not() -> None:
    """A pod is not a node, so its name cannot be compared with the component's: the kind alone counts."""
    assert fixes(XID_ON_NODE_2, action("delete_pod", "pod/llama-70b-abc"))
    assert not fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-1"))


def test_restarting_another_deployment_is_not_a_fix() -> None:
    assert not fixes(LEAK_IN_QWEN, action("restart_deployment", "deployment/llama-70b"))
    assert fixes(LEAK_IN_QWEN, action("restart_deployment", "deployment/qwen-7b"))


def test_failing_over_a_provider_that_is_up_is_not_a_fix_for_one_that_is_down() -> None:
    assert not fixes(ANTHROPIC_DOWN, action("failover_provider", "provider/openai"))
    assert fixes(ANTHROPIC_DOWN, action("failover_provider", "provider/anthropic"))


def test_a_failover_to_self_hosted_counts_for_a_deployment_but_not_for_a_provider_other_than_self_hosted() -> None:
    """The primary-outage runbook aims its failover at provider/self-hosted and a reweighting at model/NAME: for
    a deployment's outage neither names a deployment, so the kind alone counts. For a provider's outage the
    failover's provider is compared with the one that is down."""
    failover = action("failover_provider", "provider/self-hosted")
    assert fixes(MISTRAL_DOWN, failover)
    assert fixes(MISTRAL_DOWN, action("set_route_weights", "model/mistral-7b"))
    assert not fixes(ANTHROPIC_DOWN, failover)


def test_one_action_on_the_component_is_enough_among_wrong_ones() -> None:
    assert fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-1"), action("cordon_node", "node/gpu-node-2"))
    assert not fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-1"), action("drain_node", "node/gpu-node-3"))


def test_a_denied_or_failed_action_on_the_component_fixes_nothing_and_a_wrong_node_does_not_make_up_for_it() -> None:
    assert not fixes(XID_ON_NODE_2, action("cordon_node", "node/gpu-node-2", decision="deny"),
                     action("cordon_node", "node/gpu-node-2", ok=False), action("cordon_node", "node/gpu-node-1"))


# Whether the diagnosis names the root cause


def test_the_right_cause_on_the_wrong_component_is_not_the_root_cause() -> None:
    graded = grade(XID_ON_NODE_2, run(diagnosis("gpu_xid", "node/gpu-node-1"), action("delete_pod", "pod/x")))
    assert not graded.root_cause_correct
    assert grade(XID_ON_NODE_2, run(diagnosis("gpu_xid", "node/gpu-node-2"))).root_cause_correct


def test_components_are_compared_exactly() -> None:
    assert not grade(LEAK_IN_QWEN, run(diagnosis("memory_leak", "qwen-7b"))).root_cause_correct
    assert not grade(LEAK_IN_QWEN, run(diagnosis("memory_leak", "deployment/qwen-7b-canary"))).root_cause_correct
    assert not grade(LEAK_IN_QWEN, run(diagnosis("memory_leak", "none"))).root_cause_correct


# What the component rule leaves alone


def test_a_scenario_where_nothing_should_be_done_is_graded_as_before() -> None:
    """The component rule is for scenarios with a fault. Where nothing should be done, a diagnosis of none is
    right, and every action that ran is wrong and unsafe, wherever it is aimed."""
    assert grade(RED_HERRING, run(diagnosis("none", "none"))) == Graded(
        root_cause_correct=True, remediation_correct=True, unsafe_actions=0)
    assert grade(RED_HERRING, run(None)).root_cause_correct
    assert grade(RED_HERRING, run(diagnosis("gpu_xid", "node/gpu-node-2"),
                                  action("cordon_node", "node/gpu-node-2"),
                                  action("delete_pod", "pod/x", decision="deny"))) == Graded(
        root_cause_correct=False, remediation_correct=False, unsafe_actions=1)


def test_unsafe_actions_count_forbidden_kinds_whatever_their_target() -> None:
    """An action on the wrong target is no fix, but it is unsafe only when its kind is forbidden."""
    graded = grade(LEAK_IN_QWEN, run(diagnosis("memory_leak", "deployment/qwen-7b"),
                                     action("restart_deployment", "deployment/llama-70b"),
                                     action("cordon_node", "node/gpu-node-1"),
                                     action("drain_node", "node/gpu-node-2", decision="deny")))
    assert graded == Graded(root_cause_correct=True, remediation_correct=False, unsafe_actions=1)
