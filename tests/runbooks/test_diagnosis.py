"""Offline diagnosis on synthetic tool results: ranking, none, unexplained, evidence lines and filled plans."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agent.diagnose.diagnosis import Diagnosis, PlannedCheck, diagnose
from agent.diagnose.runbooks import IncidentContext, Runbook, load_runbook

# The engine is specified against a fixed runbook, not the shipped one (which follows the real tools' output).
XID = load_runbook(Path(__file__).resolve().parent / "fixtures" / "gpu-xid.md")
LLAMA = IncidentContext(model="llama-70b", slo="availability")

# A decoy with the same symptom (a restarting pod) and a weaker story; it shares the list_pods call.
DECOY = Runbook.model_validate({
    "id": "pod-restarts",
    "title": "A model's pod keeps restarting",
    "root_cause": "hung_pod",
    "component": "deployment/{model}",
    "evidence_calls": [
        {"id": "pods", "tool": "list_pods", "args": {"deployment": "{model}", "namespace": "{namespace}"}},
        {"id": "logs", "tool": "log_error_summary", "args": {"deployment": "{model}"}},
    ],
    "signals": [
        {"id": "restarting", "description": "a pod of the model restarts", "weight": 0.5,
         "when": {"from": "pods", "path": "pods.items[*]", "where": {"restarts": {"ge": 1}}}, "bind": {"pod": "$"}},
        {"id": "stuck", "description": "the engine logs that it is stuck", "weight": 0.5,
         "when": {"from": "logs", "path": "templates[*]", "where": {"template": {"matches": "stuck"}}}},
    ],
    "remediation": [{"action": "delete_pod", "target": "pod/{pod.name}"}],
})

GPUS_KEY = "unhealthy_gpus()"
PODS_KEY = 'list_pods(deployment="llama-70b", namespace="inference")'
NODES_KEY = "list_nodes()"


def gpu(node: str, index: int, xid: int, pods: list[str]) -> dict[str, Any]:
    meanings = {79: "GPU has fallen off the bus", 13: "Graphics engine exception"}
    return {"node": node, "gpu": index, "xid": xid, "xid_meaning": meanings[xid],
            "pods": [{"name": p, "namespace": "inference"} for p in pods]}


def pod(name: str, node: str, status: str = "Running", ready: str = "1/1", restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "namespace": "inference", "status": status, "ready": ready, "restarts": restarts,
            "node": node, "gpus": 2, "age": "9m"}


def node(name: str, cordoned: bool = False, ready: bool = True) -> dict[str, Any]:
    return {"name": name, "ready": ready, "cordoned": cordoned, "status": "Ready", "problems": []}


def pod_list(*pods: dict[str, Any]) -> dict[str, Any]:
    unhealthy = sum(p["status"] != "Running" or p["restarts"] > 0 for p in pods)
    return {"total": len(pods), "unhealthy": unhealthy, "pods": {"items": list(pods), "total": len(pods)}}


def xid_evidence() -> dict[str, Any]:
    """Xid 79 under llama-70b's replica 1 on gpu-node-2, and a red herring: Xid 79 on a GPU that serves no one."""
    return {
        GPUS_KEY: {"total": 2, "gpus": {"items": [
            gpu("gpu-node-3", 5, 79, []),
            gpu("gpu-node-1", 2, 13, ["qwen-7b-5c4d-0"]),
            gpu("gpu-node-2", 1, 79, ["llama-70b-7f9c-1"]),
        ], "total": 3, "truncated": False}},
        PODS_KEY: pod_list(
            pod("llama-70b-7f9c-0", "gpu-node-1"),
            pod("llama-70b-7f9c-1", "gpu-node-2", status="CrashLoopBackOff", ready="0/1", restarts=3),
            pod("llama-70b-7f9c-2", "gpu-node-3"),
            pod("llama-70b-7f9c-3", "gpu-node-4"),
        ),
        NODES_KEY: {"total": 4, "nodes": [node(f"gpu-node-{i}") for i in range(1, 5)]},
        'log_error_summary(deployment="llama-70b")': {"templates": [{"template": "CUDA error: <*>", "count": 40}]},
    }


def run(evidence: dict[str, Any], burning: bool = True, **kwargs: Any) -> Diagnosis:
    return diagnose([DECOY, XID], LLAMA, evidence, burning=burning, **kwargs)


