"""Kubernetes Events, recorded and aggregated the way the real components do (count, first/last timestamp)."""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.kubetime import now_rfc3339
from sandbox.store import Store

MAX_EVENTS = 3000  # the real API server expires events after an hour; we keep the newest ones


class EventRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._names: dict[tuple[str, str, str, str], tuple[str, str]] = {}

    def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str,
             host: str | None = None) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta["uid"], reason, message, type_)
        now = now_rfc3339()
        if key in self._names and self.store.find("events", *self._names[key]):
            def bump(event: dict[str, Any]) -> None:
                event["count"] = event.get("count", 1) + 1
                event["lastTimestamp"] = now
            self.store.mutate("events", *self._names[key], bump)
            return
        name = f"{meta['name']}.{uuid.uuid4().int >> 64:016x}"
        self.store.create("events", {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": obj["kind"], "namespace": meta.get("namespace", ""), "name": meta["name"],
                               "uid": meta["uid"], "apiVersion": obj["apiVersion"],
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": now, "lastTimestamp": now, "reportingComponent": component,
            "reportingInstance": host or "",
        })
        self._names[key] = (namespace, name)
        self._expire()

    def _expire(self) -> None:
        events = list(self.store.objects("events"))
        for event in events[: max(0, len(events) - MAX_EVENTS)]:
            self.store.delete("events", event["metadata"]["namespace"], event["metadata"]["name"])
