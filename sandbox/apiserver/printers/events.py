"""The core Event row (`printEvent`); events.k8s.io Events are printed through the same row."""

from __future__ import annotations

from datetime import datetime

from sandbox.apiserver.printers.base import Cell, Column, Obj, Printer
from sandbox.apiserver.timefmt import since

COLUMNS = (
    Column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    Column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    Column("Reason", "This should be a short, machine understandable string that gives the reason for the "
                     "transition into the object's current status."),
    Column("Object", "The object that this event is about."),
    Column("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                        "contain a valid JSON/Go field access statement.", priority=1),
    Column("Source", "The component reporting this event. Should be a short machine understandable string.",
           priority=1),
    Column("Message", "A human-readable description of the status of this operation."),
    Column("First Seen", "The time at which the event was first recorded.", priority=1),
    Column("Count", "The number of times this event has occurred.", priority=1),
    Column("Name", "Name must be unique within a namespace.", priority=1, format="name"),
)


def _source(event: Obj) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    if not component:
        return "<unknown>"
    return f"{component}, {instance}" if instance else component


def event_cells(event: Obj, now: datetime) -> list[Cell]:
    first = event.get("firstTimestamp") or event.get("eventTime")
    first_seen = since(first, now)
    last_seen = since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first_seen
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen, count = since(series.get("lastObservedTime"), now), series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last_seen, event.get("type", ""), event.get("reason", ""), target, involved.get("fieldPath", ""),
            _source(event), str(event.get("message", "")).strip(), first_seen, count,
            (event.get("metadata") or {}).get("name")]


PRINTER = Printer(COLUMNS, event_cells)
