"""The running processes of a deployment leak memory: they slow down as they bloat, then hit their limit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets
from sandbox.names import pod_key
from sandbox.workloads import memory_limit

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    to_limit_s = float(params.get("to_limit_s", 90))
    for pod in targets.live_pods(sandbox, name):
        process = sandbox.world.processes.get(pod_key(pod))
        if process:
            headroom = memory_limit(pod) - process.memory_bytes
            process.leak_bytes_per_s = headroom / (to_limit_s * sandbox.clock.time_scale)
    return f"{name}: processes leak to their limit in about {to_limit_s:.0f}s"
