"""Where a resource's objects live in the store, and how they look on the wire.

Most resources are stored as served. events.k8s.io Events are not stored at all: they are the core Events
converted on the way out and back on the way in, so both APIs show the same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver import events_v1
from sandbox.store import Resource

Obj = dict[str, Any]


def _same(obj: Obj) -> Obj:
    return obj


@dataclass(frozen=True)
class View:
    key: str  # the store key that holds the objects
    to_wire: Callable[[Obj], Obj] = _same
    from_wire: Callable[[Obj], Obj] = _same


EVENTS_V1 = View("events", events_v1.to_v1, events_v1.to_core)


def view_for(res: Resource) -> View:
    if res.key == "events.k8s.io/events":
        return EVENTS_V1
    return View(res.key)
