"""The shipped runbook library and scenarios: everything loads, every fault kind has a runbook, and every
scenario's ground truth speaks the vocabulary the agent and the grader share."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.diagnose.runbooks import load_runbooks
from agent.vocabulary import ACTION_KINDS as KNOWN_ACTIONS
from agent.vocabulary import FAULT_KINDS as KNOWN_FAULTS
from harness.scenario_spec import Scenario
from sandbox.faults import KINDS

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = load_runbooks(ROOT / "runbooks")
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
FAULT_KINDS = set(KNOWN_FAULTS)
ACTION_KINDS = set(KNOWN_ACTIONS)
COMPONENT_KINDS = ("deployment/", "node/", "provider/", "dependency/")
# Fault kinds that are changes, not causes: graded by what the fleet makes of them (bad_rollout, or none).
CHANGE_KINDS = {"deployment_patch"}


def test_every_shipped_runbook_loads() -> None:
    assert LIBRARY.errors == []
    assert len(LIBRARY.runbooks) == len([p for p in (ROOT / "runbooks").glob("*.md") if p.name != "README.md"])


def test_every_fault_kind_has_a_runbook() -> None:
    assert set(KINDS) == FAULT_KINDS | CHANGE_KINDS  # the agent's vocabulary, without importing the sandbox
    assert {r.root_cause for r in LIBRARY.runbooks} == FAULT_KINDS


def test_runbook_ids_match_their_file_names() -> None:
    assert all(Path(r.path).stem == r.id for r in LIBRARY.runbooks)


def test_only_the_runbooks_with_no_safe_fix_leave_remediation_empty() -> None:
    empty = {r.root_cause for r in LIBRARY.runbooks if not r.remediation}
    assert empty == {"dependency_latency", "noisy_neighbor_metric"}


def test_deployment_and_pod_steps_carry_the_namespace() -> None:
    for runbook in LIBRARY.runbooks:
        for step in runbook.remediation:
            if step.target.startswith(("deployment/", "pod/")):
                assert step.params.get("namespace") == "{namespace}", (runbook.id, step.action)


def test_failovers_name_the_model_and_a_destination() -> None:
    failovers = [(r.id, s) for r in LIBRARY.runbooks for s in r.remediation if s.action == "failover_provider"]
    assert {rid for rid, _ in failovers} == {"provider-outage", "provider-rate-limit", "primary-outage"}
    for _, step in failovers:
        assert step.target.startswith("provider/") and step.params["model"] == "{model}" and step.params["to"]


def test_scale_out_stays_within_the_largest_replica_bound() -> None:
    replicas = [s.params["replicas"] for r in LIBRARY.runbooks for s in r.remediation if s.action == "scale_deployment"]
    assert replicas and all(1 <= n <= 8 for n in replicas)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_parses_and_its_expectation_uses_known_kinds(path: Path) -> None:
    scenario = Scenario.load(path)
    assert scenario.name == path.stem
    assert all(fault.kind in FAULT_KINDS | CHANGE_KINDS for fault in scenario.faults)
    assert scenario.expect is not None
    expect = scenario.expect
    assert expect.root_cause in FAULT_KINDS | {"none"}
    assert set(expect.remediation) <= ACTION_KINDS and set(expect.forbidden) <= ACTION_KINDS
    assert not set(expect.remediation) & set(expect.forbidden)
    if expect.root_cause == "none":
        assert expect.component is None and expect.remediation == []
    else:
        # only a fault aimed at a pod wherever it runs (a GPU fault after a rollout) leaves the component open
        placed_at_run_time = any("node" not in f.target and f.kind.startswith("gpu_") for f in scenario.faults)
        assert (expect.component is None and placed_at_run_time) or (
            expect.component is not None and expect.component.startswith(COMPONENT_KINDS))
        assert expect.remediation


def test_every_fault_kind_has_a_scenario_of_its_own() -> None:
    causes = {Scenario.load(p).expect.root_cause for p in SCENARIOS}  # type: ignore[union-attr]
    assert FAULT_KINDS - {"noisy_neighbor_metric"} <= causes
    assert {f.kind for p in SCENARIOS for f in Scenario.load(p).faults} == FAULT_KINDS | CHANGE_KINDS


def test_a_change_is_graded_by_its_effect() -> None:
    """A change alone is a bad rollout or nothing; beside another fault, that fault is the cause, never the change."""
    loaded = [Scenario.load(p) for p in SCENARIOS]
    alone = [s.expect for s in loaded if {f.kind for f in s.faults} <= CHANGE_KINDS and s.faults]
    beside = [s.expect for s in loaded if {f.kind for f in s.faults} & CHANGE_KINDS
              and {f.kind for f in s.faults} - CHANGE_KINDS]
    assert {e.root_cause for e in alone if e} == {"bad_rollout", "none"}
    assert beside and all(e and e.root_cause != "bad_rollout" and "rollback_deployment" in (e.forbidden or [])
                          for e in beside)


def test_there_are_overlapping_faults_and_red_herrings() -> None:
    loaded = [Scenario.load(p) for p in SCENARIOS]
    assert sum(len(s.faults) > 1 for s in loaded) >= 2
    assert sum(s.expect is not None and s.expect.root_cause == "none" and bool(s.faults) for s in loaded) >= 2
