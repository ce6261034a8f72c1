"""A hosted backup provider fails its requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    provider = targets.provider(sandbox, target)
    provider.error_share = float(params.get("error_share", 1.0))
    return f"{provider.name} fails {provider.error_share:.0%} of requests"