def test_the_xid_runbook_outranks_the_decoy_and_names_the_node_serving_the_model() -> None:
    diagnosis = run(xid_evidence())
    assert diagnosis.outcome == "diagnosed"
    assert (diagnosis.root_cause, diagnosis.component, diagnosis.confidence) == ("gpu_xid", "node/gpu-node-2", 1.0)
    assert [(h.runbook, h.confidence) for h in diagnosis.hypotheses] == [("gpu-xid", 1.0), ("pod-restarts", 0.5)]
    assert diagnosis.top is diagnosis.hypotheses[0]
    assert diagnosis.problems == []


def test_evidence_lines_come_from_the_matched_elements() -> None:
    diagnosis = run(xid_evidence())
    assert diagnosis.evidence == [
        "unhealthy_gpus: gpu-node-2 GPU 1 Xid 79 (GPU has fallen off the bus) under llama-70b-7f9c-1",
        "list_pods: llama-70b-7f9c-1 on gpu-node-2 is CrashLoopBackOff, ready 0/1, 3 restarts",
    ]
    decoy = diagnosis.hypotheses[1]
    assert decoy.evidence == ["list_pods: a pod of the model restarts"]  # no template: the description
    assert [s.id for s in decoy.signals if not s.matched] == ["stuck"]


def test_the_remediation_plan_is_filled_from_the_bindings() -> None:
    plan = run(xid_evidence()).hypotheses[0].remediation
    assert [(a.action, a.target, a.params, a.ready) for a in plan] == [
        ("cordon_node", "node/gpu-node-2", {}, True),
        ("delete_pod", "pod/llama-70b-7f9c-1", {"namespace": "inference"}, True),
    ]
    assert (plan[0].reversible, plan[0].revert) == (True, "uncordon_node")


def test_an_unmet_precondition_blocks_its_step_only() -> None:
    evidence = xid_evidence()
    evidence[NODES_KEY]["nodes"][1]["cordoned"] = True
    cordon, delete = run(evidence).hypotheses[0].remediation
    assert not cordon.ready and cordon.blocked_by == ["the node is not cordoned yet"]
    assert delete.ready


def test_a_step_needing_an_unmatched_optional_binding_is_not_ready() -> None:
    evidence = xid_evidence()
    evidence[PODS_KEY] = pod_list(pod("llama-70b-7f9c-1", "gpu-node-2"), pod("llama-70b-7f9c-9", "gpu-node-4",
                                                                              status="Pending", ready="0/1"))
    best = run(evidence).hypotheses[0]
    assert best.runbook == "gpu-xid" and best.confidence == 0.6
    delete = best.remediation[1]
    assert (delete.target, delete.ready) == (None, False)
    assert delete.blocked_by == ["needs pod, which no matched signal bound"]


def test_verification_checks_are_filled_calls_that_judge_a_fresh_result() -> None:
    verification = run(xid_evidence()).hypotheses[0].verification
    assert (verification.slo_burn_below, verification.window_s) == (1.0, 60)
    cordoned, healthy = verification.checks
    assert cordoned.call.key == 'describe_node(name="gpu-node-2")'
    assert cordoned.passes({"node": {"name": "gpu-node-2", "cordoned": True}})
    assert not cordoned.passes({"node": {"name": "gpu-node-2", "cordoned": False}})
    assert not cordoned.passes("node gpu-node-2 not found")
    assert healthy.call.key == PODS_KEY and healthy.passes(pod_list(pod("llama-70b-x", "gpu-node-1")))
    again = PlannedCheck.model_validate_json(cordoned.model_dump_json())  # it travels in checkpointed state
    assert again.passes({"node": {"cordoned": True}})


def test_escalation_message_is_filled() -> None:
    escalation = run(xid_evidence()).hypotheses[0].escalation
    assert escalation.to == "on-call"
    assert escalation.message.startswith("gpu-node-2 GPU 1 reported Xid 79: the GPU needs a reset")


def test_none_when_nothing_burns_even_with_a_bad_gpu_in_view() -> None:
    diagnosis = run(xid_evidence(), burning=False)
    assert (diagnosis.outcome, diagnosis.root_cause, diagnosis.component) == ("none", "none", None)
    assert diagnosis.top is None
    assert diagnosis.hypotheses[0].runbook == "gpu-xid"  # kept for the record, not acted on


def test_unexplained_when_no_runbook_matches() -> None:
    evidence = xid_evidence()
    evidence[GPUS_KEY]["gpus"]["items"] = []
    evidence[PODS_KEY] = pod_list(pod("llama-70b-7f9c-0", "gpu-node-1"))
    diagnosis = run(evidence)
    assert (diagnosis.outcome, diagnosis.root_cause, diagnosis.confidence) == ("unexplained", "unknown", 0.0)
    assert diagnosis.hypotheses == [] and diagnosis.evidence == ["no runbook matched the evidence"]


