"""The kubernetes server's writes: scale, restart, roll back, delete a pod, cordon, uncordon and drain.

Idempotency lives in the cluster (`idempotency.py`), so it survives a restart of the server and holds across
replicas of it. Writes whose target disappears record the key on what stays: `delete_pod` on the pod's
Deployment (a replay finds it on any Deployment of the namespace once the pod is gone), `drain_node` on the
Node, in the patch that cordons it. A dry run goes to the API server with `dryRun=All`, so it is validated and
computed there, and neither applies nor records.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from kubernetes import client
from pydantic import Field

from mcp_servers.answers import WriteResult
from mcp_servers.errors import BackendError, NotFound, fail
from mcp_servers.kubernetes.client import Kube, Throttled, Unanswered
from mcp_servers.kubernetes.idempotency import (
    KEYS,
    Request,
    again_on_conflict,
    fingerprint,
    is_recorded,
    merge_diff,
    patch_once,
    recorded_keys,
    request,
    with_key,
)
from mcp_servers.kubernetes.objects import (
    CHANGE_CAUSE,
    REVISION,
    ApiObject,
    annotations_of,
    controller_of,
    selector_string,
)
from mcp_servers.kubernetes.views import ready_condition
from mcp_servers.toolkit import ToolSpec, held, writes

MERGE = "application/merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
NODE_CRITICAL = "system-node-critical"

Reason = Annotated[str, Field(description="why this is done; kept with the action for the audit trail")]
Key = Annotated[str, Field(min_length=1, max_length=256, description="a write with a key already applied is not "
                                                                     "applied again (also after a server restart)")]
DryRun = Annotated[bool, Field(description="validate and compute on the API server; apply nothing")]
Namespace = Annotated[str | None, Field(description="default: the configured namespace")]


def deployment_snapshot(dep: ApiObject) -> dict[str, Any]:
    """What a write's `before` and `after` show of a deployment."""
    status = dep.get("status") or {}
    template = dep["spec"]["template"]
    return {"replicas": dep["spec"].get("replicas", 1), "ready": status.get("readyReplicas", 0),
            "available": status.get("availableReplicas", 0),
            "revision": annotations_of(dep).get(REVISION),
            "images": [c.get("image") for c in template["spec"].get("containers") or []],
            "restarted_at": ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)}


def node_snapshot(node: ApiObject) -> dict[str, Any]:
    """What a write's `before` and `after` show of a node."""
    return {"cordoned": bool(node["spec"].get("unschedulable")), "ready": ready_condition(node).get("status")}


