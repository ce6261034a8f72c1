"""The GPUs of this machine through NVML (nvidia-ml-py), for a gpu server running on the GPU node itself.

Gives the same `GpuReading` as the DCGM path. What a one-shot NVML read cannot know stays None: the last Xid (NVML
only delivers Xids as events to a listener registered before they happen), throttle time over a window (a single
sample has no rate), memory temperature, and the pod (that mapping lives in the kubelet). A query a GPU does not
support reads as None rather than failing the whole answer.

`firebreak gpus` prints a JSON health summary of the local GPUs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

from mcp_servers.gpu.reading import GpuReading

INSTALL_HINT = "NVML mode needs nvidia-ml-py: install firebreak[nvml]"
MIB = 1024 * 1024


class NvmlUnavailable(RuntimeError):
    """NVML cannot answer: the package, the library or the driver is missing, or a device query failed."""


def _pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as error:
        raise NvmlUnavailable(INSTALL_HINT) from error
    return pynvml


def local_node() -> str:
    """The node's name as Kubernetes knows it when the downward API gives it (NODE_NAME), else the host name."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


def read_local() -> list[GpuReading]:
    nv = _pynvml()
    try:
        nv.nvmlInit()
    except nv.NVMLError as error:
        raise NvmlUnavailable(f"NVML could not start: {error} (is the NVIDIA driver loaded here?)") from error
    try:
        node = local_node()
        return [_read_device(nv, node, index) for index in range(nv.nvmlDeviceGetCount())]
    except nv.NVMLError as error:
        raise NvmlUnavailable(f"NVML failed while reading the GPUs: {error}") from error
    finally:
        nv.nvmlShutdown()


def _read_device(nv: ModuleType, node: str, index: int) -> GpuReading:
    try:
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        uuid, name = _text(nv.nvmlDeviceGetUUID(handle)), _text(nv.nvmlDeviceGetName(handle))
    except nv.NVMLError_GpuIsLost:
        return GpuReading(node=node, gpu=index, reporting=False)

    def optional(call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(handle, *args)
        except (nv.NVMLError_NotSupported, nv.NVMLError_FunctionNotFound, nv.NVMLError_NoPermission):
            return None

    try:
        memory = optional(nv.nvmlDeviceGetMemoryInfo)
        utilisation = optional(nv.nvmlDeviceGetUtilizationRates)
        power_mw = optional(nv.nvmlDeviceGetPowerUsage)
        remapped = optional(nv.nvmlDeviceGetRemappedRows)  # (correctable, uncorrectable, pending, failure)
        return GpuReading(
            node=node, gpu=index, uuid=uuid, model=name,
            util_pct=utilisation.gpu if utilisation is not None else None,
            memory_used_mib=round(memory.used / MIB) if memory is not None else None,
            memory_total_mib=round(memory.total / MIB) if memory is not None else None,
            gpu_temp_c=optional(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU),
            power_w=round(power_mw / 1000, 1) if power_mw is not None else None,
            sm_clock_mhz=optional(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
            mem_clock_mhz=optional(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_MEM),
            throttle_reasons=_clock_event_reasons(nv, optional),
            ecc_sbe=optional(nv.nvmlDeviceGetTotalEccErrors, nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, nv.NVML_VOLATILE_ECC),
            ecc_dbe=optional(nv.nvmlDeviceGetTotalEccErrors, nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                             nv.NVML_VOLATILE_ECC),
            remapped_rows_correctable=remapped[0] if remapped is not None else None,
            remapped_rows_uncorrectable=remapped[1] if remapped is not None else None,
            row_remap_failure=bool(remapped[3]) if remapped is not None else None,
            pcie_replays=optional(nv.nvmlDeviceGetPcieReplayCounter),
        )
    except nv.NVMLError_GpuIsLost:
        return GpuReading(node=node, gpu=index, uuid=uuid, model=name, reporting=False)


def _clock_event_reasons(nv: ModuleType, optional: Callable[..., Any]) -> int | None:
    """Newer drivers call them clock event reasons; older ones (and older nvidia-ml-py) throttle reasons."""
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        call = getattr(nv, name, None)
        reasons = optional(call) if call is not None else None
        if reasons is not None:
            return int(reasons)
    return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