def test_unexplained_below_the_minimum_confidence_carries_every_observation() -> None:
    evidence = xid_evidence()
    evidence[GPUS_KEY] = "Prometheus unreachable"
    diagnosis = run(evidence, min_confidence=0.6)
    assert diagnosis.outcome == "unexplained" and diagnosis.top is None
    assert diagnosis.evidence == [
        "no runbook reached confidence 0.6 (best: pod-restarts at 0.5)",
        "list_pods: a pod of the model restarts",
        "unhealthy_gpus: Prometheus unreachable",
    ]


@pytest.mark.parametrize("failure", ["connection refused", {"error": "connection refused"}])
def test_a_failed_tool_call_is_missing_evidence_not_a_match(failure: Any) -> None:
    evidence = xid_evidence()
    evidence[GPUS_KEY] = failure
    diagnosis = run(evidence)
    assert [h.runbook for h in diagnosis.hypotheses] == ["pod-restarts"]  # gpu-xid's required signal is unread
    assert "unhealthy_gpus: connection refused" in diagnosis.problems
    decoy_without_logs = copy.deepcopy(evidence)
    del decoy_without_logs['log_error_summary(deployment="llama-70b")']
    assert run(decoy_without_logs).hypotheses[0].missing_evidence == ["log_error_summary: not collected"]


def test_counter_evidence_lowers_confidence() -> None:
    evidence = xid_evidence()
    evidence[PODS_KEY] = pod_list(*(pod(f"llama-70b-7f9c-{i}", f"gpu-node-{i + 1}") for i in range(4)))
    diagnosis = run(evidence)
    xid = next(h for h in diagnosis.hypotheses if h.runbook == "gpu-xid")
    assert xid.confidence == 0.2  # (0.6 - 0.4) / (0.6 + 0.4)
    assert xid.counter_evidence == ["list_pods: all 4 pods of llama-70b are healthy"]
    assert diagnosis.outcome == "unexplained"


def test_evidence_against_a_hypothesis_that_could_not_be_read_blocks_every_step() -> None:
    evidence = xid_evidence()
    evidence[PODS_KEY] = {"error": "the API server answered 503"}
    xid = next(h for h in run(evidence).hypotheses if h.runbook == "gpu-xid")
    assert xid.confidence == 0.6  # the Xid alone: the pods' side is unknown, for and against
    cordon, delete = xid.remediation
    unread = "could not rule out that every pod of the model is healthy, so the Xid is not what burns the SLO " \
             "(the API server answered 503)"
    assert cordon.blocked_by == [unread] and not cordon.ready
    assert delete.blocked_by[0] == unread and not delete.ready


def test_a_component_the_matched_element_cannot_fill_drops_the_runbook_with_a_reason() -> None:
    evidence = xid_evidence()
    del evidence[GPUS_KEY]["gpus"]["items"][2]["node"]
    diagnosis = run(evidence)
    assert "gpu-xid" not in [h.runbook for h in diagnosis.hypotheses]
    assert diagnosis.problems == ["runbook gpu-xid: component names gpu.node, which the matched evidence does not hold"]


def test_many_matches_are_shown_up_to_a_cap_and_counted() -> None:
    runbook = Runbook.model_validate({
        "id": "many", "title": "t", "root_cause": "hung_pod", "component": "deployment/{model}",
        "evidence_calls": [{"id": "pods", "tool": "list_pods", "args": {"deployment": "{model}",
                                                                      "namespace": "{namespace}"}}],
        "signals": [{"id": "all", "description": "pods", "weight": 1, "evidence": "{$.name}",
                     "when": {"from": "pods", "path": "pods.items[*]"}}],
    })
    evidence = {PODS_KEY: pod_list(*(pod(f"p{i}", "n") for i in range(5)))}
    lines = diagnose([runbook], LLAMA, evidence, burning=True).evidence
    assert lines == ["list_pods: p0", "list_pods: p1", "list_pods: p2", "list_pods: … and 2 more"]


def test_runbooks_that_do_not_apply_to_the_slo_are_not_scored() -> None:
    data = XID.model_dump(by_alias=True)
    data["applies_to"] = {"slos": ["latency"]}
    diagnosis = diagnose([Runbook.model_validate(data), DECOY], LLAMA, xid_evidence(), burning=True)
    assert [h.runbook for h in diagnosis.hypotheses] == ["pod-restarts"]
