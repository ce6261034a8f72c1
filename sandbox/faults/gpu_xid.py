"""An Xid error on one GPU. Hardware-class Xids take the device off the node until it is serviced; the
others crash the process using it once.

Param `dcgm_reads_kmsg` (default false): whether DCGM's host engine may read the host's /dev/kmsg. NVML does not
report Xids 79, 119 and 120 to DCGM (NVIDIA/DCGM#162); DCGM 3.3.7 and later read them from /dev/kmsg, which the
stock dcgm-exporter DaemonSet (helm chart `deployment/values.yaml`: no /dev/kmsg mount, not privileged) cannot
open. So by default such an Xid never reaches `DCGM_FI_DEV_XID_ERRORS`, and a GPU off the bus (79) simply stops
reporting; with the param true its XID gauge reads 79 and its other series stop. The device plugin learns of the
Xid from NVML events either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

HARDWARE_XIDS = {48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120}
KMSG_ONLY_XIDS = {79, 119, 120}
OFF_THE_BUS = 79


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    gpu = targets.gpu(sandbox, target)
    gpu.xid = int(params.get("xid", OFF_THE_BUS))
    if gpu.xid not in KMSG_ONLY_XIDS or bool(params.get("dcgm_reads_kmsg", False)):
        gpu.dcgm_xid = gpu.xid
    if gpu.xid == 48:
        gpu.ecc_dbe_total += 1
    gpu.off_bus = gpu.xid == OFF_THE_BUS
    if gpu.xid in HARDWARE_XIDS:
        gpu.lost = True
    else:
        gpu.transient_fault = True
    return f"Xid {gpu.xid} on {gpu.node} GPU {gpu.index}"
