"""The deployment controller: Deployments own ReplicaSets; rolling updates, revisions and status as kube does.

Progress follows pkg/controller/deployment/progress.go: any gain in updated, ready or available replicas (or
fewer old ones) renews `Progressing=True ReplicaSetUpdated`; a rollout that gains nothing for
progressDeadlineSeconds turns `Progressing=False, ProgressDeadlineExceeded` ("ReplicaSet \"X\" has timed out
progressing."). The deadline is a fleet duration, so it runs on the sandbox clock.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from sandbox.clock import Clock
from sandbox.events import EventRecorder
from sandbox.kubetime import now_rfc3339
from sandbox.names import pod_template_hash
from sandbox.store import Store

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
# Annotations the controller never copies from a Deployment to its ReplicaSets (kubernetes
# pkg/controller/deployment/util/deployment_util.go, skipCopyAnnotation); the rest, change-cause included, go along.
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                         "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                         "deployment.kubernetes.io/max-replicas"})


def owned_by(obj: Obj, owner: Obj) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller")
               for ref in obj["metadata"].get("ownerReferences", []))


def owner_reference(owner: Obj) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def revision(rs: Obj) -> int:
    return int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))


def resolve_bound(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    """maxSurge / maxUnavailable: an integer, or a percentage of the desired replicas."""
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


NEW_RS_AVAILABLE, RS_UPDATED, NEW_RS_CREATED, TIMED_OUT = (
    "NewReplicaSetAvailable", "ReplicaSetUpdated", "NewReplicaSetCreated", "ProgressDeadlineExceeded")
_PROGRESS_FIELDS = ("updatedReplicas", "readyReplicas", "availableReplicas")


def progressed(old: Obj, new: Obj) -> bool:
    """deployment util DeploymentProgressing: more updated, ready or available replicas, or fewer old ones."""
    def olds(status: Obj) -> int:
        return int(status.get("replicas", 0)) - int(status.get("updatedReplicas", 0))
    return any(new.get(f, 0) > old.get(f, 0) for f in _PROGRESS_FIELDS) or olds(old) > olds(new)


class DeploymentController:
    def __init__(self, store: Store, events: EventRecorder, clock: Clock) -> None:
        self.store, self.events, self.clock = store, events, clock
        self._last_progress: dict[str, float] = {}  # deployment uid -> sandbox-clock time of its last progress
        self._created: set[str] = set()  # deployments whose new ReplicaSet this sync created

    def reconcile(self) -> None:
        for deployment in list(self.store.objects("apps/deployments")):
            self._reconcile(deployment)

    def _reconcile(self, dep: Obj) -> None:
        rss = [rs for rs in self.store.objects("apps/replicasets", dep["metadata"]["namespace"]) if owned_by(rs, dep)]
        new_rs = self._current_replicaset(dep, rss)
        olds = [rs for rs in rss if rs["metadata"]["name"] != new_rs["metadata"]["name"]]
        desired = dep["spec"].get("replicas", 1)
        if dep["spec"].get("strategy", {}).get("type") == "Recreate":
            self._recreate(dep, new_rs, olds, desired)
        elif not dep["spec"].get("paused"):
            self._roll(dep, new_rs, olds, desired)
        self._update_status(dep, new_rs, olds, desired)

    def _current_replicaset(self, dep: Obj, rss: list[Obj]) -> Obj:
        template_hash = pod_template_hash(dep["spec"]["template"])
        top = max((revision(rs) for rs in rss), default=0)
        for rs in rss:
            if rs["metadata"].get("labels", {}).get("pod-template-hash") == template_hash:
                if revision(rs) < top:  # a rollback: the old ReplicaSet becomes the newest revision again
                    rs = self.store.mutate("apps/replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"],
                                           lambda o: o["metadata"].setdefault("annotations", {}).update(
                                               {REVISION: str(top + 1)}))
                    self.events.emit(dep, "Normal", "DeploymentRollback",
                                     f"Rolled back deployment \"{dep['metadata']['name']}\" to revision {top + 1}",
                                     "deployment-controller")
                self._annotate_revision(dep, revision(rs))
                return rs
        return self._create_replicaset(dep, template_hash, top + 1, first=not rss)

    def _create_replicaset(self, dep: Obj, template_hash: str, rev: int, first: bool) -> Obj:
        name = f"{dep['metadata']['name']}-{template_hash}"
        template = copy.deepcopy(dep["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = template_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        desired = dep["spec"].get("replicas", 1)
        copied = {k: v for k, v in dep["metadata"].get("annotations", {}).items() if k not in _NOT_COPIED}
        rs = self.store.create("apps/replicasets", {
            "metadata": {"name": name, "namespace": dep["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {**copied, REVISION: str(rev),
                                         "deployment.kubernetes.io/desired-replicas": str(desired),
                                         "deployment.kubernetes.io/max-replicas": str(desired + 1)},
                         "ownerReferences": [owner_reference(dep)]},
            "spec": {"replicas": desired if first else 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        })
        if rs["spec"]["replicas"]:
            self.events.emit(dep, "Normal", "ScalingReplicaSet",
                             f"Scaled up replica set {name} from 0 to {rs['spec']['replicas']}",
                             "deployment-controller")
        self._annotate_revision(dep, rev)
        self._created.add(dep["metadata"]["uid"])
        return self.store.find("apps/replicasets", dep["metadata"]["namespace"], name) or rs

    def _annotate_revision(self, dep: Obj, rev: int) -> None:
        if dep["metadata"].get("annotations", {}).get(REVISION) != str(rev):
            self.store.mutate("apps/deployments", dep["metadata"]["namespace"], dep["metadata"]["name"],
                              lambda o: o["metadata"].setdefault("annotations", {}).update({REVISION: str(rev)}))

    def _roll(self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int) -> None:
        rolling = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
        surge = resolve_bound(rolling.get("maxSurge"), desired, "25%", round_up=True)
        unavailable = resolve_bound(rolling.get("maxUnavailable"), desired, "25%", round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        new_replicas = new_rs["spec"].get("replicas", 0)
        total = new_replicas + sum(rs["spec"].get("replicas", 0) for rs in olds)
        if new_replicas > desired or not olds:
            target = desired
        else:
            target = min(desired, new_replicas + max(0, desired + surge - total))
        self._scale(dep, new_rs, target)
        available = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in [new_rs, *olds])
        removable = max(0, available - (desired - unavailable))
        for rs in sorted(olds, key=revision):
            current = rs["spec"].get("replicas", 0)
            unhealthy = current - rs.get("status", {}).get("availableReplicas", 0)
            step = min(current, unhealthy + removable)
            if step:
                removable -= max(0, step - unhealthy)
                self._scale(dep, rs, current - step)

    def _recreate(self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int) -> None:
        """Scale every old ReplicaSet to 0 and start the new one only once no old pod is left, terminating ones
        included (pkg/controller/deployment/recreate.go, oldPodsRunning)."""
        for rs in olds:
            self._scale(dep, rs, 0)
        if not self._old_pods_running(olds):
            self._scale(dep, new_rs, desired)

    def _old_pods_running(self, olds: list[Obj]) -> bool:
        pods = self.store.objects("pods", olds[0]["metadata"]["namespace"]) if olds else []
        return any(owned_by(p, rs) and p.get("status", {}).get("phase") not in ("Failed", "Succeeded")
                   for p in pods for rs in olds)

    def _scale(self, dep: Obj | None, rs: Obj, replicas: int) -> None:
        current = rs["spec"].get("replicas", 0)
        if current == replicas:
            return
        def set_replicas(o: Obj) -> None:
            o["spec"]["replicas"] = replicas
            o["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
                dep["spec"].get("replicas", 1) if dep else replicas)
        self.store.mutate("apps/replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"], set_replicas)
        if dep:
            verb = "up" if replicas > current else "down"
            self.events.emit(dep, "Normal", "ScalingReplicaSet",
                             f"Scaled {verb} replica set {rs['metadata']['name']} from {current} to {replicas}",
                             "deployment-controller")

    def _update_status(self, dep: Obj, new_rs: Obj, olds: list[Obj], desired: int) -> None:
        def total(field: str, rss: list[Obj]) -> int:
            return sum(rs.get("status", {}).get(field, 0) for rs in rss)
        every = [new_rs, *olds]
        available = total("availableReplicas", every)
        updated = total("replicas", [new_rs])
        complete = updated == desired and total("replicas", every) == desired and available >= desired
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": total("replicas", every), "updatedReplicas": updated,
            "readyReplicas": total("readyReplicas", every), "availableReplicas": available,
        }
        if desired - available > 0:
            status["unavailableReplicas"] = desired - available
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas")}
        old_conditions = {c["type"]: c for c in dep.get("status", {}).get("conditions", [])}
        # Available once maxUnavailable is respected (deployment util MaxUnavailable: 0 under Recreate).
        enough = available >= desired - self._max_unavailable(dep, desired)
        conditions = [
            self._condition(old_conditions, "Available", enough,
                            "MinimumReplicasAvailable" if enough else "MinimumReplicasUnavailable",
                            "Deployment has minimum availability." if enough
                            else "Deployment does not have minimum availability."),
            self._progressing(dep, new_rs, status, complete),
        ]
        status["conditions"] = conditions
        if dep.get("status") != status:
            self.store.mutate("apps/deployments", dep["metadata"]["namespace"], dep["metadata"]["name"],
                              lambda o: o.update(status=status))

    @staticmethod
    def _max_unavailable(dep: Obj, desired: int) -> int:
        strategy = dep["spec"].get("strategy", {})
        if strategy.get("type") == "Recreate":
            return 0
        return resolve_bound(strategy.get("rollingUpdate", {}).get("maxUnavailable"), desired, "25%", False)

    def _progressing(self, dep: Obj, new_rs: Obj, status: Obj, complete: bool) -> Obj:
        """The Progressing condition as syncRolloutStatus sets it (progress.go)."""
        old_status = dep.get("status", {})
        previous = next((c for c in old_status.get("conditions", []) if c["type"] == "Progressing"), None)
        uid, name, now = dep["metadata"]["uid"], new_rs["metadata"]["name"], self.clock.now()
        if uid in self._created:  # getNewReplicaSet marks a rollout's start, ending any earlier completeness
            self._created.discard(uid)
            self._last_progress[uid] = now
            return self._renewed(previous, NEW_RS_CREATED, f'Created new replica set "{name}"')
        if previous and previous["reason"] == NEW_RS_AVAILABLE and status["replicas"] == status.get(
                "updatedReplicas", 0):
            return previous
        if complete:
            return self._condition({"Progressing": previous or {}}, "Progressing", True, NEW_RS_AVAILABLE,
                                   f'ReplicaSet "{name}" has successfully progressed.')
        started = self._last_progress.setdefault(uid, now)
        if progressed(old_status, status) or previous is None:
            self._last_progress[uid] = now
            return self._renewed(previous, RS_UPDATED, f'ReplicaSet "{name}" is progressing.')
        deadline = dep["spec"].get("progressDeadlineSeconds", 600)
        if previous["reason"] == TIMED_OUT or now - started >= self.clock.wall(deadline):
            return self._condition({"Progressing": previous}, "Progressing", False, TIMED_OUT,
                                   f'ReplicaSet "{name}" has timed out progressing.')
        return previous

    def _renewed(self, previous: Obj | None, reason: str, message: str) -> Obj:
        """Progressing=True with lastUpdateTime now: renewed on every sign of progress, unlike a transition."""
        condition = self._condition({"Progressing": previous or {}}, "Progressing", True, reason, message)
        condition["lastUpdateTime"] = now_rfc3339()
        return condition

    @staticmethod
    def _condition(old: dict[str, Obj], type_: str, ok: bool, reason: str, message: str) -> Obj:
        status = "True" if ok else "False"
        previous = old.get(type_, {})
        now = now_rfc3339()
        changed = previous.get("status") != status or previous.get("reason") != reason
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastUpdateTime": now if changed else previous.get("lastUpdateTime", now),
                "lastTransitionTime": now if previous.get("status") != status
                else previous.get("lastTransitionTime", now)}
