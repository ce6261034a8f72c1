"""GPU readings from dcgm-exporter's metrics in Prometheus: a handful of fleet-wide queries, never one per GPU,
through the endpoint's shared Prometheus client."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import anyio

from mcp_servers.gpu.reading import THROTTLE_WINDOW, GpuReading
from mcp_servers.prometheus.client import PrometheusApi

LOST_LOOKBACK = "10m"  # a GPU seen within this window that reports nothing now has gone missing
# The XID gauge is sticky (it holds the last Xid until the exporter restarts, dcgm-exporter#500): an Xid counts as
# current only when its series appeared (a new `err_code` label) or its value changed within this window.
XID_RECENT = "1h"

# Where a series' node comes from: Prometheus' target labels first, dcgm-exporter's own host label last
# (`Hostname` in released versions, `hostname` on dcgm-exporter's main branch since #655).
NODE_LABELS = ("node", "kubernetes_node", "Hostname", "hostname", "instance")

# dcgm-exporter metric -> GpuReading field. The clock throttle reasons gauge was renamed in newer DCGM.
GAUGES = {
    "DCGM_FI_DEV_GPU_UTIL": "util_pct",
    "DCGM_FI_DEV_FB_USED": "memory_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free",
    "DCGM_FI_DEV_FB_RESERVED": "fb_reserved",
    "DCGM_FI_DEV_GPU_TEMP": "gpu_temp_c",
    "DCGM_FI_DEV_MEMORY_TEMP": "memory_temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_MEM_CLOCK": "mem_clock_mhz",
    "DCGM_FI_DEV_XID_ERRORS": "xid",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": "ecc_sbe",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_dbe",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": "remapped_rows_correctable",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "remapped_rows_uncorrectable",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "row_remap_failure",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "pcie_replays",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "throttle_reasons",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": "throttle_reasons",
}
# The exporter's own count of clock-event samples per reason within its window (collector/clock_events_collector.go):
# its `clock_event` label -> the DCGM_FI_DEV_CLOCKS_EVENT_REASONS bit.
CLOCK_EVENTS = "DCGM_EXP_CLOCK_EVENTS_COUNT"
CLOCK_EVENT_BITS = {"gpu_idle": 0x1, "clocks_setting": 0x2, "power_cap": 0x4, "hw_slowdown": 0x8, "sync_boost": 0x10,
                    "sw_thermal": 0x20, "hw_thermal": 0x40, "hw_power_brake": 0x80, "display_clocks": 0x100}
# Time spent throttled, in ns (the CSV's help says so since 4.4.2-4.7.1; the value was ns before too,
# dcgm-exporter#589): the rate in ns per second over 1e9 is the share of the time.
VIOLATIONS = {"DCGM_FI_DEV_THERMAL_VIOLATION": "thermal_fraction", "DCGM_FI_DEV_POWER_VIOLATION": "power_fraction"}
XID = "DCGM_FI_DEV_XID_ERRORS"


async def read_dcgm(prometheus: PrometheusApi) -> list[GpuReading]:
    """Every GPU dcgm-exporter reports, in six queries (run side by side) whatever the fleet's size."""
    gauges = "|".join([*GAUGES, CLOCK_EVENTS])
    queries = [f'{{__name__=~"{gauges}"}}',
               *(f"rate({metric}[{THROTTLE_WINDOW}]) / 1e9" for metric in VIOLATIONS),
               f"last_over_time(DCGM_FI_DEV_GPU_TEMP[{LOST_LOOKBACK}]) unless on(UUID) DCGM_FI_DEV_GPU_TEMP",
               # matched on the GPU and the Xid alone: a new pod on an old Xid's GPU makes a new series, not a new Xid
               f"({XID} != 0 unless on(UUID, err_code) {XID} offset {XID_RECENT})"
               f" or ({XID} != 0 and changes({XID}[{XID_RECENT}]) > 0)",
               "up == 0"]
    results = await asyncio.gather(*(anyio.to_thread.run_sync(prometheus.query, q) for q in queries))
    return dcgm_readings(*results)


