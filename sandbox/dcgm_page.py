"""dcgm-exporter's /metrics page for one node, as the exporter renders it.

Sources (NVIDIA/dcgm-exporter at d5e5f51, the tree of release 4.5.3-4.8.2):
- the fields, their types and help texts are `etc/default-counters.csv`; `EXTRAS` are lines that file ships
  commented out, which operators commonly enable (violation counters in ns, volatile ECC totals, and
  `DCGM_EXP_CLOCK_EVENTS_COUNT`, which counts `DCGM_FI_DEV_CLOCKS_EVENT_REASONS` bits per reason);
- the label order is the Go template of `internal/pkg/rendermetrics/render_metrics.go` (`gpu`, `UUID`,
  `pci_bus_id`, `device`, `modelName`, `Hostname`, then the label fields such as `DCGM_FI_DRIVER_VERSION`, then
  the attributes: the pod mapping's `container`/`namespace`/`pod` of `internal/pkg/transformation/kubernetes.go`
  and the XID gauge's `err_code`/`err_msg` of `internal/pkg/collector/gpu_collector.go`), sorted as Go ranges
  over a map; released versions spell the host label `Hostname` (main renamed it `hostname` after 4.5.3-4.8.2);
- values print as `toString` in `gpu_collector.go` does: integers with %d, doubles with %f; a blank DCGM value
  (a GPU NVML cannot reach) is skipped, so a GPU that fell off the bus simply has no series.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sandbox.world import Gpu

DRIVER_VERSION = "570.124.06"
HBM_MIB, RESERVED_MIB = 81559, 329  # H100 80GB HBM3 as nvidia-smi reports its framebuffer
SM_CLOCK_MAX, SM_CLOCK_IDLE, SM_CLOCK_THROTTLED = 1980, 345, 1080  # MHz; thermal slowdown clamps to ~55 %
MEM_CLOCK = 2619
THROTTLED_TEMP_C = 89  # a GPU in thermal slowdown sits at its slowdown temperature
BOOTED = time.time() - 3 * 86400
# Counters grow at a steady mean rate since boot, so they never go backwards as the load changes.
MEAN_POWER_W, MEAN_NVLINK_RATE = 420.0, 9.6e8
# DCGM_FI_DEV_CLOCKS_EVENT_REASONS bits a thermal slowdown raises, with the names clock_events_collector.go gives.
THERMAL_EVENTS = ("sw_thermal", "hw_thermal")
CLOCK_EVENTS_WINDOW_MS = 300000  # dcgm-exporter's default --clock-events-count-window-size
DCGM_SAMPLE_S = 30  # dcgm-exporter's default collect interval: one clock-event sample per 30 s
XID_TEXT = {0: "No Error", 13: "Graphics Engine Exception", 31: "GPU memory page fault",
            32: "Invalid or corrupted push buffer stream", 43: "GPU stopped processing",
            45: "Preemptive cleanup, due to previous errors -- Most likely to see when running multiple cuda",
            46: "GPU stopped processing", 48: "Double Bit ECC Error",
            61: "Internal micro-controller breakpoint/warning", 62: "Internal micro-controller halt",
            63: "ECC page retirement or row remapping recording event",
            64: "ECC page retirement or row remapper recording failure", 68: "NVDEC0 Exception",
            69: "Graphics Engine class error", 74: "NVLINK Error", 79: "GPU has fallen off the bus",
            92: "High single-bit ECC error rate", 94: "Contained ECC error", 95: "Uncontained ECC error",
            109: "Context Switch Timeout Error", 119: "GSP RPC Timeout", 120: "GSP Error",
            140: "Unrecovered ECC Error", 154: "GPU Recovery Action Changed"}  # collector/xid_errors.go, in part


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # gauge | counter, as the CSV says
    help: str


@dataclass(frozen=True)
class Sample:
    """What one GPU reads now, from which every field's value derives."""

    gpu: Gpu
    util: float  # percent
    fb_used: int  # MiB
    temp: float
    power: float


