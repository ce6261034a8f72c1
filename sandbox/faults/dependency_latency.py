"""A shared dependency of the gateway slows down; every model's latency suffers and no local fix exists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.dependency(sandbox, target)
    added = float(params.get("added_s", 0.9))
    sandbox.world.dependency_latency_s[name] += added
    return f"{name} +{added:g}s"
