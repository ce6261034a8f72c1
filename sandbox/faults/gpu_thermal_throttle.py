"""A GPU overheats (a failed fan, a blocked airflow) and its clocks are clamped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    gpu = targets.gpu(sandbox, target)
    gpu.thermal_slowdown = True
    return f"{gpu.node} GPU {gpu.index} overheats"
