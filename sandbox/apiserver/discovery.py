"""Discovery documents: /version, /api, /apis, and the APIResourceList of each group version.

kubectl and client-go ask for aggregated discovery first; answering in the legacy format with content type
`application/json` makes them fall back to these documents, which every client version understands.
"""

from __future__ import annotations

from typing import Any

from sandbox.apiserver import reviews
from sandbox.store import RESOURCES, Resource

Obj = dict[str, Any]

# kubectl's dispatcher picks its minor version from here; 1.31 is what the sandbox claims to be.
VERSION: Obj = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.4", "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean", "buildDate": "2024-12-10T11:36:19Z", "goVersion": "go1.22.10", "compiler": "gc",
    "platform": "linux/amd64",
}

CATEGORIES = {"pods": ["all"], "deployments": ["all"], "replicasets": ["all"], "daemonsets": ["all"],
              "services": ["all"]}
UNSCOPED_VERBS_ORDER = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def group_versions() -> list[tuple[str, str]]:
    """Named groups in the order of RESOURCES, then the review-only groups (core is served under /api)."""
    seen: list[tuple[str, str]] = []
    for group, version in [(r.group, r.version) for r in RESOURCES] + [(r.group, r.version) for r in reviews.REVIEWS]:
        if group and (group, version) not in seen:
            seen.append((group, version))
    return seen


def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group(group: str) -> Obj:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for g, v in group_versions() if g == group]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list() -> Obj:
    groups = [g for g, _ in group_versions()]
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{k: v for k, v in api_group(g).items() if k not in ("kind", "apiVersion")}
                       for g in dict.fromkeys(groups)]}


def _verbs(res: Resource) -> list[str]:
    verbs = set(res.verbs)
    if "delete" in verbs:
        verbs.add("deletecollection")  # every delete-able built-in resource supports collection deletes
    return [v for v in UNSCOPED_VERBS_ORDER if v in verbs]


def _main_entry(res: Resource) -> Obj:
    entry: Obj = {"name": res.plural, "singularName": res.kind.lower(), "namespaced": res.namespaced,
                  "kind": res.kind, "verbs": _verbs(res)}
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.plural in CATEGORIES and res.group in ("", "apps"):
        entry["categories"] = CATEGORIES[res.plural]
    return entry


def _subresource_entry(res: Resource, sub: str) -> Obj:
    entry: Obj = {"name": f"{res.plural}/{sub}", "singularName": "", "namespaced": res.namespaced}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"])
    elif sub == "eviction":
        entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
    elif sub == "log":
        entry.update(kind=res.kind, verbs=["get"])
    else:
        entry.update(kind=res.kind, verbs=["get", "patch", "update"])
    return entry


def resource_list(group: str, version: str) -> Obj | None:
    members = [r for r in RESOURCES if r.group == group and r.version == version]
    entries: list[Obj] = []
    for res in members:
        entries.append(_main_entry(res))
        entries.extend(_subresource_entry(res, sub) for sub in res.subresources)
    entries += reviews.discovery_entries(group, version)
    if not entries:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}
