"""Resource URLs (`/api/v1/namespaces/{ns}/pods/{name}/log`, `/apis/apps/v1/deployments`, ...) as targets."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.apiserver.status import path_not_found
from sandbox.store import RESOURCES, Resource

_BY_GVR = {(r.group, r.version, r.plural): r for r in RESOURCES}


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None  # None: cluster-scoped, or a list across all namespaces
    name: str | None
    subresource: str | None
    watch_path: bool = False  # the deprecated `/watch/` URL form, which means `?watch=true`


def _lookup(group: str, version: str, plural: str) -> Resource:
    res = _BY_GVR.get((group, version, plural))
    if res is None:
        raise path_not_found()
    return res


def parse_resource_path(group: str, version: str, segments: list[str]) -> Target:
    """`segments` is what follows `/api/v1` or `/apis/{group}/{version}`."""
    watch_path = bool(segments) and segments[0] == "watch"
    if watch_path:
        segments = segments[1:]
    namespace: str | None = None
    # `namespaces/{ns}/{plural}...` addresses a namespaced resource unless it names a namespace's own parts.
    if len(segments) >= 3 and segments[0] == "namespaces" and (group, version, segments[2]) in _BY_GVR:
        namespace, segments = segments[1], segments[2:]
    if not segments or len(segments) > 3:
        raise path_not_found()
    res = _lookup(group, version, segments[0])
    name = segments[1] if len(segments) > 1 else None
    sub = segments[2] if len(segments) > 2 else None
    if res.namespaced and namespace is None and name is not None:
        raise path_not_found()  # a namespaced object is addressed only inside its namespace
    if not res.namespaced and namespace is not None:
        raise path_not_found()
    if sub is not None and sub not in res.subresources:
        raise path_not_found()
    return Target(res, namespace, name, sub, watch_path)
