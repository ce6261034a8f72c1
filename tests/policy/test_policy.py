"""Loading the policy, failing closed, and the audit version: the gate never raises and never allows by mistake."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.policy.gate import PolicyGate, PolicyRuling, policy_version
from agent.policy.input import PolicyInput
from agent.vocabulary import ACTION_KINDS
from harness.cli import main as firebreak

from .conftest import POLICY_DIR, request

VALID_RESULT = '{"decision": "allow", "reasons": ["fine"], "dry_run": false}'


def every_kind() -> list[PolicyInput]:
    targets = {
        "cordon_node": "node/gpu-node-2",
        "drain_node": "node/gpu-node-2",
        "delete_pod": "pod/qwen-7b-x",
        "failover_provider": "provider/openai",
        "set_route_weights": "model/qwen-7b",
        "escalate": "incident/INC-1",
    }
    return [request(kind, targets.get(kind, "deployment/qwen-7b")) for kind in ACTION_KINDS]


def assert_denies_everything(gate: PolicyGate, reason_start: str) -> None:
    assert gate.error is not None
    for req in every_kind():
        ruling = gate.decide(req)
        assert ruling.verdict == "deny", req.action.kind
        assert len(ruling.reasons) == 1
        assert ruling.reasons[0].startswith(reason_start), ruling.reasons[0]


def only_module(policy_dir: Path, source: str) -> Path:
    """policy_dir with its shipped data and one module of our own in place of the shipped ones."""
    for module in policy_dir.glob("*.rego"):
        module.unlink()
    (policy_dir / "only.rego").write_text(f"package firebreak.remediation\n\nimport rego.v1\n\n{source}\n")
    return policy_dir


# --- the shipped policy ---


def test_the_shipped_policy_loads(gate: PolicyGate) -> None:
    assert gate.error is None
    assert gate.decide(request()).verdict == "allow"


def test_the_check_command_reports_ok_for_the_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert firebreak(["policy", "check", str(POLICY_DIR)]) == 0
    assert capsys.readouterr().out.strip() == f"OK policies/ {policy_version(POLICY_DIR)}"


def test_the_check_command_runs_as_the_installed_firebreak() -> None:
    command = Path(sys.executable).with_name("firebreak")
    result = subprocess.run([str(command), "policy", "check", str(POLICY_DIR)], capture_output=True,
                            text=True, timeout=60, cwd=POLICY_DIR.parent)
    assert (result.returncode, result.stdout.strip()) == (0, f"OK policies/ {policy_version(POLICY_DIR)}")


# --- a broken policy denies every action and says why ---


def test_a_syntax_error_denies_everything_naming_the_file_and_line(policy_copy: Path) -> None:
    rego = policy_copy / "remediation.rego"
    lines = rego.read_text().count("\n")
    rego.write_text(rego.read_text() + "\nbroken if {\n\tinput.x = \n}\n")
    gate = PolicyGate.load(policy_copy)
    assert gate.error == f"policies/remediation.rego:{lines + 3}:10: Invalid assignment operator"
    assert_denies_everything(gate, "policy failed to load: policies/remediation.rego:")


def test_a_broken_extra_module_is_named_too(policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text("package firebreak.remediation\n\ndeny contains\n")
    gate = PolicyGate.load(policy_copy)
    assert_denies_everything(gate, "policy failed to load: policies/extra.rego:3:")


def test_rules_that_conflict_when_evaluated_deny_everything(policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text(f"package firebreak.remediation\n\nresult := {VALID_RESULT}\n")
    gate = PolicyGate.load(policy_copy)
    assert gate.error == (
        "policies/extra.rego, policies/remediation.rego: data.firebreak.remediation.result: "
        "eval_conflict_error: complete rules must not produce multiple outputs"
    )
    assert_denies_everything(gate, "policy failed to load: policies/extra.rego, policies/remediation.rego: ")


def test_a_builtin_failing_on_one_request_denies_that_request_only(policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text(
        "package firebreak.remediation\n\nimport rego.v1\n\n"
        'deny contains msg if {\n\tinput.action.kind == "delete_pod"\n\tmsg := sprintf("%v", [1 / 0])\n}\n'
    )
    gate = PolicyGate.load(policy_copy)
    assert gate.error is None
    ruling = gate.decide(request("delete_pod", "pod/qwen-7b-x"))
    assert ruling.verdict == "deny"
    assert ruling.reasons[0].startswith("policy evaluation failed: policies/extra.rego, policies/remediation.rego: ")
    assert "divide by zero" in ruling.reasons[0]
    assert gate.decide(request()).verdict == "allow"


@pytest.mark.parametrize(
    ("source", "error_end"),
    [
        ('result := {"decision": "yes", "reasons": ["x"], "dry_run": false}', "malformed: decision: Input should be"),
        ('result := {"decision": "allow", "reasons": [], "dry_run": false}', "malformed: reasons: List should have"),
        ('result := "allow"', "is malformed: Input should be a valid dictionary"),
        ('verdict := "allow"', "is undefined: no module defines it"),
    ],
    ids=["unknown-decision", "no-reasons", "not-an-object", "undefined"],
)
def test_a_result_of_the_wrong_shape_denies_everything(policy_copy: Path, source: str, error_end: str) -> None:
    gate = PolicyGate.load(only_module(policy_copy, source))
    assert gate.error is not None
    assert gate.error.startswith("policies/only.rego: data.firebreak.remediation.result ")
    assert error_end in gate.error
    assert_denies_everything(gate, "policy failed to load: policies/only.rego: ")


def test_output_the_engine_garbles_denies_everything(policy_copy: Path) -> None:
    # rego-cpp quotes a concat() result inside sprintf %s, which breaks the JSON it hands back.
    reason = 'sprintf("[%s]", [concat(", ", ["a", "b"])])'
    garbled = f'result := {{"decision": "allow", "reasons": [{reason}], "dry_run": false}}'
    gate = PolicyGate.load(only_module(policy_copy, garbled))
    assert gate.error is not None
    assert "the engine returned unreadable output" in gate.error
    assert_denies_everything(gate, "policy failed to load: policies/only.rego: ")


def test_a_minimal_valid_policy_is_obeyed(policy_copy: Path) -> None:
    gate = PolicyGate.load(only_module(policy_copy, f"result := {VALID_RESULT}"))
    assert gate.decide(request(namespace="kube-system")) == PolicyRuling(
        verdict="allow", reasons=["fine"], policy_version=gate.policy_version
    )


def test_an_action_no_rule_allows_is_denied_by_default(policy_copy: Path) -> None:
    rego = policy_copy / "remediation.rego"
    auto_allow = "allow contains msg if {\n\taction.kind in cfg.kinds.auto_allowed"
    assert auto_allow in rego.read_text()
    rego.write_text(rego.read_text().replace(auto_allow, "allow contains msg if {\n\tfalse"))
    ruling = PolicyGate.load(policy_copy).decide(request())
    assert (ruling.verdict, ruling.reasons) == ("deny", ["no rule allowed this action"])


# --- missing or invalid files ---


def test_a_missing_data_file_denies_everything(policy_copy: Path) -> None:
    (policy_copy / "data.yaml").unlink()
    assert_denies_everything(PolicyGate.load(policy_copy), "policy failed to load: policies/data.yaml: not found")


def test_data_that_does_not_parse_denies_everything(policy_copy: Path) -> None:
    (policy_copy / "data.yaml").write_text("allowed_namespaces: [inference\n")
    assert_denies_everything(PolicyGate.load(policy_copy), "policy failed to load: policies/data.yaml: while parsing")


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"disruption": {"max_unavailable_fraction": "25%"}}, "disruption.max_unavailable_fraction: Input should be"),
        ({"replicas": {"default": {"min": 5, "max": 2}}}, "replicas.default: Value error, min 5 is above max 2"),
        ({"kinds": {"auto_allowed": ["reboot_cluster"]}}, "kinds.auto_allowed.0: Input should be"),
        ({"freeze": {"windows": [{"reason": "x", "start": "2026-01-01T00:00:00"}]}}, "freeze.windows.0.start"),
        (
            {"freeze": {"windows": [{"reason": "x", "weekly": {"days": ["Friday"], "from": "22:00", "to": "02:00"}}]}},
            "cannot wrap past midnight",
        ),
        ({"dry_rn": True}, "dry_rn: Extra inputs are not permitted"),
    ],
    ids=["fraction-as-text", "min-above-max", "unknown-kind", "naive-time", "wrapping-window", "typo"],
)
def test_invalid_data_denies_everything_naming_the_field(overrides: dict[str, object], problem: str) -> None:
    gate = PolicyGate.load(POLICY_DIR, overrides)
    assert gate.error is not None and gate.error.startswith("policies/data.yaml: ")
    assert problem in gate.error
    assert_denies_everything(gate, "policy failed to load: policies/data.yaml: ")


def test_an_empty_policy_directory_denies_everything(tmp_path: Path) -> None:
    empty = tmp_path / "policies"
    empty.mkdir()
    shutil.copy(POLICY_DIR / "data.yaml", empty)
    assert_denies_everything(PolicyGate.load(empty), "policy failed to load: policies/: no *.rego policy files")


def test_a_missing_policy_directory_denies_everything(tmp_path: Path) -> None:
    gate = PolicyGate.load(tmp_path / "policies")
    assert_denies_everything(gate, "policy failed to load: policies/: not a directory")


def test_the_check_command_prints_the_error_and_fails(policy_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (policy_copy / "data.yaml").unlink()
    assert firebreak(["policy", "check", str(policy_copy)]) == 1
    assert capsys.readouterr().out.strip() == "policy failed to load: policies/data.yaml: not found"


# --- determinism and the audit version ---


def test_the_same_request_gets_the_same_decision_and_version(gate: PolicyGate) -> None:
    again = PolicyGate.load(POLICY_DIR)
    req = request(namespace="default", params={"replicas": 99})
    assert again.policy_version == gate.policy_version
    assert again.decide(req) == gate.decide(req) == gate.decide(req)


def test_the_version_follows_the_policy_contents(policy_copy: Path) -> None:
    shipped = policy_version(POLICY_DIR)
    assert policy_version(policy_copy) == shipped  # the files' bytes, not where they live
    (policy_copy / "remediation.rego").write_text((policy_copy / "remediation.rego").read_text() + "\n# edited\n")
    assert policy_version(policy_copy) != shipped
    assert policy_version(POLICY_DIR, {"dry_run": True}) != shipped


def test_a_broken_policy_still_reports_its_version(policy_copy: Path) -> None:
    (policy_copy / "remediation.rego").write_text("package firebreak.remediation\n\nresult := {\n")
    gate = PolicyGate.load(policy_copy)
    ruling = gate.decide(request())
    assert ruling.policy_version == gate.policy_version == policy_version(policy_copy)


def test_concurrent_decisions_do_not_see_each_others_input(gate: PolicyGate) -> None:
    requests = [request(), request(namespace="kube-system"), request("drain_node", "node/gpu-node-1", "")]
    expected = [gate.decide(req) for req in requests]
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(gate.decide, requests * 3))
    assert answers == expected * 3
