"""An Xid error on one GPU. Hardware-class Xids take the device off the node until it is serviced; the
others crash the process using it once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

HARDWARE_XIDS = {48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120}


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    gpu = targets.gpu(sandbox, target)
    gpu.xid = int(params.get("xid", 79))
    if gpu.xid == 48:
        gpu.ecc_dbe_total += 1
    if gpu.xid in HARDWARE_XIDS:
        gpu.lost = True
    else:
        gpu.transient_fault = True
    return f"Xid {gpu.xid} on {gpu.node} GPU {gpu.index}"
