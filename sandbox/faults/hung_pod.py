"""One replica's engine deadlocks: it accepts requests and never answers, while its probe still passes.

Its metrics freeze and its stats line falls silent (sandbox.serving); with tensor parallelism its engine core
logs that the workers stopped answering (the shared-memory broadcast warning) every 60 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    key, process = targets.replica_process(sandbox, target)
    process.hung = True
    return f"{key} stops answering"
