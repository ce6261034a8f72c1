"""A model's traffic multiplies (a launch, a batch job, a viral client)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    factor = float(params.get("factor", 2.0))
    sandbox.world.traffic_multiplier[name] = factor
    return f"{name} traffic x{factor:g}"
