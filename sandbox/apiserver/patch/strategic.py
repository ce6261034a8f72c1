"""Strategic merge patch, `application/strategic-merge-patch+json`, for the built-in types the sandbox serves.

The real server reads each list's patch strategy from the Go struct tags; the table below carries the
tags of the fields these resources have (`patchStrategy:"merge" patchMergeKey:...`). Lists not named here
are atomic and replaced. Directives: `$patch: replace|delete|merge` in maps and list elements,
`$retainKeys`, `$deleteFromPrimitiveList/<field>`, and `$setElementOrder/<field>` (accepted, and used only
to order the merged list).
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.errors import ApiError

MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "conditions": "type",
    "imagePullSecrets": "name", "ownerReferences": "uid", "addresses": "type", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "schedulingGates": "name",
    "podIPs": "ip", "hostIPs": "ip", "secrets": "name",
}
PRIMITIVE_MERGE = {"finalizers"}
DIRECTIVE = "$patch"
SET_ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"
RETAIN = "$retainKeys"


def _merge_key(field: str, original: list[Any], patch: list[Any]) -> str | None:
    if field == "ports":  # container ports merge on containerPort, service ports on port
        items = [i for i in original + patch if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def strategic_merge(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "strategic merge patch must be a JSON object")
    return _merge_map(original if isinstance(original, dict) else {}, patch)


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> Any:
    directive = patch.get(DIRECTIVE)
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != DIRECTIVE})
    if directive == "delete":
        return None
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM):
            field = key[len(DELETE_FROM):]
            result[field] = [v for v in result.get(field) or [] if v not in (value or [])]
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            current = result.get(key)
            result[key] = _merge_list(key, current if isinstance(current, list) else [], value)
            order = patch.get(SET_ORDER + key)
            if isinstance(order, list):
                result[key] = _ordered(result[key], order, _merge_key(key, [], order))
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(patch.get(RETAIN), list):
        keep = set(patch[RETAIN])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get(DIRECTIVE) == "replace" for i in patch):
        return [_strip(i) for i in patch if not (isinstance(i, dict) and DIRECTIVE in i)]
    if field in PRIMITIVE_MERGE:
        merged = list(original)
        merged.extend(v for v in patch if v not in merged)
        return merged
    key = _merge_key(field, original, patch)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip(i) for i in patch]
    merged = copy.deepcopy(original)
    for item in patch:
        if key not in item:
            raise ApiError(400, "BadRequest", f"map: {item} does not contain declared merge key: {key}")
        position = next((i for i, o in enumerate(merged) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get(DIRECTIVE) == "delete":
            if position is not None:
                del merged[position]
        elif position is None:
            merged.append(_strip(item))
        else:
            merged[position] = _merge_map(merged[position], item)
    return merged


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """`$setElementOrder`: items named in the order list come in that order; the others keep their place after."""
    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item
    wanted = [identity(o) for o in order]
    ranked = sorted(items, key=lambda i: wanted.index(identity(i)) if identity(i) in wanted else len(wanted))
    return ranked


def _strip(value: Any) -> Any:
    """A patch fragment that lands where nothing was: drop its nulls and directives."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return copy.deepcopy(value)
