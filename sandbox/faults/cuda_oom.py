"""A configuration change leaves too little GPU memory outside the KV cache; big batches then run out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets
from sandbox.faults.rollout import change_template, set_arg

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    utilisation = str(params.get("gpu_memory_utilization", "0.98"))
    change_template(sandbox, name, lambda c: set_arg(c, "--gpu-memory-utilization", utilisation),
                    f"raise KV-cache budget: --gpu-memory-utilization={utilisation}")
    return f"{name}: --gpu-memory-utilization={utilisation}"
