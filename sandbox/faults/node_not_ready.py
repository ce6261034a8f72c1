"""A node goes dark (kernel hang, network partition): its kubelet and its pods stop answering."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    host = targets.host(sandbox, target)
    host.reachable = False
    return f"{host.name} unreachable"
