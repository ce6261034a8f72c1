"""Every self-hosted replica of a model fails: a client keeps retrying a request that crashes the engine, so
each replica dies as soon as it serves again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    sandbox.world.crashing_request_models.add(name)
    return f"{name}: every replica crashes when it serves"
