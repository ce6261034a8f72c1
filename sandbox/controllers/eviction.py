"""The kubelet's eviction manager (kubernetes pkg/kubelet/eviction, eviction_manager.go and helpers.go, v1.31):
when a node's memory.available falls below the hard threshold it reports MemoryPressure, records
`EvictionThresholdMet`, and evicts one pod per monitoring period, ranked as `rankMemoryPressure` ranks them.

What it reads is what the kubelet reads from cAdvisor: the node's capacity less the working sets of everything
on it. The pressure condition holds for evictionPressureTransitionPeriod after the threshold was last met, so it
outlives the eviction that relieved it, as on a real node.
"""

from __future__ import annotations

from typing import Any

from sandbox.clock import Clock
from sandbox.controllers.kubelet import Kubelets
from sandbox.events import EventRecorder
from sandbox.names import pod_key
from sandbox.store import Store
from sandbox.workloads import memory_request
from sandbox.world import Host, World

Obj = dict[str, Any]
MIB = 1024**2
EVICTION_HARD_BYTES = 100 * MIB  # the kubelet's default evictionHard memory.available<100Mi
THRESHOLD_TEXT = "100Mi"
MONITORING_S = 10.0  # fleet seconds: evictionMonitoringPeriod (the housekeeping interval)
PRESSURE_TRANSITION_S = 300.0  # fleet seconds: evictionPressureTransitionPeriod's default, 5m0s
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000  # kubelettypes.IsCriticalPod: such pods are never evicted
# What the priority admission plugin writes into spec.priority for the two built-in classes.
BUILT_IN_PRIORITIES = {"system-cluster-critical": SYSTEM_CRITICAL_PRIORITY,
                       "system-node-critical": SYSTEM_CRITICAL_PRIORITY + 1000}


class EvictionManagers:
    """One eviction manager per node, each run by its node's kubelet (none runs on an unreachable node)."""

    def __init__(self, store: Store, world: World, clock: Clock, events: EventRecorder, kubelets: Kubelets) -> None:
        self.store, self.world, self.clock, self.events, self.kubelets = store, world, clock, events, kubelets
        self._threshold_met_at: dict[str, float] = {}  # node -> wall time the threshold was last observed met
        self._last_sync: dict[str, float] = {}

    def sync(self) -> None:
        now = self.clock.now()
        for name, host in self.world.hosts.items():
            due = now - self._last_sync.get(name, -1e9) >= self.clock.wall(MONITORING_S)
            if host.reachable and due:
                self._last_sync[name] = now
                self._synchronize(name, host, now)

    def memory_pressure(self, node: str) -> bool:
        """MemoryPressure as the kubelet reports it: True from the first observation below the threshold until
        the transition period has passed without another."""
        met_at = self._threshold_met_at.get(node)
        return met_at is not None and self.clock.now() - met_at < self.clock.wall(PRESSURE_TRANSITION_S)

    def _synchronize(self, name: str, host: Host, now: float) -> None:
        available = host.memory_bytes - host.system_memory_bytes - sum(
            p.memory_bytes for p in self.world.processes.values() if p.node == name)
        if available >= EVICTION_HARD_BYTES:
            return
        self._threshold_met_at[name] = now
        node = self.store.find("nodes", None, name)
        if node is None:
            return
        self.events.emit(node, "Warning", "EvictionThresholdMet", "Attempting to reclaim memory", "kubelet", name)
        for pod in self._ranked(name):
            if priority(pod) >= SYSTEM_CRITICAL_PRIORITY:
                continue  # "Eviction manager: cannot evict a critical pod"
            message = eviction_message(pod, available, self._usage(pod))
            self.events.emit(pod, "Warning", "Evicted", message, "kubelet", name)
            self.kubelets.evict(pod, message)
            return  # at most one pod per monitoring period

    def _ranked(self, node: str) -> list[Obj]:
        """rankMemoryPressure: pods whose usage exceeds their request first, then lower priority first, then by
        usage above the request, largest first."""
        active = [p for p in self.store.objects("pods") if p["spec"].get("nodeName") == node
                  and pod_key(p) in self.world.processes and "deletionTimestamp" not in p["metadata"]]

        def rank(pod: Obj) -> tuple[bool, int, float]:
            above = self._usage(pod) - memory_request(pod)
            return above <= 0, priority(pod), -above
        return sorted(active, key=rank)

    def _usage(self, pod: Obj) -> float:
        return self.world.processes[pod_key(pod)].memory_bytes


def priority(pod: Obj) -> int:
    spec = pod["spec"]
    return int(spec.get("priority", BUILT_IN_PRIORITIES.get(spec.get("priorityClassName", ""), 0)))


def eviction_message(pod: Obj, available_bytes: float, usage_bytes: float) -> str:
    """evictionMessage (helpers.go): the node line, the threshold line, and a line for each container using more
    than it requested; every sentence ends in ". ", the last one included."""
    message = (f"The node was low on resource: memory. Threshold quantity: {THRESHOLD_TEXT}, "
               f"available: {binary_quantity(available_bytes)}. ")
    container = pod["spec"]["containers"][0]
    request = memory_request(pod)
    if usage_bytes > request:
        request_text = container.get("resources", {}).get("requests", {}).get("memory", "0")
        message += (f"Container {container['name']} was using {binary_quantity(usage_bytes)}, request is "
                    f"{request_text}, has larger consumption of memory. ")
    return message


def binary_quantity(value: float) -> str:
    """A byte count as resource.NewQuantity(n, BinarySI).String() prints it: the largest binary suffix that
    divides it exactly. cAdvisor's byte counts are whole pages, so they print in Ki or above."""
    n = int(value) // 4096 * 4096
    for suffix, factor in (("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", MIB),
                           ("Ki", 1024)):
        if n and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)
