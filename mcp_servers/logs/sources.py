"""Where log lines come from: the Kubernetes API (pods' logs) by default, Loki (LogQL over HTTP) when configured.

Both answer one question, "the lines of this pod, deployment or namespace in this time window, optionally
matching a regex", with each line's own timestamp. The Kubernetes API only knows the pods that exist now (and
each container's previous incarnation); Loki also keeps the lines of pods that are gone, such as those a
rollout replaced.

Windows are on the fleet's wall clock, the clock of the log timestamps. The sandbox writes real timestamps
and reads `sinceSeconds` as real seconds, so the same window means the same thing there as on a cluster; a
sandbox running K times faster simply packs K fleet minutes into each real one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel

from mcp_servers.errors import ToolFailure, fail, kind_of_status, transport_kind
from mcp_servers.kube_client import Kube, parse_time, selector_string
from mcp_servers.settings import HttpEndpoint

MAX_PODS = 50  # pods read for one question; a namespace-wide search says when it left some out
MAX_LINES_PER_CONTAINER = 20_000  # `tailLines` for one read, so one chatty pod cannot exhaust the server
LOKI_LIMIT = 5_000  # Loki's default max_entries_limit_per_query
FETCH_WORKERS = 8
_STAMPED = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2}) (.*)$")


class LogLine(BaseModel):
    timestamp: datetime
    pod: str
    text: str


@dataclass(frozen=True)
class Target:
    """Whose logs: one pod, the pods of one deployment, or (neither given) every pod of the namespace."""

    namespace: str
    deployment: str | None = None
    pod: str | None = None

    def describe(self) -> str:
        if self.pod:
            return f"pod {self.pod} in namespace {self.namespace}"
        if self.deployment:
            return f"deployment {self.deployment} in namespace {self.namespace}"
        return f"namespace {self.namespace}"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0) / 60


@dataclass
class Fetched:
    """Lines oldest first, and what a reader should know about them (pods skipped, limits reached)."""

    lines: list[LogLine]
    notes: list[str] = field(default_factory=list)


# Which container incarnations to read: a crashed container's last words are in the previous one's log.
Incarnations = Literal["current", "previous", "both"]


class LogSource(Protocol):
    name: str

    def fetch(self, target: Target, window: Window, *, pattern: re.Pattern[str] | None = None,
              incarnations: Incarnations = "current") -> Fetched:
        """Lines of the target inside the window (and matching the pattern), oldest first."""
        ...


# -- Kubernetes ---------------------------------------------------------------------------------------------
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
            except ToolFailure as error:
                if target.pod and incarnations != "both":  # asked for this very log: its absence is the answer
                    raise
                return f"{container.label}{' (previous)' if previous else ''}: {error.message}"
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

    def revision(rs: dict[str, Any]) -> int:
        value = (rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0")
        return int(value) if value.isdigit() else 0
    newest = max(owned, key=lambda rs: (parse_time(rs["metadata"].get("creationTimestamp")) or datetime.min.replace(
        tzinfo=UTC), revision(rs)))
    created = parse_time(newest["metadata"].get("creationTimestamp"))
    if created is None:
        raise fail("internal", f"ReplicaSet {newest['metadata']['name']} has no creationTimestamp")
    return Rollout(newest["metadata"]["name"], str(revision(newest)) if revision(newest) else None, created)


# -- Loki ---------------------------------------------------------------------------------------------------
class LokiLogs:
    """LogQL `query_range` on the `namespace` and `pod` labels that Promtail, Alloy and the Loki chart set."""

    name = "loki"

    def __init__(self, endpoint: HttpEndpoint, limit: int = LOKI_LIMIT,
                 transport: Callable[..., httpx.Response] = httpx.get) -> None:
        self.endpoint, self.limit, self._get = endpoint, limit, transport

    def fetch(self, target: Target, window: Window, *, pattern: re.Pattern[str] | None = None,
              incarnations: Incarnations = "current") -> Fetched:
        query = logql(target, pattern.pattern if pattern else None)
        params = {"query": query, "start": str(_ns(window.start)), "end": str(_ns(window.end)),
                  "limit": str(self.limit), "direction": "backward"}
        url = f"{self.endpoint.base}/loki/api/v1/query_range"
        try:
            response = self._get(url, params=params, headers=self.endpoint.headers(), auth=self.endpoint.auth(),
                                 verify=self.endpoint.tls(), timeout=30)
        except httpx.HTTPError as error:
            raise fail(transport_kind(error), f"Loki at {self.endpoint.base} is unreachable: {error}") from None
        if response.status_code >= 400:
            raise fail(kind_of_status(response.status_code),
                       f"Loki refused the query {query} ({response.status_code}): {response.text.strip()[:500]}")
        lines = parse_streams(response.json())
        if pattern is not None:  # Loki's RE2 and Python's re agree on ordinary patterns; filter with the same one
            lines = [line for line in lines if pattern.search(line.text)]
        notes = []
        if len(lines) >= self.limit:
            notes.append(f"Loki returned its limit of {self.limit} lines: older lines of the window were not read")
        if incarnations == "previous":
            notes.append("previous is a Kubernetes notion: Loki keeps every container incarnation's lines")
        if not lines and target.pod:
            notes.append(f"Loki has no lines of {target.describe()} in this window")
        return Fetched(lines, notes)


def logql(target: Target, regex: str | None) -> str:
    """A LogQL stream selector for the target, with a regex line filter; values quoted as Go strings."""
    matchers = [f"namespace={json.dumps(target.namespace)}"]
    if target.pod:
        matchers.append(f"pod={json.dumps(target.pod)}")
    elif target.deployment:
        # A Deployment's pods are named <deployment>-<pod-template-hash>-<suffix>.
        matchers.append(f"pod=~{json.dumps(re.escape(target.deployment) + '-[a-z0-9]+-[a-z0-9]+')}")
    query = "{" + ", ".join(matchers) + "}"
    return f"{query} |~ {json.dumps(regex)}" if regex else query


def parse_streams(body: dict[str, Any]) -> list[LogLine]:
    """A `streams` result (`{"stream": labels, "values": [[ns, line], ...]}`), oldest first."""
    data = body.get("data") or {}
    if data.get("resultType") != "streams":
        raise fail("internal", f"Loki answered a {data.get('resultType')!r} result where log streams were expected")
    streams = data.get("result") or []
    containers: dict[str, set[str]] = {}
    for stream in streams:
        labels = stream.get("stream") or {}
        containers.setdefault(_pod_label(labels), set()).add(labels.get("container", ""))
    lines = []
    for stream in streams:
        labels = stream.get("stream") or {}
        pod = _pod_label(labels)
        if len(containers[pod]) > 1:
            pod = f"{pod}/{labels.get('container', '')}"
        lines += [LogLine(timestamp=datetime.fromtimestamp(int(ns) / 1e9, UTC), pod=pod, text=text.rstrip("\n"))
                  for ns, text in stream.get("values") or []]
    return sorted(lines, key=lambda line: (line.timestamp, line.pod))


def _pod_label(labels: dict[str, str]) -> str:
    return labels.get("pod") or labels.get("pod_name") or labels.get("instance") or "unknown"


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000) * 1000
