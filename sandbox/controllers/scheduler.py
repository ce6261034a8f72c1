"""The scheduler: binds pending pods to nodes, GPU pods to the least-allocated node's lowest free GPUs.

Nodes that are cordoned, not Ready, or tainted NoSchedule are skipped; when nothing fits the pod stays
Pending with a FailedScheduling event worded like the real scheduler's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sandbox.controllers.pods import GPU, gpu_request
from sandbox.events import EventRecorder
from sandbox.kubetime import now_rfc3339
from sandbox.names import pod_key
from sandbox.store import Store
from sandbox.world import Gpu, World

Obj = dict[str, Any]
UNRESOLVABLE = ("node(s) were unschedulable", "node(s) had untolerated taint", "node(s) were not ready")
PREEMPTION_FUTILE = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def node_ready(node: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def _tolerates(pod: Obj, taint: Obj) -> bool:
    return any(_matches(t, taint) for t in pod["spec"].get("tolerations", []))


def _matches(toleration: Obj, taint: Obj) -> bool:
    """A toleration covers a taint when the effect agrees (or is left out), and the key and value do; an
    `Exists` toleration without a key covers every key. So tolerating `unreachable:NoExecute` (staying on a
    node that went dark) does not let a pod be scheduled onto one (`unreachable:NoSchedule`)."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator") == "Exists":
        return toleration.get("key") in (None, "", taint["key"])
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", "")


def _histogram(reasons: Counter[str]) -> str:
    """`1 node(s) were unschedulable, 3 Insufficient nvidia.com/gpu`: sorted as strings, as kube does."""
    return ", ".join(sorted(f"{n} {r}" for r, n in reasons.items()))


class Scheduler:
    def __init__(self, store: Store, world: World, events: EventRecorder) -> None:
        self.store, self.world, self.events = store, world, events

    def schedule(self) -> None:
        for pod in list(self.store.objects("pods")):
            if not pod["spec"].get("nodeName") and "deletionTimestamp" not in pod["metadata"]:
                self._schedule(pod)

    def free_gpus(self, node: str) -> list[Gpu]:
        return [g for g in self.world.hosts[node].gpus if g.pod is None and not g.lost and not g.plugin_unhealthy]

    def _schedule(self, pod: Obj) -> None:
        nodes = list(self.store.objects("nodes"))
        reasons: Counter[str] = Counter()
        fits = []
        for node in nodes:
            reason = self._unfit(pod, node)
            if reason:
                reasons[reason] += 1
            else:
                fits.append(node)
        if not fits:
            self._unschedulable(pod, len(nodes), reasons)
            return
        self._bind(pod, min(fits, key=lambda n: self._score(pod, n)))

    def _unfit(self, pod: Obj, node: Obj) -> str | None:
        if node["spec"].get("unschedulable"):
            return "node(s) were unschedulable"
        for taint in node["spec"].get("taints", []):
            if taint["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(pod, taint):
                return f"node(s) had untolerated taint {{{taint['key']}: }}"
        if not node_ready(node):
            return "node(s) were not ready"
        if len(self.free_gpus(node["metadata"]["name"])) < gpu_request(pod):
            return f"Insufficient {GPU}"
        return None

    def _score(self, pod: Obj, node: Obj) -> tuple[int, int, str]:
        """Least allocated first for GPU pods; spread replicas of one app for the others; then by name."""
        name = node["metadata"]["name"]
        used = sum(g.pod is not None for g in self.world.hosts[name].gpus)
        app = pod["metadata"].get("labels", {}).get("app")
        same_app = sum(1 for p in self.store.objects("pods") if p["spec"].get("nodeName") == name
                       and p["metadata"].get("labels", {}).get("app") == app)
        return (used, same_app, name) if gpu_request(pod) else (same_app, used, name)

    def _bind(self, pod: Obj, node: Obj) -> None:
        node_name = node["metadata"]["name"]
        for gpu in self.free_gpus(node_name)[: gpu_request(pod)]:
            gpu.pod = pod_key(pod)
        host_ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        pod_ip = node["spec"]["podCIDR"].rsplit(".", 1)[0] + f".{self._next_ip_octet(node_name)}"

        def bind(o: Obj) -> None:
            o["spec"]["nodeName"] = node_name
            o["status"].update(hostIP=host_ip, hostIPs=[{"ip": host_ip}], podIP=pod_ip, podIPs=[{"ip": pod_ip}])
            o["status"]["conditions"] = [{"type": "PodScheduled", "status": "True",
                                          "lastTransitionTime": now_rfc3339()}]
        bound = self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], bind)
        self.events.emit(bound, "Normal", "Scheduled",
                         f"Successfully assigned {pod_key(pod)} to {node_name}", "default-scheduler")

    def _next_ip_octet(self, node: str) -> int:
        taken = {p["status"].get("podIP", "").rsplit(".", 1)[-1] for p in self.store.objects("pods")
                 if p["spec"].get("nodeName") == node}
        return next(i for i in range(2, 255) if str(i) not in taken)

    def _unschedulable(self, pod: Obj, total: int, reasons: Counter[str]) -> None:
        # Preemption could only free resources; it cannot help on a cordoned, tainted or unready node.
        preemption = Counter(PREEMPTION_FUTILE if r.startswith(UNRESOLVABLE) else NO_VICTIMS
                             for r in reasons.elements())
        message = (f"0/{total} nodes are available: {_histogram(reasons)}. preemption: 0/{total} nodes are "
                   f"available: {_histogram(preemption)}.")
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        if pod["status"].get("conditions", [{}])[0].get("message") != message:
            def mark(o: Obj) -> None:
                o["status"]["conditions"] = [{**condition, "lastTransitionTime": now_rfc3339()}]
            self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], mark)
            self.events.emit(pod, "Warning", "FailedScheduling", message, "default-scheduler")
