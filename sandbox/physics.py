"""What changes on the hosts between ticks: memory that grows, and GPU events the node daemons notice."""

from __future__ import annotations

from sandbox import logtext
from sandbox.clock import Clock
from sandbox.logs import LogStore
from sandbox.store import Store
from sandbox.world import GIB, Gpu, World

DEVICE_PLUGIN = "nvidia-device-plugin"
# Application Xids the device plugin leaves the device healthy for (k8s-device-plugin v0.18.0+,
# internal/rm/health.go `ignoredXids`); any other critical Xid marks the device unhealthy.
DEVICE_PLUGIN_IGNORED_XIDS = frozenset({13, 31, 43, 45, 68, 109})


class Physics:
    def __init__(self, store: Store, world: World, clock: Clock, logs: LogStore) -> None:
        self.store, self.world, self.clock, self.logs = store, world, clock, logs
        self._reported_xids: set[tuple[str, int, int]] = set()

    def tick(self, dt: float) -> None:
        fleet_dt = dt * self.clock.time_scale
        for process in self.world.processes.values():
            process.memory_bytes += process.leak_bytes_per_s * fleet_dt
        for host in self.world.hosts.values():
            # The runaway process is a protected system daemon: the kernel kills containers, not it.
            host.system_memory_bytes = min(host.memory_bytes - GIB,
                                           host.system_memory_bytes + host.system_memory_growth * fleet_dt)
            for gpu in host.gpus:
                if gpu.thermal_slowdown:
                    gpu.thermal_slowdown_s += dt
                if gpu.xid and (gpu.node, gpu.index, gpu.xid) not in self._reported_xids:
                    self._report_xid(gpu)

    def _report_xid(self, gpu: Gpu) -> None:
        """The device plugin's NVML event loop sees the Xid; for a critical one it logs it and marks the device
        unhealthy (the node's allocatable follows the GPUs still usable, `controllers/nodes.py`)."""
        self._reported_xids.add((gpu.node, gpu.index, gpu.xid))
        if gpu.xid in DEVICE_PLUGIN_IGNORED_XIDS:
            return
        for pod in self.store.objects("pods"):
            on_node = pod["spec"].get("nodeName") == gpu.node
            if on_node and pod["metadata"].get("labels", {}).get("app") == DEVICE_PLUGIN:
                self.logs.write(pod["metadata"]["namespace"], pod["metadata"]["name"], DEVICE_PLUGIN,
                                logtext.device_plugin_xid(gpu.xid, gpu.uuid))
