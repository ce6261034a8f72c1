"""events.k8s.io/v1 Events as a converted view of the core Events in the store (as the real server does).

Field mapping follows the API's own conversion: regarding = involvedObject, note = message,
reportingController = reportingComponent (or the older source.component), deprecated* = the core
timestamps, count and source.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.apiserver.timefmt import micro_time, parse_time, utcnow

Obj = dict[str, Any]
API_VERSION = "events.k8s.io/v1"


def _micro(value: object) -> str | None:
    moment = parse_time(value)
    return micro_time(moment) if moment else None


def to_v1(core: Obj) -> Obj:
    source = core.get("source") or {}
    event: Obj = {"kind": "Event", "apiVersion": API_VERSION, "metadata": copy.deepcopy(core.get("metadata") or {})}
    # eventTime is required by the v1 schema (and by typed clients); old-style events only have firstTimestamp.
    event["eventTime"] = (_micro(core.get("eventTime")) or _micro(core.get("firstTimestamp"))
                          or _micro((core.get("metadata") or {}).get("creationTimestamp")) or micro_time(utcnow()))
    optional = {
        "series": core.get("series"),
        "reportingController": core.get("reportingComponent") or source.get("component"),
        "reportingInstance": core.get("reportingInstance") or source.get("host"),
        "action": core.get("action"),
        "reason": core.get("reason"),
        "regarding": core.get("involvedObject"),
        "related": core.get("related"),
        "note": core.get("message"),
        "type": core.get("type"),
        "deprecatedSource": source or None,
        "deprecatedFirstTimestamp": core.get("firstTimestamp"),
        "deprecatedLastTimestamp": core.get("lastTimestamp"),
        "deprecatedCount": core.get("count"),
    }
    event.update({k: copy.deepcopy(v) for k, v in optional.items() if v not in (None, "", {})})
    return event


def to_core(event: Obj) -> Obj:
    core: Obj = {"kind": "Event", "apiVersion": "v1", "metadata": copy.deepcopy(event.get("metadata") or {}),
                 "involvedObject": copy.deepcopy(event.get("regarding") or {})}
    optional = {
        "reason": event.get("reason"),
        "message": event.get("note"),
        "source": event.get("deprecatedSource"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "type": event.get("type"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "action": event.get("action"),
        "related": event.get("related"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }
    core.update({k: copy.deepcopy(v) for k, v in optional.items() if v not in (None, "")})
    return core
