"""The `firebreak` command line as a person and the outside checks meet it: the verbs, their help, the exit
statuses of usage errors and refusals, and the commands that need no running fleet."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main

VERBS = [["demo"], ["sandbox", "up"], ["sandbox", "inject"], ["scenario", "run"], ["eval"], ["serve"], ["mcp"],
         ["slo", "rules"], ["incidents"], ["approve"], ["deny"], ["resolve"]]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help(verb: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*verb, "--help"]) == 0
    assert main([*verb, "-h"]) == 0
    assert f"firebreak {' '.join(verb)}" in capsys.readouterr().out


def test_no_command_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "sandbox" in capsys.readouterr().out
    assert main(["sandbox"]) == 2
    assert main(["mcp", "grafana"]) == 2
    assert "grafana" in capsys.readouterr().err
    assert main(["serve"]) == 2, "--config is required"
    assert main(["frobnicate"]) == 2


def test_an_invalid_scenario_is_refused_before_any_sandbox_is_reached(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("faults: [{kind: gpu_xid, at_s: -1}]\n")
    assert main(["sandbox", "inject", str(scenario), "--state-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("firebreak: ") and "not a valid scenario" in error and "name" in error


def test_slo_rules_go_to_standard_output_or_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(__file__).resolve().parents[2] / "deploy" / "slo" / "inference.yaml"
    assert main(["slo", "rules", str(spec), "--time-scale", "60"]) == 0
    printed = capsys.readouterr().out
    assert "groups:" in printed
    assert main(["slo", "rules", str(spec), "--time-scale", "60", "-o", str(tmp_path / "rules.yml")]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "rules.yml").read_text() == printed


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--config", str(tmp_path / "agent.yaml")]) == 1
    assert "agent.yaml" in capsys.readouterr().err
