"""A hosted provider throttles the fleet's account: part of its answers are 429."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    provider = targets.provider(sandbox, target)
    provider.rate_limited_share = float(params.get("share", 0.7))
    return f"{provider.name} throttles {provider.rate_limited_share:.0%} of requests"
