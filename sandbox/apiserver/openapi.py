"""A skeleton OpenAPI v3 (paths and operations, no schemas) so kubectl validates on the server side.

kubectl create/apply/replace validate with `--validate=strict` by default: when the server's OpenAPI v3
document shows that a kind's PATCH accepts the `fieldValidation` query parameter, kubectl leaves validation
to the server; otherwise it downloads the full v2 schema to validate itself, and fails with "failed to
download openapi" when there is none. No strategic-merge content type is advertised, so client-side
`kubectl apply` computes its patches from its built-in types. `kubectl explain` needs real schemas and
does not work.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.apiserver.discovery import VERSION
from sandbox.store import RESOURCES, Resource

Obj = dict[str, Any]
FIELD_VALIDATION: Obj = {"name": "fieldValidation", "in": "query", "schema": {"type": "string",
                                                                              "uniqueItems": True}}


def _prefix(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _hash(group: str, version: str) -> str:
    return hashlib.sha256(f"{VERSION['gitVersion']}/{group}/{version}".encode()).hexdigest()[:32].upper()


def root() -> Obj:
    gvs = list(dict.fromkeys((r.group, r.version) for r in RESOURCES))
    return {"paths": {_prefix(g, v): {"serverRelativeURL": f"/openapi/v3/{_prefix(g, v)}?hash={_hash(g, v)}"}
                      for g, v in gvs}}


def _operation(res: Resource, action: str, validated: bool) -> Obj:
    operation: Obj = {
        "operationId": f"{action}{res.kind}", "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
        "responses": {"200": {"description": "OK"}},
    }
    if validated:
        operation["parameters"] = [FIELD_VALIDATION]
    return operation


def _paths(res: Resource) -> Obj:
    base = "/" + _prefix(res.group, res.version)
    collection = f"{base}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
    return {
        collection: {"get": _operation(res, "list", False), "post": _operation(res, "post", True)},
        f"{collection}/{{name}}": {"get": _operation(res, "get", False), "put": _operation(res, "put", True),
                                   "patch": _operation(res, "patch", True),
                                   "delete": _operation(res, "delete", False)},
    }


def group_version_doc(group: str, version: str) -> Obj | None:
    members = [r for r in RESOURCES if r.group == group and r.version == version]
    if not members:
        return None
    paths: Obj = {}
    for res in members:
        paths.update(_paths(res))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
