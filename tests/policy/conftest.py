"""The shipped policy (policies/), one request builder, and throwaway copies of the policy to break."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.policy.gate import PolicyGate
from agent.policy.input import PolicyInput

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
NOW = 1_767_261_600  # 2026-01-01T10:00:00Z, a Thursday


def request(
    kind: str = "scale_deployment",
    target: str = "deployment/qwen-7b",
    namespace: str = "inference",
    params: dict[str, Any] | None = None,
    **fields: Any,
) -> PolicyInput:
    """A request for one action; by default a scale of qwen-7b to 4 replicas that the shipped policy allows."""
    if params is None:
        params = {"replicas": 4} if kind == "scale_deployment" else {}
    action = {"kind": kind, "target": target, "namespace": namespace, "params": params}
    return PolicyInput.model_validate({"action": action, "incident": {"id": "INC-1"}, "now": NOW} | fields)


@pytest.fixture(scope="session")
def gate() -> PolicyGate:
    loaded = PolicyGate.load(POLICY_DIR)
    assert loaded.error is None, loaded.error
    return loaded


@pytest.fixture(scope="session")
def gate_with() -> Callable[..., PolicyGate]:
    """The shipped policy with its data deep-merged with overrides."""

    def load(**overrides: Any) -> PolicyGate:
        loaded = PolicyGate.load(POLICY_DIR, overrides)
        assert loaded.error is None, loaded.error
        return loaded

    return load


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of policies/ in a directory also named policies, so reasons read as in production."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, copy)
    return copy
