"""Node health, from both sides: each kubelet renews its Lease and reports conditions and healthy GPUs; the
node lifecycle controller marks a node whose Lease goes stale NotReady, taints it, and evicts its pods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.clock import Clock
from sandbox.controllers.pods import GPU, begin_pod_deletion
from sandbox.events import EventRecorder
from sandbox.kubetime import now_micro, now_rfc3339
from sandbox.store import Store
from sandbox.world import Host, World

Obj = dict[str, Any]
LEASE_RENEW_S, NODE_GRACE_S = 10.0, 40.0  # fleet seconds, the kubelet's and the controller's defaults
UNREACHABLE = {"key": "node.kubernetes.io/unreachable"}
MEMORY_PRESSURE = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
LEASE_NAMESPACE = "kube-node-lease"


class NodeHealth:
    def __init__(self, store: Store, world: World, clock: Clock, events: EventRecorder,
                 memory_pressure: Callable[[str], bool]) -> None:
        """`memory_pressure`: the node's eviction manager's verdict, which the kubelet reports as MemoryPressure."""
        self.store, self.world, self.clock, self.events = store, world, clock, events
        self.memory_pressure = memory_pressure
        self._renewed: dict[str, float] = {}
        self._observed: dict[str, tuple[str, float]] = {}  # node -> (renewTime seen, when we saw it change)
        self._unreachable_since: dict[str, float] = {}

    def sync(self) -> None:
        now = self.clock.now()
        for name, host in self.world.hosts.items():
            if host.reachable:
                self._kubelet_report(name, host, now)
            self._lifecycle(name, now)

    # -- the kubelet's side -------------------------------------------------------------------------------
    def _kubelet_report(self, name: str, host: Host, now: float) -> None:
        if now - self._renewed.get(name, -1e9) >= self.clock.wall(LEASE_RENEW_S):
            self._renewed[name] = now
            self.store.mutate("coordination.k8s.io/leases", LEASE_NAMESPACE, name,
                              lambda lease: lease["spec"].update(renewTime=now_micro()))
        node = self.store.find("nodes", None, name)
        if node is None:
            return
        # The kubelet's allocatable nvidia.com/gpu: the devices the device plugin reports healthy (ListAndWatch).
        healthy = str(sum(not g.plugin_unhealthy for g in host.gpus))
        pressure = self.memory_pressure(name)
        wanted = {"MemoryPressure": "True" if pressure else "False", "DiskPressure": "False", "PIDPressure": "False",
                  "Ready": "True"}  # in the order the kubelet reports them
        current = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        stale_taint = any(t["key"] == UNREACHABLE["key"] for t in node["spec"].get("taints", []))
        if current != wanted or node["status"]["allocatable"].get(GPU) != healthy or stale_taint:
            self.store.mutate("nodes", None, name, lambda o: _report(o, wanted, healthy))
            if current.get("Ready") != "True":
                self.events.emit(node, "Normal", "NodeReady", f"Node {name} status is now: NodeReady", "kubelet", name)
            if pressure and current.get("MemoryPressure") != "True":
                self.events.emit(node, "Normal", "NodeHasInsufficientMemory",
                                 f"Node {name} status is now: NodeHasInsufficientMemory", "kubelet", name)

    # -- the node lifecycle controller's side -------------------------------------------------------------
    def _lifecycle(self, name: str, now: float) -> None:
        lease = self.store.find("coordination.k8s.io/leases", LEASE_NAMESPACE, name)
        node = self.store.find("nodes", None, name)
        if lease is None or node is None:
            return
        # Like the real controller, judge staleness by when *we* saw the renewTime change, on our own clock.
        renew_time = lease["spec"]["renewTime"]
        if self._observed.get(name, ("", 0.0))[0] != renew_time:
            self._observed[name] = (renew_time, now)
        if now - self._observed[name][1] < self.clock.wall(NODE_GRACE_S):
            self._unreachable_since.pop(name, None)
            return
        if name not in self._unreachable_since:
            self._unreachable_since[name] = now
            self._mark_unknown(node)
        self._evict(name, now - self._unreachable_since[name])

    def _mark_unknown(self, node: Obj) -> None:
        name = node["metadata"]["name"]

        def unknown(o: Obj) -> None:
            for condition in o["status"]["conditions"]:
                condition.update(status="Unknown", reason="NodeStatusUnknown",
                                 message="Kubelet stopped posting node status.", lastTransitionTime=now_rfc3339())
            o["spec"]["taints"] = [*o["spec"].get("taints", []),
                                   {**UNREACHABLE, "effect": "NoSchedule", "timeAdded": now_rfc3339()},
                                   {**UNREACHABLE, "effect": "NoExecute", "timeAdded": now_rfc3339()}]
        self.store.mutate("nodes", None, name, unknown)
        self.events.emit(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                         "node-controller")
        for pod in list(self.store.objects("pods")):
            if pod["spec"].get("nodeName") == name:
                self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], _pod_not_ready)
                self.events.emit(pod, "Warning", "NodeNotReady", "Node is not ready", "node-controller")

    def _evict(self, name: str, unreachable_for: float) -> None:
        """Taint-based eviction: pods leave once their toleration of the unreachable taint runs out."""
        for pod in list(self.store.objects("pods")):
            if pod["spec"].get("nodeName") != name or "deletionTimestamp" in pod["metadata"]:
                continue
            tolerated = next((t.get("tolerationSeconds", 300) for t in pod["spec"].get("tolerations", [])
                              if t.get("key") == UNREACHABLE["key"]), 300)
            if unreachable_for >= self.clock.wall(tolerated):
                begin_pod_deletion(self.store, pod)
                self.events.emit(pod, "Normal", "TaintManagerEviction",
                                 f"Marking for deletion Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}",
                                 "taint-eviction-controller")


def _report(node: Obj, conditions: dict[str, str], healthy_gpus: str) -> None:
    messages = {"Ready": ("KubeletReady", "kubelet is posting ready status"),
                "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available")}
    old = {c["type"]: c for c in node["status"]["conditions"]}
    node["status"]["conditions"] = []
    for type_, status in conditions.items():
        reason, message = messages[type_]
        if type_ == "MemoryPressure" and status == "True":
            reason, message = "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"
        previous = old.get(type_, {})
        node["status"]["conditions"].append({
            "type": type_, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now_rfc3339(),
            "lastTransitionTime": previous["lastTransitionTime"] if previous.get("status") == status
            else now_rfc3339()})
    node["status"]["allocatable"][GPU] = healthy_gpus
    # A kubelet that reports again clears the unreachable taints; the memory-pressure one follows its condition
    # (TaintNodesByCondition), so no new pod lands on a node that is running out of memory.
    kept = [t for t in node["spec"].get("taints", []) if t["key"] not in (UNREACHABLE["key"], MEMORY_PRESSURE["key"])]
    if conditions["MemoryPressure"] == "True":
        kept.append(dict(MEMORY_PRESSURE))
    if kept:
        node["spec"]["taints"] = kept
    else:
        node["spec"].pop("taints", None)


def _pod_not_ready(pod: Obj) -> None:
    """As the node lifecycle controller's MarkPodsNotReady (kubernetes pkg/controller/util/node/controller_utils.go)
    does: only the PodReady condition turns False, its reason and message untouched; the containers keep
    `ready: true` and ContainersReady stays True, since nobody hears from the kubelet that would change them."""
    for condition in pod["status"].get("conditions", []):
        if condition["type"] == "Ready" and condition["status"] != "False":
            condition.update(status="False", lastTransitionTime=now_rfc3339())
