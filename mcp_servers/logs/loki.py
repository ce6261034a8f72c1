"""Log lines from Loki: LogQL `query_range` over one pooled HTTP client, kept for the server's lifetime.

Loki also keeps the lines of pods that are gone, such as those a rollout replaced.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from mcp_servers.errors import backend_error, transport_kind
from mcp_servers.failures import kind_of_status
from mcp_servers.logs.lines import Fetched, Incarnations, LogLine, Target, Window
from mcp_servers.settings import HttpEndpoint

LOKI_LIMIT = 5_000  # Loki's default max_entries_limit_per_query
TIMEOUT_S = 30


class LokiLogs:
    """LogQL `query_range` on the `namespace` and `pod` labels that Promtail, Alloy and the Loki chart set."""

    name = "loki"

    def __init__(self, endpoint: HttpEndpoint, limit: int = LOKI_LIMIT) -> None:
        self.endpoint, self.limit = endpoint, limit
        self._http = httpx.Client(base_url=endpoint.base, headers=endpoint.headers(), auth=endpoint.auth(),
                                  verify=endpoint.tls(), timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def fetch(self, target: Target, window: Window, *, pattern: re.Pattern[str] | None = None,
              incarnations: Incarnations = "current") -> Fetched:
        query = logql(target, pattern.pattern if pattern else None)
        params = {"query": query, "start": str(_ns(window.start)), "end": str(_ns(window.end)),
                  "limit": str(self.limit), "direction": "backward"}
        try:
            response = self._http.get("/loki/api/v1/query_range", params=params)
        except httpx.HTTPError as error:
            raise backend_error(transport_kind(error), f"Loki at {self.endpoint.base} is unreachable: {error}") \
                from None
        if response.status_code >= 400:
            raise backend_error(kind_of_status(response.status_code), f"Loki refused the query {query} "
                                f"({response.status_code}): {response.text.strip()[:500]}")
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
        raise backend_error("internal", f"Loki answered a {data.get('resultType')!r} result where log streams "
                            "were expected")
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
