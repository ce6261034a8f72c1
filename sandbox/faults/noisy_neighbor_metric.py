"""A red herring: a process outside Kubernetes keeps one GPU busy and warm. Nothing that serves is affected."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    gpu = targets.gpu(sandbox, target)
    gpu.stray_utilisation = float(params.get("utilisation", 0.97))
    return f"{gpu.node} GPU {gpu.index} busy outside Kubernetes"
