"""The metrics pages Prometheus scrapes: dcgm-exporter per node, node-exporter and cAdvisor per node, vLLM per
pod, the gateway per gateway pod. Readings derive from the world's state at scrape time."""

from __future__ import annotations

import math
import time

from sandbox.exposition import Family, Registry
from sandbox.world import Gpu, Host, World

# DCGM clock-throttle-reason bits (dcgm_structs.h): the ones a thermal slowdown raises.
SW_THERMAL, HW_THERMAL = 0x20, 0x40
HBM_MIB = 81559
SM_CLOCK_MAX, MEM_CLOCK = 1980, 2619
BOOTED = time.time() - 3 * 86400


def dcgm(host: Host, utilisation: dict[str, float], containers: dict[str, str]) -> str:
    """dcgm-exporter's page for one node. `utilisation` is per pod key; `containers` maps pod key -> container."""
    r = Registry()
    families = {
        "DCGM_FI_DEV_SM_CLOCK": r.gauge("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
        "DCGM_FI_DEV_MEM_CLOCK": r.gauge("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."),
        "DCGM_FI_DEV_MEMORY_TEMP": r.gauge("DCGM_FI_DEV_MEMORY_TEMP", "Memory temperature (in C)."),
        "DCGM_FI_DEV_GPU_TEMP": r.gauge("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
        "DCGM_FI_DEV_POWER_USAGE": r.gauge("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": r.counter(
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ).", False),
        "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": r.counter(
            "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", False),
        "DCGM_FI_DEV_GPU_UTIL": r.gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
        "DCGM_FI_DEV_MEM_COPY_UTIL": r.gauge("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
        "DCGM_FI_DEV_XID_ERRORS": r.gauge("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered."),
        "DCGM_FI_DEV_FB_FREE": r.gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
        "DCGM_FI_DEV_FB_USED": r.gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": r.counter("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
                                                   "Total number of double-bit volatile ECC errors.", False),
        "DCGM_FI_DEV_THERMAL_VIOLATION": r.counter("DCGM_FI_DEV_THERMAL_VIOLATION",
                                                   "Throttling duration due to thermal constraints (in us).", False),
        "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": r.gauge("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
                                                      "Current clock throttle reasons (bitmask)."),
    }
    for gpu in host.gpus:
        _gpu_readings(gpu, families, utilisation.get(gpu.pod or "", 0.0), containers.get(gpu.pod or ""))
    return r.render()


def _gpu_readings(gpu: Gpu, f: dict[str, Family], busy: float, container: str | None) -> None:
    labels = {"gpu": str(gpu.index), "UUID": gpu.uuid, "pci_bus_id": gpu.pci_bus_id, "device": f"nvidia{gpu.index}",
              "modelName": gpu.model_name, "Hostname": gpu.node, "DCGM_FI_DRIVER_VERSION": "570.124.06"}
    if gpu.pod and container:
        namespace, pod = gpu.pod.split("/")
        labels.update(container=container, namespace=namespace, pod=pod)
    util = 0.0 if gpu.lost else min(100.0, max(busy, gpu.stray_utilisation) * 100)
    jitter = math.sin(time.time() / 7 + gpu.index) * 1.5
    temp = 31 + 0.4 * util + jitter + (27 if gpu.thermal_slowdown else 0)
    clock = SM_CLOCK_MAX if util > 5 else 345
    if gpu.thermal_slowdown:
        clock = int(SM_CLOCK_MAX * 0.55)
    fb_used = _fb_used(gpu)
    f["DCGM_FI_DEV_SM_CLOCK"].set(clock, **labels)
    f["DCGM_FI_DEV_MEM_CLOCK"].set(MEM_CLOCK, **labels)
    f["DCGM_FI_DEV_GPU_TEMP"].set(round(temp), **labels)
    f["DCGM_FI_DEV_MEMORY_TEMP"].set(round(temp + 6), **labels)
    power = 72 + 6.2 * util
    f["DCGM_FI_DEV_POWER_USAGE"].set(round(power, 3), **labels)
    f["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].set(int(power * 1000 * (time.time() - BOOTED)), **labels)
    f["DCGM_FI_DEV_PCIE_REPLAY_COUNTER"].set(0, **labels)
    f["DCGM_FI_DEV_GPU_UTIL"].set(round(util), **labels)
    f["DCGM_FI_DEV_MEM_COPY_UTIL"].set(round(util * 0.6), **labels)
    f["DCGM_FI_DEV_XID_ERRORS"].set(gpu.xid, **labels)
    f["DCGM_FI_DEV_FB_USED"].set(fb_used, **labels)
    f["DCGM_FI_DEV_FB_FREE"].set(HBM_MIB - fb_used, **labels)
    f["DCGM_FI_DEV_ECC_DBE_VOL_TOTAL"].set(gpu.ecc_dbe_total, **labels)
    f["DCGM_FI_DEV_THERMAL_VIOLATION"].set(int(gpu.thermal_violation_us), **labels)
    f["DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"].set(SW_THERMAL | HW_THERMAL if gpu.thermal_slowdown else 0, **labels)


def _fb_used(gpu: Gpu) -> int:
    """MiB in use: vLLM preallocates most of the memory of its GPUs; a process outside Kubernetes holds its own."""
    if gpu.lost:
        return 0
    used = (0.9 if gpu.pod else 0.0) + (0.3 if gpu.stray_utilisation else 0.0)
    return int(HBM_MIB * min(0.99, used))


def node_exporter(host: Host, world: World) -> str:
    """node-exporter's memory view plus cAdvisor's per-container working set, for one node."""
    r = Registry()
    used = host.system_memory_bytes + sum(p.memory_bytes for p in world.processes.values() if p.node == host.name)
    r.gauge("node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.").set(host.memory_bytes)
    r.gauge("node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes.").set(
        max(0.0, host.memory_bytes - used))
    return r.render()


def cadvisor(host: Host, world: World, containers: dict[str, str], limits: dict[str, float]) -> str:
    r = Registry()
    working_set = r.gauge("container_memory_working_set_bytes", "Current working set of the container in bytes")
    limit = r.gauge("container_spec_memory_limit_bytes", "Memory limit for the container.")
    for key, process in world.processes.items():
        if process.node == host.name and key in containers:
            namespace, pod = key.split("/")
            labels = {"namespace": namespace, "pod": pod, "container": containers[key]}
            working_set.set(round(process.memory_bytes), **labels)
            limit.set(limits.get(key, 0.0), **labels)
    return r.render()