def dcgm_readings(current: list[dict[str, Any]], thermal: list[dict[str, Any]], power: list[dict[str, Any]],
                  lost: list[dict[str, Any]], recent_xids: list[dict[str, Any]],
                  down: list[dict[str, Any]] | None = None) -> list[GpuReading]:
    """The readings of `read_dcgm`'s six results: the gauges, the two violation rates, the GPUs gone quiet, the
    Xids that are new within `XID_RECENT` and the scrape targets that did not answer (a GPU gone quiet because its
    exporter did not answer says nothing about the GPU)."""
    gpus: dict[tuple[str, int], _Gpu] = {}
    for sample in current:
        labels = sample["metric"]
        if (key := _key(labels)) is not None:
            gpu = gpus.setdefault(key, _Gpu(key, labels))
            if labels["__name__"] == CLOCK_EVENTS:
                gpu.clock_event(labels.get("clock_event"), sample["value"][1])
            else:
                gpu.set(GAUGES[labels["__name__"]], sample["value"][1])
    for field, samples in zip(VIOLATIONS.values(), (thermal, power), strict=True):
        for sample in samples:
            if (key := _key(sample["metric"])) in gpus:
                gpus[key].set(field, sample["value"][1])
    recent = {key for sample in recent_xids if (key := _key(sample["metric"])) is not None}
    for key, gpu in gpus.items():
        if gpu.fields.get("xid"):
            gpu.fields["xid_recent"] = key in recent
    unanswered = {_target(sample["metric"]) for sample in down or []}
    for sample in lost:
        if (key := _key(sample["metric"])) is not None:
            gpu = gpus.setdefault(key, _Gpu(key, sample["metric"]))
            gpu.fields["reporting"] = False
            gpu.fields["exporter_down"] = _target(sample["metric"]) in unanswered
    return sorted((gpu.reading() for gpu in gpus.values()), key=lambda r: (r.node, r.gpu))


def _key(labels: dict[str, str]) -> tuple[str, int] | None:
    node = next((labels[name] for name in NODE_LABELS if labels.get(name)), None)
    index = labels.get("gpu", "")
    return (node, int(index)) if node and index.isdigit() else None


def _target(labels: dict[str, str]) -> tuple[str | None, str | None]:
    return labels.get("job"), labels.get("instance")


def _pod_labels(labels: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    """The workload's pod. Behind a ServiceMonitor without honorLabels, `pod` is the exporter's own pod and the
    workload's moves to `exported_pod`."""
    if labels.get("exported_pod"):
        return labels["exported_pod"], labels.get("exported_namespace"), labels.get("exported_container")
    pod = labels.get("pod")
    if pod and "dcgm-exporter" not in pod:
        return pod, labels.get("namespace"), labels.get("container")
    return None, None, None


class _Gpu:
    """One GPU's samples while the queries' results are gathered."""

    def __init__(self, key: tuple[str, int], labels: dict[str, str]) -> None:
        pod, namespace, container = _pod_labels(labels)
        self.fields: dict[str, Any] = {"node": key[0], "gpu": key[1], "uuid": labels.get("UUID"),
                                       "model": labels.get("modelName"), "reporting": True, "pod": pod,
                                       "namespace": namespace, "container": container}
        self.framebuffer: dict[str, float] = {}

    def set(self, field: str, text: str) -> None:
        value = float(text)
        if math.isnan(value):
            return
        if field in {"fb_free", "fb_reserved"}:
            self.framebuffer[field] = value
        elif field in {"thermal_fraction", "power_fraction"}:
            self.fields[field] = round(min(1.0, max(0.0, value)), 3)
        else:
            self.fields[field] = int(value) if value.is_integer() else value

    def clock_event(self, reason: str | None, count: str) -> None:
        """One reason's sample count in the exporter's window; a series without a reason says there were none."""
        bit = CLOCK_EVENT_BITS.get(reason or "", 0)
        if float(count) > 0:
            self.fields["throttle_reasons"] = (self.fields.get("throttle_reasons") or 0) | bit
        else:
            self.fields.setdefault("throttle_reasons", 0)

    def reading(self) -> GpuReading:
        used = self.fields.get("memory_used_mib")
        if used is not None and "fb_free" in self.framebuffer:
            self.fields["memory_total_mib"] = used + sum(self.framebuffer.values())
        return GpuReading.model_validate(self.fields)
