"""NVIDIA's Xid catalogue for the codes an inference fleet meets: what an Xid means and what to do about it.

After NVIDIA's "Xid Errors" documentation (the catalogue for Ampere and newer GPUs,
https://docs.nvidia.com/deploy/xid-errors/): `name` is the driver's mnemonic and `nvidia_action` its resolution
bucket (immediate action). `recommended_action` says what that bucket means for a Kubernetes fleet, and
`cordon_node` whether the node should stop taking pods until the GPU is serviced: application-class Xids leave the
GPU healthy (restart the pod, fix the code); hardware-class ones need a drain and a GPU reset, reboot or RMA.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Cause = Literal["application", "driver", "firmware", "hardware", "memory", "interconnect", "system"]
Severity = Literal["info", "warning", "critical"]

XID_DOCS = "https://docs.nvidia.com/deploy/xid-errors/"

SEVERITY_RANK: dict[str, int] = {"info": 1, "warning": 2, "critical": 3}

_APP_FIX = ("restart the pod if it did not restart itself; if the Xid recurs, fix the application (run it under "
            "compute-sanitizer memcheck or cuda-gdb). The GPU stays healthy: do not cordon the node.")
_DRAIN_RESET = ("cordon and drain the node, reset the GPU (nvidia-smi -r) or reboot the node, then run dcgmi diag "
                "before uncordoning; if it recurs, contact the hardware vendor (RMA).")


class XidEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: int
    name: str = Field(description="the driver's mnemonic")
    meaning: str
    usual_cause: Cause
    severity: Severity
    nvidia_action: str = Field(description="NVIDIA's resolution bucket (immediate action)")
    recommended_action: str
    cordon_node: bool = Field(description="whether the node should take no new pods until the GPU is serviced")


def _entry(code: int, name: str, meaning: str, cause: Cause, severity: Severity, nvidia_action: str, action: str,
           cordon: bool) -> XidEntry:
    return XidEntry(code=code, name=name, meaning=meaning, usual_cause=cause, severity=severity,
                    nvidia_action=nvidia_action, recommended_action=action, cordon_node=cordon)


_ENTRIES = (
    _entry(13, "ROBUST_CHANNEL_GR_EXCEPTION", "Graphics engine exception: usually the application walked past the "
           "end of an array or ran an illegal instruction; rarely a driver or hardware fault.",
           "application", "warning", "RESTART_APP", _APP_FIX, False),
    _entry(31, "ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT", "GPU memory page fault: an illegal address access reported "
           "by the MMU, typically an application bug, occasionally a driver or hardware bug.",
           "application", "warning", "RESTART_APP", _APP_FIX, False),
    _entry(32, "ROBUST_CHANNEL_PBDMA_ERROR", "Invalid or corrupted push buffer stream: the DMA controller between "
           "driver and GPU saw bad data, mostly from PCIe link quality, rarely from the application.",
           "hardware", "warning", "RESTART_APP", "restart the pod; if it recurs on this GPU, check the PCIe link "
           "(replay counter, AER errors in the kernel log) and drain the node for service.", False),
    _entry(43, "ROBUST_CHANNEL_RESETCHANNEL_VERIF_ERROR", "GPU stopped processing: the application hit a "
           "software-induced fault and had to terminate; the GPU remains healthy.",
           "application", "warning", "IGNORE", _APP_FIX, False),
    _entry(45, "ROBUST_CHANNEL_PREEMPTIVE_REMOVAL", "Preemptive cleanup: the driver tore down an application's GPU "
           "work after it aborted (Ctrl-C, SIGKILL, a GPU reset) or after another error such as a double-bit ECC "
           "error.", "application", "info", "IGNORE (follow the other Xid)",
           "look at the Xid logged just before it and act on that one; alone it needs no action (on NVSwitch "
           "systems NVIDIA advises restarting Fabric Manager).", False),
    _entry(46, "ROBUST_CHANNEL_GPU_TIMEOUT_ERROR", "GPU stopped processing: the GPU timed out.",
           "hardware", "critical", "RESET_GPU", _DRAIN_RESET, True),
    _entry(48, "ROBUST_CHANNEL_GPU_ECC_DBE", "Double-bit ECC error: an uncorrectable memory error, also reported to "
           "the application; only a GPU reset or node reboot clears it.",
           "memory", "critical", "WORKFLOW_XID_48", "cordon and drain the node, reset the GPU or reboot the node "
           "(row remapping, Xid 63/64, takes effect on reset); RMA if it recurs or the SRAM error threshold is "
           "exceeded.", True),
    _entry(61, "PMU_BREAKPOINT", "Internal micro-controller breakpoint or warning (GPUs before Ampere; unused on "
           "Ampere and newer).", "firmware", "warning", "CONTACT_SUPPORT",
           "reset the GPU at the next maintenance window; report to NVIDIA if it recurs.", False),
    _entry(62, "PMU_HALT_ERROR", "Internal micro-controller halt: the GPU's power-management controller stopped.",
           "firmware", "critical", "RESET_GPU", _DRAIN_RESET, True),
    _entry(63, "INFOROM_DRAM_RETIREMENT_EVENT", "GPU memory remapping event: the GPU handled ECC memory errors by "
           "remapping a row (Ampere and newer) or retiring a page (older GPUs).",
           "memory", "info", "IGNORE", "nothing urgent: the remap takes effect at the next GPU reset; drain and "
           "reset the GPU when convenient and watch the remapped-row counts.", False),
    _entry(64, "INFOROM_DRAM_RETIREMENT_FAILURE", "GPU memory remapping failure: the GPU could not remap a row or "
           "retire a page after ECC errors.", "memory", "critical", "RESET_GPU",
           "cordon and drain the node and reset the GPU; a remapping failure usually means the GPU must be "
           "replaced (RMA).", True),
    _entry(69, "ROBUST_CHANNEL_GR_CLASS_ERROR", "Graphics engine class error: the application or driver sent the "
           "engine an invalid command.", "application", "warning", "RESTART_APP", _APP_FIX, False),
    _entry(74, "NVLINK_ERROR", "NVLink error: a connection to another GPU or NVSwitch failed; the failing part may "
           "be this link or the device at its other end.", "interconnect", "critical", "WORKFLOW_NVLINK_ERR",
           "cordon and drain the node, reset the GPU or reboot the node, check `nvidia-smi nvlink`; contact the "
           "hardware vendor if a reset does not clear it.", True),
    _entry(79, "ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS", "GPU has fallen off the bus: the driver can no longer "
           "reach the GPU over PCI Express, most often a PCIe link or GPU hardware failure.",
           "hardware", "critical", "RESTART_BM", "cordon and drain the node, then reboot it (a GPU reset rarely "
           "works); check the system and kernel PCIe event logs, power and cooling; RMA if it recurs.", True),
    _entry(92, "EXCESSIVE_SBE_INTERRUPTS", "High single-bit ECC error rate: errors are still being corrected, but "
           "often.", "memory", "warning", "IGNORE",
           "no immediate action: watch single-bit ECC counts and remapped rows, schedule a GPU reset and dcgmi "
           "diag, and contact the vendor if the rate stays high.", False),
    _entry(94, "ROBUST_CHANNEL_CONTAINED_ERROR", "Contained memory error: an uncorrectable error (usually ECC) "
           "confined to one application, which must restart; other applications are unaffected.",
           "memory", "warning", "RESTART_APP", "restart the affected pod; drain and reset the GPU when convenient "
           "(until then it can keep serving).", False),
    _entry(95, "ROBUST_CHANNEL_UNCONTAINED_ERROR", "Uncontained memory error: an uncorrectable error that affects "
           "every application on the GPU; the GPU must be reset before anything can run on it again.",
           "memory", "critical", "RESET_GPU", _DRAIN_RESET, True),
    _entry(109, "ROBUST_CHANNEL_CTXSW_TIMEOUT_ERROR", "Context switch timeout: the GPU failed to switch between "
           "contexts in time.", "driver", "critical", "RESET_GPU", _DRAIN_RESET, True),
    _entry(119, "GSP_RPC_TIMEOUT", "GSP RPC timeout: the GPU System Processor did not answer the driver in time.",
           "firmware", "critical", "RESET_GPU", "cordon and drain the node, reset the GPU or power-cycle the node; "
           "if it recurs, update the driver and GPU firmware and follow NVIDIA's GPU debug guidelines.", True),
    _entry(120, "GSP_ERROR", "GSP error: code running on the GPU System Processor failed.",
           "firmware", "critical", "RESET_GPU", "cordon and drain the node, reset the GPU or power-cycle the node; "
           "if it recurs, update the driver and GPU firmware and follow NVIDIA's GPU debug guidelines.", True),
    _entry(140, "UNRECOVERABLE_ECC_ERROR_ESCAPE", "ECC unrecovered error: uncorrectable memory errors that "
           "interrupted the driver's page offlining or row remapping.", "memory", "critical", "RESET_GPU",
           _DRAIN_RESET, True),
    _entry(154, "GPU_RECOVERY_ACTION_CHANGED", "GPU recovery action changed: summarises what the Xids logged with "
           "it require (None, Drain P2P, Drain and Reset, GPU Reset Required or Node Reboot Required).",
           "driver", "warning", "XID_154", "read the driver's Xid 154 message in the kernel log for the required "
           "recovery action and follow it (cordon and drain first when it asks for a reset or reboot); act on the "
           "Xid logged with it.", False),
)

CATALOGUE: dict[int, XidEntry] = {entry.code: entry for entry in _ENTRIES}


def lookup(code: int) -> XidEntry | None:
    return CATALOGUE.get(code)


def not_in_catalogue(code: int) -> str:
    return f"Xid {code} is not in the catalogue; see NVIDIA's Xid documentation ({XID_DOCS})"