Reading = Callable[[Sample], "int | float"]

# etc/default-counters.csv, in its order; a float value renders as a DCGM double (%f), an int as %d.
DEFAULT: tuple[tuple[Field, Reading], ...] = (
    (Field("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."), lambda s: _sm_clock(s)),
    (Field("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."), lambda s: MEM_CLOCK),
    (Field("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."), lambda s: round(s.temp + 6)),
    (Field("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."), lambda s: round(s.temp)),
    (Field("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."), lambda s: s.power),
    (Field("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
     lambda s: _since_boot(MEAN_POWER_W * 1000)),
    (Field("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."), lambda s: 0),
    (Field("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."), lambda s: round(s.util)),
    (Field("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."), lambda s: round(s.util * 0.6)),
    (Field("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."), lambda s: 0),
    (Field("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."), lambda s: 0),
    (Field("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."), lambda s: s.gpu.dcgm_xid),
    (Field("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
     lambda s: HBM_MIB - RESERVED_MIB - s.fb_used),
    (Field("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."), lambda s: s.fb_used),
    (Field("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."), lambda s: RESERVED_MIB),
    (Field("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter",
           "Total number of NVLink bandwidth counters for all lanes."),
     lambda s: _since_boot(MEAN_NVLINK_RATE)),
    (Field("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"), lambda s: 0),
    (Field("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors"),
     lambda s: 0),
    (Field("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors"),
     lambda s: 0),
    (Field("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"), lambda s: 0),
    (Field("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."),
     lambda s: s.util / 100),
    (Field("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active."),
     lambda s: s.util * 0.0042),
    (Field("DCGM_FI_PROF_DRAM_ACTIVE", "gauge",
           "Ratio of cycles the device memory interface is active sending or receiving data."),
     lambda s: s.util * 0.0061),
    (Field("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "The rate of data transmitted over the PCIe bus - including both "
           "protocol headers and data payloads - in bytes per second."), lambda s: s.util * 1.9e6),
    (Field("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "The rate of data received over the PCIe bus - including both "
           "protocol headers and data payloads - in bytes per second."), lambda s: s.util * 2.7e6),
)

# Lines default-counters.csv ships commented out, enabled together by the fleet's `dcgm_extra_counters`.
EXTRAS: tuple[tuple[Field, Reading], ...] = (
    (Field("DCGM_FI_DEV_POWER_VIOLATION", "counter", "Throttling duration due to power constraints (in ns)."),
     lambda s: 0),
    (Field("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "Throttling duration due to thermal constraints (in ns)."),
     lambda s: int(s.gpu.thermal_slowdown_s * 1e9)),  # clamped the whole time it is in slowdown
    (Field("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors."),
     lambda s: 0),
    (Field("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
     lambda s: s.gpu.ecc_dbe_total),
)
CLOCK_EVENTS = Field("DCGM_EXP_CLOCK_EVENTS_COUNT", "counter", "reported clock events")


def render(gpus: Sequence[Gpu], utilisation: dict[str, float], containers: dict[str, str], extras: bool) -> str:
    fields = DEFAULT + EXTRAS if extras else DEFAULT
    samples = [_sample(g, utilisation.get(g.pod or "", 0.0)) for g in gpus]
    blocks = [_block(field, [(_labels(s.gpu, containers, field.name), read(s)) for s in samples
                             if _readable(s.gpu, field.name)]) for field, read in fields]
    if extras:
        blocks.append(_block(CLOCK_EVENTS, [row for s in samples if not s.gpu.off_bus
                                            for row in _clock_event_rows(s.gpu, containers)]))
    return "".join(blocks)


def _readable(gpu: Gpu, field: str) -> bool:
    """NVML cannot reach a GPU off the bus, so all its fields are blank and skipped; DCGM 3.3.7+ still learns its
    Xid from /dev/kmsg where it may read it, and then the XID gauge is the one series left."""
    return not gpu.off_bus or (field == "DCGM_FI_DEV_XID_ERRORS" and gpu.dcgm_xid != 0)


def _sample(gpu: Gpu, busy: float) -> Sample:
    util = 0.0 if gpu.lost else min(100.0, max(busy, gpu.stray_utilisation) * 100)
    jitter = math.sin(time.time() / 7 + gpu.index) * 1.5
    temp = THROTTLED_TEMP_C + jitter if gpu.thermal_slowdown else 31 + 0.4 * util + jitter
    return Sample(gpu=gpu, util=util, fb_used=_fb_used(gpu), temp=temp, power=round(72 + 6.2 * util, 3))


def _since_boot(rate: float) -> int:
    return int(rate * (time.time() - BOOTED))


def _sm_clock(s: Sample) -> int:
    if s.gpu.thermal_slowdown:
        return SM_CLOCK_THROTTLED
    return SM_CLOCK_MAX if s.util > 5 else SM_CLOCK_IDLE


def _fb_used(gpu: Gpu) -> int:
    """MiB in use: vLLM preallocates most of the memory of its GPUs; a process outside Kubernetes holds its own."""
    if gpu.lost:
        return 0
    used = (0.9 if gpu.pod else 0.0) + (0.3 if gpu.stray_utilisation else 0.0)
    return int((HBM_MIB - RESERVED_MIB) * min(0.99, used))


def _labels(gpu: Gpu, containers: dict[str, str], field: str,
            label_fields: dict[str, str] | None = None) -> dict[str, str]:
    """The template's fixed labels, then the label fields, then the attributes, each group sorted by name."""
    fixed = {"gpu": str(gpu.index), "UUID": gpu.uuid, "pci_bus_id": gpu.pci_bus_id, "device": f"nvidia{gpu.index}",
             "modelName": gpu.model_name, "Hostname": gpu.node}
    fields = {"DCGM_FI_DRIVER_VERSION": DRIVER_VERSION, **(label_fields or {})}
    attributes: dict[str, str] = {}
    container = containers.get(gpu.pod or "")
    if gpu.pod and container:
        namespace, pod = gpu.pod.split("/")
        attributes.update(container=container, namespace=namespace, pod=pod)
    if field == "DCGM_FI_DEV_XID_ERRORS":
        attributes.update(err_code=str(gpu.dcgm_xid), err_msg=XID_TEXT.get(gpu.dcgm_xid, "Unknown Error"))
    return fixed | dict(sorted(fields.items())) | dict(sorted(attributes.items()))


def _clock_event_rows(gpu: Gpu, containers: dict[str, str]) -> list[tuple[dict[str, str], int]]:
    """Clock-event samples per reason within the window (collector/expcollector.go); one 0 series without a
    `clock_event` label while there are none."""
    window = {"window_size_in_ms": str(CLOCK_EVENTS_WINDOW_MS)}
    if not gpu.thermal_slowdown:
        return [(_labels(gpu, containers, CLOCK_EVENTS.name, window), 0)]
    count = min(CLOCK_EVENTS_WINDOW_MS // 1000 // DCGM_SAMPLE_S, 1 + int(gpu.thermal_slowdown_s / DCGM_SAMPLE_S))
    return [(_labels(gpu, containers, CLOCK_EVENTS.name, {"clock_event": event, **window}), count)
            for event in THERMAL_EVENTS]


def _block(field: Field, rows: Sequence[tuple[dict[str, str], int | float]]) -> str:
    if not rows:
        return ""
    lines = [f"# HELP {field.name} {field.help}", f"# TYPE {field.name} {field.kind}"]
    for labels, value in rows:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines.append(f"{field.name}{{{text}}} {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: int | float) -> str:
    return f"{value:f}" if isinstance(value, float) else str(value)
