"""The ReplicaSet controller: keeps the number of live pods equal to `spec.replicas`."""

from __future__ import annotations

import copy
import random
from typing import Any

from sandbox.controllers.deployments import owned_by, owner_reference
from sandbox.controllers.pods import begin_pod_deletion, is_ready
from sandbox.events import EventRecorder
from sandbox.names import pod_suffix
from sandbox.store import Store

Obj = dict[str, Any]


def deletion_rank(pod: Obj) -> tuple[int, int, str]:
    """Which pods a scale-down removes first: unscheduled, then not ready, then the youngest (as kube does)."""
    return (bool(pod["spec"].get("nodeName")), is_ready(pod), _negated(pod["metadata"]["creationTimestamp"]))


def _negated(timestamp: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in timestamp)


class ReplicaSetController:
    def __init__(self, store: Store, events: EventRecorder, rng: random.Random) -> None:
        self.store, self.events, self.rng = store, events, rng

    def reconcile(self) -> None:
        for rs in list(self.store.objects("apps/replicasets")):
            self._reconcile(rs)

    def live_pods(self, rs: Obj) -> list[Obj]:
        return [p for p in self.store.objects("pods", rs["metadata"]["namespace"])
                if owned_by(p, rs) and "deletionTimestamp" not in p["metadata"]
                and p.get("status", {}).get("phase") not in ("Failed", "Succeeded")]  # as FilterActivePods

    def _reconcile(self, rs: Obj) -> None:
        pods = self.live_pods(rs)
        missing = rs["spec"].get("replicas", 0) - len(pods)
        for _ in range(missing):
            self._create_pod(rs)
        for pod in sorted(pods, key=deletion_rank)[: max(0, -missing)]:
            begin_pod_deletion(self.store, pod)
            self.events.emit(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                             "replicaset-controller")
        self._update_status(rs)

    def _create_pod(self, rs: Obj) -> None:
        template = copy.deepcopy(rs["spec"]["template"])
        meta = template.get("metadata", {})
        name = f"{rs['metadata']['name']}-{pod_suffix(self.rng)}"
        self.store.create("pods", {
            "metadata": {**meta, "name": name, "namespace": rs["metadata"]["namespace"],
                         "ownerReferences": [owner_reference(rs)]},
            "spec": {"terminationGracePeriodSeconds": 30, "restartPolicy": "Always", "schedulerName":
                     "default-scheduler", "dnsPolicy": "ClusterFirst", **template["spec"]},
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        })
        self.events.emit(rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", "replicaset-controller")

    def _update_status(self, rs: Obj) -> None:
        pods = self.live_pods(rs)
        ready = sum(is_ready(p) for p in pods)
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if rs.get("status") != status:
            self.store.mutate("apps/replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"],
                              lambda o: o.update(status=status))
