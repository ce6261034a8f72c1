"""The kubernetes server's writes: scale, restart, roll back, delete a pod, cordon, uncordon and drain.

Idempotency lives in the cluster, so it survives a restart of the server and holds across replicas of it: the
SHA-256 prefix of each applied `idempotency_key` is kept in the annotation `firebreak.io/idempotency-keys` (the
newest 20) of the object the write changes, written in the same merge patch as the change, with the object's
resourceVersion so that two concurrent calls cannot both apply. A key found there means the write was done:
the call answers `replayed=true` with the current state and changes nothing. Writes whose target disappears
record the key on what stays: `delete_pod` on the pod's Deployment (a replay finds it on any Deployment of the
namespace once the pod is gone), `drain_node` on the Node, in the patch that cordons it. A dry run goes to
the API server with `dryRun=All`, so it is validated and computed there, and neither applies nor records.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastmcp import FastMCP
from kubernetes import client
from pydantic import Field

from mcp_servers.errors import ToolFailure, fail
from mcp_servers.kube_client import Kube, KubeRefusal, Obj, controller_of, selector_string
from mcp_servers.toolkit import WriteResult, write_tool

KEYS = "firebreak.io/idempotency-keys"
MAX_KEYS = 20
CONFLICT_RETRIES = 4
MERGE = "application/merge-patch+json"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
NODE_CRITICAL = "system-node-critical"

Reason = Annotated[str, Field(description="why this is done; kept with the action for the audit trail")]
Key = Annotated[str, Field(min_length=1, max_length=256, description="a write with a key already applied is not "
                                                                     "applied again (also after a server restart)")]
DryRun = Annotated[bool, Field(description="validate and compute on the API server; apply nothing")]
Namespace = Annotated[str | None, Field(description="default: the configured namespace")]


@dataclass(frozen=True)
class Request:
    action: str
    target: str
    reason: str
    key: str
    dry_run: bool

    def result(self, before: dict[str, Any], after: dict[str, Any], message: str, replayed: bool = False
               ) -> WriteResult:
        prefix = "dry run, nothing applied: would have " if self.dry_run and not replayed else ""
        return WriteResult(action=self.action, target=self.target, dry_run=self.dry_run, reason=self.reason,
                           idempotency_key=self.key, replayed=replayed, before=before, after=after,
                           message=prefix + message)

    def replay(self, state: dict[str, Any]) -> WriteResult:
        return self.result(state, state, f"idempotency key already applied to {self.target}: nothing done",
                           replayed=True)


def _request(action: str, target: str, reason: str, key: str, dry_run: bool) -> Request:
    if not reason.strip():
        raise fail("bad_input", "reason must not be empty: say why, it goes into the audit trail")
    if not key.strip():
        raise fail("bad_input", "idempotency_key must not be empty")
    return Request(action, target, reason.strip(), key, dry_run)


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def recorded_keys(obj: Obj) -> list[str]:
    raw = (obj["metadata"].get("annotations") or {}).get(KEYS)
    try:
        keys = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(k) for k in keys] if isinstance(keys, list) else []


def is_recorded(obj: Obj, key: str) -> bool:
    return fingerprint(key) in recorded_keys(obj)


def _with_key(obj: Obj, key: str) -> Obj:
    """The metadata part of a merge patch that records the key, guarded by the resourceVersion read."""
    keys = [*recorded_keys(obj), fingerprint(key)][-MAX_KEYS:]
    return {"metadata": {"resourceVersion": obj["metadata"].get("resourceVersion"),
                         "annotations": {KEYS: json.dumps(keys, separators=(",", ":"))}}}


def _merged(base: Obj, extra: Obj) -> Obj:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def merge_diff(current: Any, target: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `current` into `target`: removed keys become null."""
    if not isinstance(current, dict) or not isinstance(target, dict):
        return target
    diff: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        if key not in current:
            diff[key] = value
        elif current[key] != value:
            diff[key] = merge_diff(current[key], value)
    return diff


def patch_once(req: Request, read: Callable[[], Obj], state: Callable[[Obj], dict[str, Any]],
               change: Callable[[Obj], tuple[Obj, str]], send: Callable[[Obj, str | None], Obj]) -> WriteResult:
    """Reads, replays a recorded key, or sends the change and the key in one guarded patch (re-read on conflict)."""
    conflicts = 0
    while True:
        current = read()
        if is_recorded(current, req.key):
            return req.replay(state(current))
        patch, message = change(current)
        try:
            after = send(_merged(patch, _with_key(current, req.key)), "All" if req.dry_run else None)
        except KubeRefusal as refusal:
            conflicts += 1
            if refusal.status != 409 or conflicts == CONFLICT_RETRIES:
                raise
            continue  # the object moved on (a controller's status update): decide again on the fresh copy
        return req.result(state(current), state(after), message)


