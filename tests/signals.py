"""One signal of a shipped runbook, evaluated on a tool's answer: what it matches there (nothing when it does not
fire). For tests that hold the runbooks to real-format evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.diagnose.runbooks import load_runbooks

RUNBOOKS = load_runbooks(Path(__file__).resolve().parents[1] / "runbooks")


def fires(runbook: str, signal: str, result: dict[str, Any], **scope: Any) -> list[dict[str, Any]]:
    loaded = RUNBOOKS.get(runbook)
    assert loaded is not None, runbook
    [probe] = [s.when for s in loaded.signals if s.id == signal]
    match = probe.evaluate(result, {"namespace": "inference", **scope})
    return match.elements if match.ok else []
