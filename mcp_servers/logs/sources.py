"""Log lines from the Kubernetes API: each container's log (and its previous incarnation's) with timestamps.

The Kubernetes API only knows the pods that exist now, and each container's previous incarnation.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mcp_servers.errors import BackendError, fail
from mcp_servers.kubernetes.client import Kube
from mcp_servers.kubernetes.objects import parse_time, revision_of, selector_string
from mcp_servers.logs.lines import Fetched, Incarnations, LogLine, Target, Window

MAX_PODS = 50  # pods read for one question; a namespace-wide search says when it left some out
MAX_LINES_PER_CONTAINER = 20_000  # `tailLines` for one read, so one chatty pod cannot exhaust the server
FETCH_WORKERS = 8
_STAMPED = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2}) (.*)$")


@dataclass(frozen=True)
class _Container:
    pod: str
    container: str
    label: str  # how lines are attributed: the pod, or pod/container in a pod with several containers
    restarted: bool


class KubernetesLogs:
    name = "kubernetes"

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def close(self) -> None:
        """The cluster's client is the server's own (`backends.LogBackends.kube`), closed with it."""

    def fetch(self, target: Target, window: Window, *, pattern: re.Pattern[str] | None = None,
              incarnations: Incarnations = "current") -> Fetched:
        pods, notes = self._pods(target)
        containers = [c for pod in pods for c in _containers(pod)]
        reads = [(c, False) for c in containers] if incarnations != "previous" else []
        if incarnations != "current":
            reads += [(c, True) for c in containers if c.restarted or incarnations == "previous"]
        since = max(1, math.ceil((datetime.now(UTC) - window.start).total_seconds()))

        def read(job: tuple[_Container, bool]) -> list[LogLine] | str:
            container, previous = job
            try:
                text = self.kube.text(self.kube.core.read_namespaced_pod_log, container.pod, target.namespace,
                                      container=container.container, timestamps=True, since_seconds=since,
                                      tail_lines=MAX_LINES_PER_CONTAINER, previous=previous,
                                      missing=f"pod {container.pod} not found in namespace {target.namespace}")
            except BackendError as error:
                if target.pod and incarnations != "both":  # asked for this very log: its absence is the answer
                    raise
                return f"{container.label}{' (previous)' if previous else ''}: {error}"
            return parse_stamped(text, container.label)

        with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
            results = list(pool.map(read, reads))
        lines = [line for result in results if not isinstance(result, str) for line in result
                 if window.start <= line.timestamp <= window.end and (pattern is None or pattern.search(line.text))]
        notes += [result for result in results if isinstance(result, str)]
        return Fetched(sorted(lines, key=lambda line: (line.timestamp, line.pod)), notes)

    def _pods(self, target: Target) -> tuple[list[dict[str, Any]], list[str]]:
        core, ns = self.kube.core, target.namespace
        if target.pod:
            return [self.kube.call(core.read_namespaced_pod, target.pod, ns,
                                   missing=f"pod {target.pod} not found in namespace {ns}")], []
        selector = ""
        if target.deployment:
            deployment = self.kube.call(self.kube.apps.read_namespaced_deployment, target.deployment, ns,
                                        missing=f"deployment {target.deployment} not found in namespace {ns}")
            selector = selector_string(deployment["spec"].get("selector"))
        pods = sorted(self.kube.call(core.list_namespaced_pod, ns, label_selector=selector).get("items") or [],
                      key=lambda pod: pod["metadata"]["name"])
        notes = [] if pods else [f"{target.describe()} has no pods"]
        if len(pods) > MAX_PODS:
            notes.append(f"read the first {MAX_PODS} of {len(pods)} pods (by name): name a deployment or pod")
        return pods[:MAX_PODS], notes


def _containers(pod: dict[str, Any]) -> list[_Container]:
    name = pod["metadata"]["name"]
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    restarts = {s.get("name"): s.get("restartCount") or 0
                for s in (pod.get("status") or {}).get("containerStatuses") or []}
    return [_Container(name, c, name if len(names) == 1 else f"{name}/{c}", restarts.get(c, 0) > 0) for c in names]


def parse_stamped(text: str, pod: str) -> list[LogLine]:
    """`timestamps=true` output; a line without its own stamp (the rest of a multi-line write) takes the last."""
    lines: list[LogLine] = []
    last = datetime.fromtimestamp(0, UTC)
    for raw in text.splitlines():
        match = _STAMPED.match(raw)
        if match:
            seconds, fraction, zone, raw = match.groups()
            # RFC 3339 allows nanoseconds; Python's datetime stops at microseconds.
            last = datetime.fromisoformat(seconds + (fraction or "")[:7] + zone.replace("Z", "+00:00"))
        if raw:
            lines.append(LogLine(timestamp=last, pod=pod, text=raw))
    return lines


@dataclass(frozen=True)
class Rollout:
    replicaset: str
    revision: str | None
    created: datetime


def latest_rollout(kube: Kube, namespace: str, deployment: str) -> Rollout:
    """The deployment's newest ReplicaSet: when the last change to its pod template was rolled out."""
    found = kube.call(kube.apps.read_namespaced_deployment, deployment, namespace,
                      missing=f"deployment {deployment} not found in namespace {namespace}")
    listed = kube.call(kube.apps.list_namespaced_replica_set, namespace,
                       label_selector=selector_string(found["spec"].get("selector")))
    owned = [rs for rs in listed.get("items") or []
             if any(ref.get("kind") == "Deployment" and ref.get("name") == deployment
                    for ref in rs["metadata"].get("ownerReferences") or [])]
    if not owned:
        raise fail("not_found", f"deployment {deployment} in namespace {namespace} has no ReplicaSet yet")

    newest = max(owned, key=lambda rs: (parse_time(rs["metadata"].get("creationTimestamp")) or datetime.min.replace(
        tzinfo=UTC), revision_of(rs) or 0))
    created = parse_time(newest["metadata"].get("creationTimestamp"))
    if created is None:
        raise fail("internal", f"ReplicaSet {newest['metadata']['name']} has no creationTimestamp")
    revision = revision_of(newest)
    return Rollout(newest["metadata"]["name"], str(revision) if revision else None, created)
