"""What changes on the hosts between ticks: memory that grows, and GPU events the node daemons notice."""

from __future__ import annotations

from sandbox import logtext
from sandbox.clock import Clock
from sandbox.logs import LogStore
from sandbox.store import Store
from sandbox.world import Gpu, Host, World

DEVICE_PLUGIN = "nvidia-device-plugin"
# Application Xids the device plugin leaves the device healthy for (k8s-device-plugin v0.18.0+,
# internal/rm/health.go `ignoredXids`); any other critical Xid marks the device unhealthy.
DEVICE_PLUGIN_IGNORED_XIDS = frozenset({13, 31, 43, 45, 68, 109})
RECLAIM_FLOOR_BYTES = 64 * 1024**2  # the kernel's reserve below which allocations wait in reclaim


class Physics:
    def __init__(self, store: Store, world: World, clock: Clock, logs: LogStore) -> None:
        self.store, self.world, self.clock, self.logs = store, world, clock, logs
        self._reported_xids: set[tuple[str, int, int]] = set()

    def tick(self, dt: float) -> None:
        fleet_dt = dt * self.clock.time_scale
        for process in self.world.processes.values():
            process.memory_bytes += process.leak_bytes_per_s * fleet_dt
        for host in self.world.hosts.values():
            host.system_memory_bytes = min(_reclaim_ceiling(self.world, host),
                                           host.system_memory_bytes + host.system_memory_growth * fleet_dt)
            for gpu in host.gpus:
                if gpu.thermal_slowdown:
                    gpu.thermal_slowdown_s += dt
                if gpu.xid and (gpu.node, gpu.index, gpu.xid) not in self._reported_xids:
                    self._report_xid(gpu)

    def _report_xid(self, gpu: Gpu) -> None:
        """The device plugin's NVML event loop sees the Xid; for every one but the application Xids it logs it and
        marks the device unhealthy, whether or not the GPU is broken for good (k8s-device-plugin v0.20.0,
        internal/rm/health.go `runEventMonitor`). The kubelet's allocatable then counts only the devices the plugin
        still reports healthy (`controllers/nodes.py`), and it gives the device to no new pod."""
        self._reported_xids.add((gpu.node, gpu.index, gpu.xid))
        if gpu.xid in DEVICE_PLUGIN_IGNORED_XIDS:
            return
        gpu.plugin_unhealthy = True
        for pod in self.store.objects("pods"):
            on_node = pod["spec"].get("nodeName") == gpu.node
            if on_node and pod["metadata"].get("labels", {}).get("app") == DEVICE_PLUGIN:
                self.logs.write(pod["metadata"]["namespace"], pod["metadata"]["name"], DEVICE_PLUGIN,
                                logtext.device_plugin_xid(gpu.xid, gpu.uuid))


def _reclaim_ceiling(world: World, host: Host) -> float:
    """How far a runaway host process gets: it is a protected system daemon (oom_score_adj -1000), so near the
    edge its allocations stall in direct reclaim instead of failing, a little below the kubelet's 100Mi
    eviction threshold; what the kubelet evicts it takes next. Room that pods already hold it cannot take."""
    in_pods = sum(p.memory_bytes for p in world.processes.values() if p.node == host.name)
    return max(host.system_memory_bytes, host.memory_bytes - in_pods - RECLAIM_FLOOR_BYTES)
