"""The shipped bad-rollout runbook never rolls back on a revision number or a burn alone.

Every real Deployment is far past revision 1, so the runbook must see a recent rollout AND the new revision's own
pods failing. The tool answers here are built with the MCP servers' own answer models, so a renamed field breaks
these tests rather than silently disabling a signal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.diagnose.diagnosis import Diagnosis, diagnose
from agent.diagnose.runbooks import IncidentContext, load_runbook
from mcp_servers.answers import Capped
from mcp_servers.gpu.health import Finding, UnhealthyGpu, UnhealthyReport
from mcp_servers.kubernetes.models import Revision, RolloutHistory
from mcp_servers.logs.models import ErrorSummary, LogSearch, PodCount, WindowInfo

BAD_ROLLOUT = load_runbook(Path(__file__).resolve().parents[2] / "runbooks" / "bad-rollout.md")
QWEN = IncidentContext(model="qwen-7b", slo="availability")
NEW, OLD = "qwen-7b-7c9f6d5b8", "qwen-7b-5d8b9c7f4"
DAY = 86400


def revision(number: int, replicaset: str, age_s: int, *, current: bool, replicas: int = 3, ready: int = 3,
             failing: int = 0, completed: bool | None = None) -> Revision:
    """`completed` (the current revision's rollout finished) defaults to whether all its pods are ready."""
    if current and completed is None:
        completed = ready == replicas and failing == 0
    return Revision(revision=number, replicaset=replicaset, images=[f"vllm/vllm-openai:v0.3{number % 10}.0"],
                    created=f"{age_s // 60}m", age_s=age_s, replicas=replicas, ready=ready, failing=failing,
                    current=current, completed=completed)


def history(*revisions: Revision) -> dict[str, Any]:
    current = next(r.revision for r in revisions if r.current)
    return RolloutHistory(deployment="qwen-7b", namespace="inference", current_revision=current,
                          revisions=sorted(revisions, key=lambda r: -r.revision)).model_dump(mode="json")


def server_errors(lines_by_pod: dict[str, int]) -> dict[str, Any]:
    window = WindowInfo(start=datetime(2026, 12, 3, 10, tzinfo=UTC), end=datetime(2026, 12, 3, 10, 5, tzinfo=UTC))
    pods = [PodCount(pod=p, lines=n) for p, n in lines_by_pod.items()]
    return LogSearch(target="deployment/qwen-7b", source="kubernetes", window=window,
                     lines_matched=sum(lines_by_pod.values()), error_lines=0, warning_lines=0, pods=pods, notes=[],
                     lines=Capped(items=[], total=0, truncated=False)).model_dump(mode="json")


def no_error_templates() -> dict[str, Any]:
    window = WindowInfo(start=datetime(2026, 12, 3, 10, tzinfo=UTC), end=datetime(2026, 12, 3, 10, 5, tzinfo=UTC))
    return ErrorSummary(target="deployment/qwen-7b", source="kubernetes", window=window, error_lines=0,
                        warning_lines=0, distinct_templates=0, pods=[], notes=[],
                        templates=Capped(items=[], total=0, truncated=False)).model_dump(mode="json")


def lost_gpu_under(pod: str) -> dict[str, Any]:
    finding = Finding(kind="gpu_lost", severity="critical", detail="the GPU stopped reporting",
                      action="cordon the node, replace the pod", cordon_node=True)
    gpu = UnhealthyGpu(node="gpu-node-2", gpu=0, uuid="GPU-5c2e7a91", pod=pod, namespace="inference",
                       container="vllm", severity="critical", reasons=[finding],
                       recommended_action=finding.action, cordon_node=True)
    return gpu_report([gpu])


def gpu_report(gpus: list[UnhealthyGpu]) -> dict[str, Any]:
    return UnhealthyReport(source="dcgm", gpus_checked=32, unhealthy_count=len(gpus), critical_count=len(gpus),
                           nodes_affected=sorted({g.node for g in gpus}), pods_affected=[g.pod for g in gpus],
                           criteria="", gpus=Capped(items=gpus, total=len(gpus), truncated=False)
                           ).model_dump(mode="json")


def run(rollout: dict[str, Any], errors_by_pod: dict[str, int] | None = None,
        gpus: dict[str, Any] | None = None) -> Diagnosis:
    calls = BAD_ROLLOUT.calls(QWEN)
    evidence = {calls["history"].key: rollout, calls["server-errors"].key: server_errors(errors_by_pod or {}),
                calls["errors"].key: no_error_templates(), calls["gpus"].key: gpus or gpu_report([])}
    return diagnose([BAD_ROLLOUT], QWEN, evidence, burning=True)


def rolled_back(diagnosis: Diagnosis) -> bool:
    return diagnosis.root_cause == "bad_rollout"


def test_a_burn_on_a_revision_rolled_out_days_ago_is_no_bad_rollout() -> None:
    days_old = history(revision(31, NEW, 4 * DAY, current=True), revision(30, OLD, 12 * DAY, current=False,
                                                                         replicas=0, ready=0))

    quiet = run(days_old)
    with_5xx = run(days_old, {f"{NEW}-abcde": 40, f"{NEW}-fghij": 35})

    assert not rolled_back(quiet) and quiet.hypotheses == []
    assert not rolled_back(with_5xx) and with_5xx.hypotheses == []


def test_a_recent_rollout_whose_pods_all_serve_is_no_bad_rollout() -> None:
    harmless = history(revision(32, NEW, 300, current=True), revision(31, OLD, 4 * DAY, current=False, replicas=0,
                                                                      ready=0))

    assert not rolled_back(run(harmless))


def test_one_new_pod_failing_beside_ready_siblings_is_no_bad_rollout() -> None:
    # a GPU fault under one pod of a harmless rollout: the build is fine on the other pods
    gpu_fault = history(revision(32, NEW, 300, current=True, ready=2, failing=1),
                        revision(31, OLD, 4 * DAY, current=False, replicas=0, ready=0))
    one_pod_5xx = history(revision(32, NEW, 300, current=True), revision(31, OLD, 4 * DAY, current=False,
                                                                          replicas=0, ready=0))

    assert not rolled_back(run(gpu_fault))
    assert not rolled_back(run(one_pod_5xx, {f"{NEW}-abcde": 60}))


def test_a_new_revision_none_of_whose_pods_can_serve_is_a_bad_rollout() -> None:
    stalled = history(revision(32, NEW, 240, current=True, replicas=1, ready=0, failing=1),
                      revision(31, OLD, 4 * DAY, current=False, replicas=3, ready=3))

    diagnosis = run(stalled)

    assert rolled_back(diagnosis) and diagnosis.component == "deployment/qwen-7b"
    assert diagnosis.confidence == 1.0
    assert any("1 of its pods fail, none is ready" in line for line in diagnosis.evidence)


def test_new_pods_answering_5xx_after_a_rollout_are_a_bad_rollout() -> None:
    rolled_out = history(revision(32, NEW, 180, current=True), revision(31, OLD, 4 * DAY, current=False,
                                                                         replicas=0, ready=0))

    diagnosis = run(rolled_out, {f"{NEW}-abcde": 40, f"{NEW}-fghij": 35})

    assert rolled_back(diagnosis)
    assert diagnosis.hypotheses[0].remediation[0].action == "rollback_deployment"


def test_old_pods_failing_alike_keep_a_rollout_from_being_blamed() -> None:
    mid_rollout = history(revision(32, NEW, 120, current=True, replicas=2, ready=2),
                          revision(31, OLD, 4 * DAY, current=False, replicas=1, ready=1))

    diagnosis = run(mid_rollout, {f"{NEW}-abcde": 40, f"{NEW}-fghij": 35, f"{OLD}-klmno": 38})

    assert not rolled_back(diagnosis)


def test_a_recreate_rollout_that_never_becomes_ready_is_a_bad_rollout() -> None:
    recreated = history(revision(32, NEW, 240, current=True, replicas=3, ready=0, failing=3),
                        revision(31, OLD, 4 * DAY, current=False, replicas=0, ready=0))

    assert rolled_back(run(recreated))


def test_pods_that_fail_after_a_completed_rollout_are_no_bad_rollout() -> None:
    # e.g. a request that kills every engine, minutes after a harmless rollout finished
    served_then_crashed = history(revision(32, NEW, 600, current=True, ready=0, failing=3, completed=True),
                                  revision(31, OLD, 4 * DAY, current=False, replicas=0, ready=0))

    assert not rolled_back(run(served_then_crashed))


def test_old_pods_crashing_alike_mid_rollout_are_no_bad_rollout() -> None:
    both_crash = history(revision(32, NEW, 120, current=True, replicas=1, ready=0, failing=1),
                         revision(31, OLD, 4 * DAY, current=False, replicas=3, ready=0, failing=3))

    assert not rolled_back(run(both_crash))


def test_a_lost_gpu_under_the_only_new_pod_is_no_bad_rollout() -> None:
    surge_on_a_bad_gpu = history(revision(32, NEW, 60, current=True, replicas=1, ready=0, failing=1),
                                 revision(31, OLD, 4 * DAY, current=False, replicas=3, ready=3))

    assert rolled_back(run(surge_on_a_bad_gpu))  # without the GPU evidence it looks like a bad build
    assert not rolled_back(run(surge_on_a_bad_gpu, gpus=lost_gpu_under(f"{NEW}-abcde")))


def test_a_revision_of_unknown_age_is_never_taken_for_a_recent_one() -> None:
    unknown_age = history(revision(32, NEW, 0, current=True, replicas=1, ready=0, failing=1),
                          revision(31, OLD, 4 * DAY, current=False))
    unknown_age["revisions"][0]["age_s"] = None

    assert not rolled_back(run(unknown_age))
