"""Helpers that run the real promtool and amtool (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slo.spec import SLOSpec, load_spec

REPO = Path(__file__).resolve().parents[2]
INFERENCE_SPEC = REPO / "deploy/slo/inference.yaml"


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} not on PATH: apt-get install prometheus prometheus-alertmanager")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def check_rules(path: Path) -> None:
    result = run(require("promtool"), "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def promtool_test(
    tmp_path: Path, rules_text: str, tests: list[dict[str, Any]], evaluation_interval: str
) -> None:
    """Run `promtool test rules` on `rules_text` with the given unit tests; fail with promtool's output."""
    (tmp_path / "rules.yml").write_text(rules_text)
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": evaluation_interval, "tests": tests}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run(require("promtool"), "test", "rules", tmp_path / "tests.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def inference_spec() -> SLOSpec:
    return load_spec(INFERENCE_SPEC)


def alert_annotations(rules_text: str, alertname: str, severity: str, model: str) -> dict[str, str]:
    """The annotations of one generated alert rule, to compare promtool's expanded ones against."""
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if rule.get("alert") == alertname and labels["severity"] == severity and labels["model"] == model:
                return dict(rule["annotations"])
    raise KeyError((alertname, severity, model))
