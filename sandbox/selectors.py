"""Kubernetes label and field selectors, as `kubectl -l` and `--field-selector` send them."""

from __future__ import annotations

import re
from typing import Any

from sandbox.errors import ApiError

_SET_EXPR = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside a `( ... )` value set."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def matches_labels(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in _split_terms(selector):
        if eq := _EQ_EXPR.match(term):
            key, op, value = eq.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif expr := _SET_EXPR.match(term):
            negated, key, op, values = expr.groups()
            if op:
                wanted = {v.strip() for v in values.split(",")}
                if (key in labels and labels[key] in wanted) != (op == "in"):
                    return False
            elif (key in labels) == bool(negated):
                return False
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: invalid label selector {term!r}")
    return True


def field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def matches_fields(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    for term in _split_terms(selector):
        eq = _EQ_EXPR.match(term)
        if not eq:
            raise ApiError(400, "BadRequest", f"invalid field selector {term!r}")
        path, op, value = eq.groups()
        if (field_value(obj, path) == value) != (op != "!="):
            return False
    return True
