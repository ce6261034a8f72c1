"""A runaway host process (outside any pod) eats the node's memory; the kernel kills the biggest containers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    host = targets.host(sandbox, target)
    in_pods = sum(p.memory_bytes for p in sandbox.world.processes.values() if p.node == host.name)
    free = host.memory_bytes - host.system_memory_bytes - in_pods
    fill_wall_s = float(params.get("fill_s", 10))
    host.system_memory_growth = free / (fill_wall_s * sandbox.clock.time_scale)
    return f"{host.name}: host memory fills in about {fill_wall_s:.0f}s"
