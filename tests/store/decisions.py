"""A decision as the policy step records it, and claims that really race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


def decision(key: str = "INC-0001/cordon/1", verdict: str = "allow", **changes: object) -> dict[str, object]:
    return {
        "incident_id": "INC-0001",
        "idempotency_key": key,
        "kind": "cordon_node",
        "target": "node/gpu-node-2",
        "params": {"reason": "xid 79"},
        "decision": verdict,
        "reasons": ["node is in an allowed pool"],
        **changes,
    }


def claim_in_parallel(claimers: list[Callable[[], bool]]) -> list[bool]:
    """Start every claim at the same moment, so they really race."""
    barrier = threading.Barrier(len(claimers))

    def run(claim: Callable[[], bool]) -> bool:
        barrier.wait()
        return claim()

    with ThreadPoolExecutor(len(claimers)) as pool:
        return list(pool.map(run, claimers))