class Writes:
    """The write tools' bodies, on one cluster."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _read_deployment(self, name: str, ns: str) -> ApiObject:
        return self.kube.call(self.kube.apps.read_namespaced_deployment, name, ns,
                              missing=f"deployment {name} not found in namespace {ns}")

    def _send_deployment(self, name: str, ns: str) -> Callable[[ApiObject, str | None], ApiObject]:
        return lambda body, dry_run: self.kube.call(self.kube.apps.patch_namespaced_deployment, name, ns, body,
                                                    dry_run=dry_run, _content_type=MERGE)

    def _read_node(self, name: str) -> ApiObject:
        return self.kube.call(self.kube.core.read_node, name, missing=f"node {name} not found")

    def _send_node(self, name: str) -> Callable[[ApiObject, str | None], ApiObject]:
        return lambda body, dry_run: self.kube.call(self.kube.core.patch_node, name, body, dry_run=dry_run,
                                                    _content_type=MERGE)

    def deployment_write(self, req: Request, name: str, ns: str, change: Callable[[ApiObject], tuple[ApiObject, str]]
                         ) -> WriteResult:
        return patch_once(req, lambda: self._read_deployment(name, ns), deployment_snapshot, change,
                          self._send_deployment(name, ns))

    def scale(self, req: Request, name: str, ns: str, replicas: int) -> WriteResult:
        maximum = self.kube.settings.max_replicas
        if not 0 <= replicas <= maximum:
            raise fail("bad_input", f"replicas must be 0..{maximum}")

        def change(dep: ApiObject) -> tuple[ApiObject, str]:
            return {"spec": {"replicas": replicas}}, (
                f"scaled {name} from {dep['spec'].get('replicas', 1)} to {replicas}")
        return self.deployment_write(req, name, ns, change)

    def restart(self, req: Request, name: str, ns: str) -> WriteResult:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        return self.deployment_write(req, name, ns, lambda _: (patch, f"restarted {name} (rolling, {now})"))

    def rollback(self, req: Request, name: str, ns: str, to_revision: int | None) -> WriteResult:
        def change(dep: ApiObject) -> tuple[ApiObject, str]:
            rs = self._revision_to_restore(dep, to_revision)
            template = copy.deepcopy(rs["spec"]["template"])
            template.setdefault("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
            cause = (annotations_of(rs).get(CHANGE_CAUSE)
                     or (template["metadata"].get("annotations") or {}).get(CHANGE_CAUSE))
            revision = annotations_of(rs).get(REVISION)
            patch = {"metadata": {"annotations": {CHANGE_CAUSE: cause}},
                     "spec": {"template": merge_diff(dep["spec"]["template"], template)}}
            return patch, f"rolled {name} back to revision {revision} ({rs['metadata']['name']})"
        return self.deployment_write(req, name, ns, change)

    def _revision_to_restore(self, dep: ApiObject, to_revision: int | None) -> ApiObject:
        """Like `kubectl rollout undo`: the given revision, or the newest one before the current."""
        name, ns = dep["metadata"]["name"], dep["metadata"]["namespace"]
        items = self.kube.call(self.kube.apps.list_namespaced_replica_set, ns,
                               label_selector=selector_string(dep["spec"].get("selector")))["items"]
        by_revision = {int(annotations_of(rs).get(REVISION, "0")): rs for rs in items
                       if (controller_of(rs) or {}).get("uid") == dep["metadata"]["uid"]}
        current = int(annotations_of(dep).get(REVISION, "0"))
        known = ", ".join(str(r) for r in sorted(by_revision)) or "none"
        if to_revision is None:
            older = [r for r in by_revision if r < current]
            if not older:
                raise fail("conflict",
                           f"deployment {name} has no previous revision to roll back to (revisions: {known})")
            return by_revision[max(older)]
        if to_revision == current:
            raise fail("conflict", f"deployment {name} is already at revision {current}")
        if to_revision not in by_revision:
            raise fail("not_found", f"deployment {name} has no revision {to_revision} (revisions: {known})")
        return by_revision[to_revision]

    def cordon(self, req: Request, name: str, cordon: bool) -> WriteResult:
        def change(node: ApiObject) -> tuple[ApiObject, str]:
            verb = "cordoned" if cordon else "uncordoned"
            already = bool(node["spec"].get("unschedulable")) == cordon
            return {"spec": {"unschedulable": True if cordon else None}}, (
                f"{name} was already {verb}" if already else f"{verb} {name}")
        return patch_once(req, lambda: self._read_node(name), node_snapshot, change, self._send_node(name))

    def delete_pod(self, req: Request, name: str, ns: str, grace_period_s: int | None) -> WriteResult:
        try:
            pod = self.kube.call(self.kube.core.read_namespaced_pod, name, ns,
                                 missing=f"pod {name} not found in namespace {ns}")
        except NotFound:
            if self._key_on_any_deployment(ns, req.key):
                return req.replay({"pod": name, "exists": False})
            raise
        dep = self._read_deployment(self._deployment_of(pod), ns)
        before = _pod_snapshot(pod)
        if is_recorded(dep, req.key):
            return req.replay(before)
        if not req.dry_run:
            self._record_on_deployment(dep, req.key)
        try:
            deleted = self.kube.call(self.kube.core.delete_namespaced_pod, name, ns,
                                     grace_period_seconds=grace_period_s, dry_run="All" if req.dry_run else None,
                                     missing=f"pod {name} not found in namespace {ns}")
        except Unanswered:
            raise  # the delete may have been done: the key stays
        except BackendError:
            if not req.dry_run:
                with contextlib.suppress(BackendError):  # the delete's own error is the one to report
                    self._forget_on_deployment(dep["metadata"]["name"], ns, req.key)
            raise
        after = _pod_snapshot(deleted) if req.dry_run else self._pod_now(name, ns)
        return req.result(before, after, f"deleted pod {name}; deployment {dep['metadata']['name']} replaces it")

    def _pod_now(self, name: str, ns: str) -> dict[str, Any]:
        try:
            return _pod_snapshot(self.kube.call(self.kube.core.read_namespaced_pod, name, ns, missing="gone"))
        except NotFound:
            return {"pod": name, "exists": False}

    def _deployment_of(self, pod: ApiObject) -> str:
        """delete_pod deletes only what comes back: a pod of a Deployment (through its ReplicaSet)."""
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        ref = controller_of(pod)
        if ref is not None and ref.get("kind") == "ReplicaSet":
            rs = self.kube.call(self.kube.apps.read_namespaced_replica_set, ref["name"], ns)
            top = controller_of(rs)
            if top is not None and top.get("kind") == "Deployment":
                return str(top["name"])
        owner = f"{ref['kind']} {ref['name']}" if ref else "nothing"
        raise fail("bad_input",
                   f"pod {name} is not managed by a Deployment (its controller: {owner}); delete_pod only deletes "
                   "pods that a Deployment replaces")

    def _key_on_any_deployment(self, ns: str, key: str) -> bool:
        deployments = self.kube.call(self.kube.apps.list_namespaced_deployment, ns)["items"]
        return any(is_recorded(dep, key) for dep in deployments)

    def _record_on_deployment(self, dep: ApiObject, key: str) -> None:
        name, ns = dep["metadata"]["name"], dep["metadata"]["namespace"]
        # the copy in hand first, then a fresh read for each try after a conflict
        copies = itertools.chain([dep], iter(lambda: self._read_deployment(name, ns), None))

        @again_on_conflict
        def attempt() -> None:
            self._send_deployment(name, ns)(with_key(next(copies), key), None)
        attempt()

    def _forget_on_deployment(self, name: str, ns: str, key: str) -> None:
        """The delete failed: the key must not claim it was done, so a retry with it can still act."""
        dep = self._read_deployment(name, ns)
        keys = [k for k in recorded_keys(dep) if k != fingerprint(key)]
        self._send_deployment(name, ns)({"metadata": {"annotations": {KEYS: json.dumps(keys)}}}, None)

    def drain(self, req: Request, name: str, ignore_daemonsets: bool, grace_period_s: int | None) -> WriteResult:
        node = self._read_node(name)
        pods = self.kube.list_all(self.kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={name}")
        before = {**node_snapshot(node), "pods": len(pods["items"])}
        if is_recorded(node, req.key):
            return req.replay(before)
        to_evict, skipped, daemons = _drain_plan(pods["items"])
        if daemons and not ignore_daemonsets:
            raise fail("conflict",
                       f"{name} runs node daemons ({', '.join(daemons)}): drain with ignore_daemonsets=true; "
                       "they are not evicted, they belong to the node")
        cordoned = self.cordon(req, name, cordon=True)
        if cordoned.replayed:  # a concurrent call with this key got there first
            return req.replay(before)
        evicted, blocked = self._evict(to_evict, grace_period_s, req.dry_run)
        after = {**cordoned.after, "evicted": evicted, "blocked_by_pdb": blocked, "skipped": skipped}
        message = (f"cordoned {name}; evicted {len(evicted)} pods, {len(blocked)} blocked by a PodDisruptionBudget, "
                   f"skipped {len(skipped)}")
        if blocked:
            message += "; drain again with a new idempotency_key once the replacements are ready"
        return req.result(before, after, message)

    def _evict(self, pods: list[ApiObject], grace_period_s: int | None, dry_run: bool
               ) -> tuple[list[str], list[dict[str, str]]]:
        evicted: list[str] = []
        blocked: list[dict[str, str]] = []
        for pod in pods:
            name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns),
                                     delete_options=client.V1DeleteOptions(grace_period_seconds=grace_period_s))
            try:
                self.kube.call(self.kube.core.create_namespaced_pod_eviction, name, ns, body,
                               dry_run="All" if dry_run else None)
            except NotFound:
                continue  # gone on its own meanwhile: nothing left to evict
            except Throttled as refusal:
                blocked.append({"pod": f"{ns}/{name}", "why": str(refusal)})
                continue
            evicted.append(f"{ns}/{name}")
        return evicted, blocked


def _pod_snapshot(pod: ApiObject) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {"pod": pod["metadata"]["name"], "exists": True, "phase": (pod.get("status") or {}).get("phase"),
            "terminating": bool(pod["metadata"].get("deletionTimestamp")), "node": pod["spec"].get("nodeName"),
            "restarts": sum(int(c.get("restartCount", 0)) for c in statuses)}


def _drain_plan(pods: list[ApiObject]) -> tuple[list[ApiObject], list[dict[str, str]], list[str]]:
    """Which pods a drain evicts, why the others stay, and which of those are node daemons.

    Node daemons stay: pods a DaemonSet owns, and controller-less pods of priority class system-node-critical
    (node agents such as the GPU operator's device plugin and DCGM exporter, whichever way they were installed);
    evicting them would only blind or break the node. Mirror (static) pods and pods already terminating stay,
    and so do pods no controller manages, which nothing would recreate (kubectl drain refuses them without
    --force; here they are reported and left for a person).
    """
    to_evict: list[ApiObject] = []
    skipped: list[dict[str, str]] = []
    daemons: list[str] = []
    for pod in pods:
        meta, ref = pod["metadata"], controller_of(pod)
        label = f"{meta['namespace']}/{meta['name']}"
        if (ref or {}).get("kind") == "DaemonSet" or (
                ref is None and pod["spec"].get("priorityClassName") == NODE_CRITICAL):
            skipped.append({"pod": label, "why": "node daemon (DaemonSet or system-node-critical)"})
            daemons.append(label)
        elif "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            skipped.append({"pod": label, "why": "mirror pod of a static pod"})
        elif meta.get("deletionTimestamp"):
            skipped.append({"pod": label, "why": "already terminating"})
        elif ref is None:
            skipped.append({"pod": label, "why": "not managed by a controller: nothing would recreate it"})
        else:
            to_evict.append(pod)
    return to_evict, skipped, daemons


def scale_deployment(deployment: str, replicas: int, reason: Reason, idempotency_key: Key,
                     namespace: Namespace = None, dry_run: DryRun = False, kube: Kube = held(Kube)) -> WriteResult:
    """Sets a deployment's replica count (0..max_replicas of the settings)."""
    ns = namespace or kube.settings.namespace
    req = request("scale_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
    return Writes(kube).scale(req, deployment, ns, replicas)


def restart_deployment(deployment: str, reason: Reason, idempotency_key: Key, namespace: Namespace = None,
                       dry_run: DryRun = False, kube: Kube = held(Kube)) -> WriteResult:
    """A rolling restart as `kubectl rollout restart` does it: a new restartedAt annotation on the template."""
    req = request("restart_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
    return Writes(kube).restart(req, deployment, namespace or kube.settings.namespace)


def rollback_deployment(deployment: str, reason: Reason, idempotency_key: Key,
                        to_revision: Annotated[int | None, Field(ge=1)] = None, namespace: Namespace = None,
                        dry_run: DryRun = False, kube: Kube = held(Kube)) -> WriteResult:
    """Like `kubectl rollout undo`: restores the pod template of the previous revision, or of `to_revision`."""
    req = request("rollback_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
    return Writes(kube).rollback(req, deployment, namespace or kube.settings.namespace, to_revision)


def delete_pod(pod: str, reason: Reason, idempotency_key: Key, namespace: Namespace = None,
               grace_period_s: Annotated[int | None, Field(ge=0)] = None,
               dry_run: DryRun = False, kube: Kube = held(Kube)) -> WriteResult:
    """Deletes a Deployment's pod so that it is replaced (a fresh start, possibly on another node).

    The key is recorded on the pod's Deployment; pods no Deployment manages are refused.
    """
    req = request("delete_pod", f"pod/{pod}", reason, idempotency_key, dry_run)
    return Writes(kube).delete_pod(req, pod, namespace or kube.settings.namespace, grace_period_s)


def cordon_node(node: str, reason: Reason, idempotency_key: Key, dry_run: DryRun = False,
                kube: Kube = held(Kube)) -> WriteResult:
    """Marks a node unschedulable: its pods keep running, new pods go elsewhere."""
    return Writes(kube).cordon(request("cordon_node", f"node/{node}", reason, idempotency_key, dry_run), node, True)


def uncordon_node(node: str, reason: Reason, idempotency_key: Key, dry_run: DryRun = False,
                  kube: Kube = held(Kube)) -> WriteResult:
    """Makes a node schedulable again."""
    req = request("uncordon_node", f"node/{node}", reason, idempotency_key, dry_run)
    return Writes(kube).cordon(req, node, False)


def drain_node(node: str, reason: Reason, idempotency_key: Key, ignore_daemonsets: bool = True,
               grace_period_s: Annotated[int | None, Field(ge=0)] = None,
               dry_run: DryRun = False, kube: Kube = held(Kube)) -> WriteResult:
    """Cordons a node, then evicts its pods through the Eviction API, so PodDisruptionBudgets are respected.

    One pass, no waiting: the answer lists evicted pods, pods a PDB blocked, and skipped pods (node daemons,
    mirror pods, terminating pods, pods no controller manages). The key is recorded on the Node.
    """
    req = request("drain_node", f"node/{node}", reason, idempotency_key, dry_run)
    return Writes(kube).drain(req, node, ignore_daemonsets, grace_period_s)


WRITES: tuple[ToolSpec, ...] = (
    writes(scale_deployment, "Scale a deployment", destructive=True, idempotent=True),
    writes(restart_deployment, "Restart a deployment", destructive=True, idempotent=False),
    writes(rollback_deployment, "Roll back a deployment", destructive=True, idempotent=False),
    writes(delete_pod, "Delete a pod", destructive=True, idempotent=True),
    writes(cordon_node, "Cordon a node", destructive=False, idempotent=True),
    writes(uncordon_node, "Uncordon a node", destructive=False, idempotent=True),
    writes(drain_node, "Drain a node", destructive=True, idempotent=True),
)