def deployment_state(dep: Obj) -> dict[str, Any]:
    status = dep.get("status") or {}
    template = dep["spec"]["template"]
    return {"replicas": dep["spec"].get("replicas", 1), "ready": status.get("readyReplicas", 0),
            "available": status.get("availableReplicas", 0),
            "revision": (dep["metadata"].get("annotations") or {}).get(REVISION),
            "images": [c.get("image") for c in template["spec"].get("containers") or []],
            "restarted_at": ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)}


def node_state(node: Obj) -> dict[str, Any]:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), "Unknown")
    return {"cordoned": bool(node["spec"].get("unschedulable")), "ready": ready}


class Writes:
    """The write tools' bodies, on one cluster."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def ns(self, namespace: str | None) -> str:
        return namespace or self.kube.settings.namespace

    def _read_deployment(self, name: str, ns: str) -> Obj:
        return self.kube.call(self.kube.apps.read_namespaced_deployment, name, ns,
                              missing=f"deployment {name} not found in namespace {ns}")

    def _send_deployment(self, name: str, ns: str) -> Callable[[Obj, str | None], Obj]:
        return lambda body, dry_run: self.kube.call(self.kube.apps.patch_namespaced_deployment, name, ns, body,
                                                    dry_run=dry_run, _content_type=MERGE)

    def _read_node(self, name: str) -> Obj:
        return self.kube.call(self.kube.core.read_node, name, missing=f"node {name} not found")

    def _send_node(self, name: str) -> Callable[[Obj, str | None], Obj]:
        return lambda body, dry_run: self.kube.call(self.kube.core.patch_node, name, body, dry_run=dry_run,
                                                    _content_type=MERGE)

    def deployment_write(self, req: Request, name: str, ns: str, change: Callable[[Obj], tuple[Obj, str]]
                         ) -> WriteResult:
        return patch_once(req, lambda: self._read_deployment(name, ns), deployment_state, change,
                          self._send_deployment(name, ns))

    def scale(self, req: Request, name: str, ns: str, replicas: int) -> WriteResult:
        maximum = self.kube.settings.max_replicas
        if not 0 <= replicas <= maximum:
            raise fail("bad_input", f"replicas must be 0..{maximum}")

        def change(dep: Obj) -> tuple[Obj, str]:
            return {"spec": {"replicas": replicas}}, (
                f"scaled {name} from {dep['spec'].get('replicas', 1)} to {replicas}")
        return self.deployment_write(req, name, ns, change)

    def restart(self, req: Request, name: str, ns: str) -> WriteResult:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        return self.deployment_write(req, name, ns, lambda _: (patch, f"restarted {name} (rolling, {now})"))

    def rollback(self, req: Request, name: str, ns: str, to_revision: int | None) -> WriteResult:
        def change(dep: Obj) -> tuple[Obj, str]:
            rs = self._revision_to_restore(dep, to_revision)
            template = copy.deepcopy(rs["spec"]["template"])
            template.setdefault("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
            cause = ((rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
                     or (template["metadata"].get("annotations") or {}).get(CHANGE_CAUSE))
            revision = (rs["metadata"].get("annotations") or {}).get(REVISION)
            patch = {"metadata": {"annotations": {CHANGE_CAUSE: cause}},
                     "spec": {"template": merge_diff(dep["spec"]["template"], template)}}
            return patch, f"rolled {name} back to revision {revision} ({rs['metadata']['name']})"
        return self.deployment_write(req, name, ns, change)

    def _revision_to_restore(self, dep: Obj, to_revision: int | None) -> Obj:
        """Like `kubectl rollout undo`: the given revision, or the newest one before the current."""
        name, ns = dep["metadata"]["name"], dep["metadata"]["namespace"]
        items = self.kube.call(self.kube.apps.list_namespaced_replica_set, ns,
                               label_selector=selector_string(dep["spec"].get("selector")))["items"]
        by_revision = {int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")): rs for rs in items
                       if (controller_of(rs) or {}).get("uid") == dep["metadata"]["uid"]}
        current = int((dep["metadata"].get("annotations") or {}).get(REVISION, "0"))
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
        def change(node: Obj) -> tuple[Obj, str]:
            verb = "cordoned" if cordon else "uncordoned"
            already = bool(node["spec"].get("unschedulable")) == cordon
            return {"spec": {"unschedulable": True if cordon else None}}, (
                f"{name} was already {verb}" if already else f"{verb} {name}")
        return patch_once(req, lambda: self._read_node(name), node_state, change, self._send_node(name))

    def delete_pod(self, req: Request, name: str, ns: str, grace_period_s: int | None) -> WriteResult:
        try:
            pod = self.kube.call(self.kube.core.read_namespaced_pod, name, ns,
                                 missing=f"pod {name} not found in namespace {ns}")
        except KubeRefusal as refusal:
            if refusal.status == 404 and self._key_on_any_deployment(ns, req.key):
                return req.replay({"pod": name, "exists": False})
            raise
        dep = self._read_deployment(self._deployment_of(pod), ns)
        before = _pod_state(pod)
        if is_recorded(dep, req.key):
            return req.replay(before)
        if not req.dry_run:
            self._record_on_deployment(dep, req.key)
        try:
            deleted = self.kube.call(self.kube.core.delete_namespaced_pod, name, ns,
                                     grace_period_seconds=grace_period_s, dry_run="All" if req.dry_run else None,
                                     missing=f"pod {name} not found in namespace {ns}")
        except KubeRefusal:
            if not req.dry_run:
                with contextlib.suppress(ToolFailure):  # the delete's own error is the one to report
                    self._forget_on_deployment(dep["metadata"]["name"], ns, req.key)
            raise
        after = _pod_state(deleted) if req.dry_run else self._pod_now(name, ns)
        return req.result(before, after, f"deleted pod {name}; deployment {dep['metadata']['name']} replaces it")

    def _pod_now(self, name: str, ns: str) -> dict[str, Any]:
        try:
            return _pod_state(self.kube.call(self.kube.core.read_namespaced_pod, name, ns, missing="gone"))
        except KubeRefusal as refusal:
            if refusal.status == 404:
                return {"pod": name, "exists": False}
            raise

    def _deployment_of(self, pod: Obj) -> str:
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

    def _record_on_deployment(self, dep: Obj, key: str) -> None:
        name, ns = dep["metadata"]["name"], dep["metadata"]["namespace"]
        conflicts = 0
        while True:
            try:
                self._send_deployment(name, ns)(_with_key(dep, key), None)
                return
            except KubeRefusal as refusal:
                conflicts += 1
                if refusal.status != 409 or conflicts == CONFLICT_RETRIES:
                    raise
            dep = self._read_deployment(name, ns)

    def _forget_on_deployment(self, name: str, ns: str, key: str) -> None:
        """The delete failed: the key must not claim it was done, so a retry with it can still act."""
        dep = self._read_deployment(name, ns)
        keys = [k for k in recorded_keys(dep) if k != fingerprint(key)]
        self._send_deployment(name, ns)({"metadata": {"annotations": {KEYS: json.dumps(keys)}}}, None)

    def drain(self, req: Request, name: str, ignore_daemonsets: bool, grace_period_s: int | None) -> WriteResult:
        node = self._read_node(name)
        pods = self.kube.list_all(self.kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={name}")
        before = {**node_state(node), "pods": len(pods["items"])}
        if is_recorded(node, req.key):
            return req.replay(before)
        to_evict, skipped = _drain_plan(pods["items"])
        daemons = [s["pod"] for s in skipped if s["why"].startswith("node daemon")]
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

    def _evict(self, pods: list[Obj], grace_period_s: int | None, dry_run: bool
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
            except KubeRefusal as refusal:
                if refusal.status == 404:
                    continue  # gone on its own meanwhile: nothing left to evict
                if refusal.status != 429:
                    raise
                blocked.append({"pod": f"{ns}/{name}", "why": refusal.message})
                continue
            evicted.append(f"{ns}/{name}")
        return evicted, blocked


def _pod_state(pod: Obj) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {"pod": pod["metadata"]["name"], "exists": True, "phase": (pod.get("status") or {}).get("phase"),
            "terminating": bool(pod["metadata"].get("deletionTimestamp")), "node": pod["spec"].get("nodeName"),
            "restarts": sum(int(c.get("restartCount", 0)) for c in statuses)}


def _drain_plan(pods: list[Obj]) -> tuple[list[Obj], list[dict[str, str]]]:
    """Which pods a drain evicts, and why the others stay.

    Node daemons stay: pods a DaemonSet owns, and controller-less pods of priority class system-node-critical
    (node agents such as the GPU operator's device plugin and DCGM exporter, whichever way they were installed);
    evicting them would only blind or break the node. Mirror (static) pods and pods already terminating stay,
    and so do pods no controller manages, which nothing would recreate (kubectl drain refuses them without
    --force; here they are reported and left for a person).
    """
    to_evict: list[Obj] = []
    skipped: list[dict[str, str]] = []
    for pod in pods:
        meta, ref = pod["metadata"], controller_of(pod)
        label = f"{meta['namespace']}/{meta['name']}"
        if (ref or {}).get("kind") == "DaemonSet" or (
                ref is None and pod["spec"].get("priorityClassName") == NODE_CRITICAL):
            skipped.append({"pod": label, "why": "node daemon (DaemonSet or system-node-critical)"})
        elif "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            skipped.append({"pod": label, "why": "mirror pod of a static pod"})
        elif meta.get("deletionTimestamp"):
            skipped.append({"pod": label, "why": "already terminating"})
        elif ref is None:
            skipped.append({"pod": label, "why": "not managed by a controller: nothing would recreate it"})
        else:
            to_evict.append(pod)
    return to_evict, skipped


def register(mcp: FastMCP, kube: Kube) -> None:
    writes = Writes(kube)

    @write_tool(mcp, "Scale a deployment", destructive=True, idempotent=True)
    def scale_deployment(deployment: str, replicas: int, reason: Reason, idempotency_key: Key,
                         namespace: Namespace = None, dry_run: DryRun = False) -> WriteResult:
        """Sets a deployment's replica count (0..max_replicas of the settings)."""
        ns = writes.ns(namespace)
        req = _request("scale_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
        return writes.scale(req, deployment, ns, replicas)

    @write_tool(mcp, "Restart a deployment", destructive=True, idempotent=False)
    def restart_deployment(deployment: str, reason: Reason, idempotency_key: Key, namespace: Namespace = None,
                           dry_run: DryRun = False) -> WriteResult:
        """A rolling restart as `kubectl rollout restart` does it: a new restartedAt annotation on the template."""
        req = _request("restart_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
        return writes.restart(req, deployment, writes.ns(namespace))

    @write_tool(mcp, "Roll back a deployment", destructive=True, idempotent=False)
    def rollback_deployment(deployment: str, reason: Reason, idempotency_key: Key,
                            to_revision: Annotated[int | None, Field(ge=1)] = None, namespace: Namespace = None,
                            dry_run: DryRun = False) -> WriteResult:
        """Like `kubectl rollout undo`: restores the pod template of the previous revision, or of `to_revision`."""
        req = _request("rollback_deployment", f"deployment/{deployment}", reason, idempotency_key, dry_run)
        return writes.rollback(req, deployment, writes.ns(namespace), to_revision)

    @write_tool(mcp, "Delete a pod", destructive=True, idempotent=True)
    def delete_pod(pod: str, reason: Reason, idempotency_key: Key, namespace: Namespace = None,
                   grace_period_s: Annotated[int | None, Field(ge=0)] = None,
                   dry_run: DryRun = False) -> WriteResult:
        """Deletes a Deployment's pod so that it is replaced (a fresh start, possibly on another node).

        The key is recorded on the pod's Deployment; pods no Deployment manages are refused.
        """
        req = _request("delete_pod", f"pod/{pod}", reason, idempotency_key, dry_run)
        return writes.delete_pod(req, pod, writes.ns(namespace), grace_period_s)

    @write_tool(mcp, "Cordon a node", destructive=False, idempotent=True)
    def cordon_node(node: str, reason: Reason, idempotency_key: Key, dry_run: DryRun = False) -> WriteResult:
        """Marks a node unschedulable: its pods keep running, new pods go elsewhere."""
        return writes.cordon(_request("cordon_node", f"node/{node}", reason, idempotency_key, dry_run), node, True)

    @write_tool(mcp, "Uncordon a node", destructive=False, idempotent=True)
    def uncordon_node(node: str, reason: Reason, idempotency_key: Key, dry_run: DryRun = False) -> WriteResult:
        """Makes a node schedulable again."""
        req = _request("uncordon_node", f"node/{node}", reason, idempotency_key, dry_run)
        return writes.cordon(req, node, False)

    @write_tool(mcp, "Drain a node", destructive=True, idempotent=True)
    def drain_node(node: str, reason: Reason, idempotency_key: Key, ignore_daemonsets: bool = True,
                   grace_period_s: Annotated[int | None, Field(ge=0)] = None,
                   dry_run: DryRun = False) -> WriteResult:
        """Cordons a node, then evicts its pods through the Eviction API, so PodDisruptionBudgets are respected.

        One pass, no waiting: the answer lists evicted pods, pods a PDB blocked, and skipped pods (node daemons,
        mirror pods, terminating pods, pods no controller manages). The key is recorded on the Node.
        """
        req = _request("drain_node", f"node/{node}", reason, idempotency_key, dry_run)
        return writes.drain(req, node, ignore_daemonsets, grace_period_s)
