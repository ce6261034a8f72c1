"""`metav1.LabelSelector` objects (matchLabels / matchExpressions) as selector strings and predicates."""

from __future__ import annotations

from typing import Any

from sandbox.selectors import matches_labels


def selector_string(selector: dict[str, Any] | None) -> str:
    """`metav1.LabelSelectorAsSelector(...).String()`: requirements sorted by key, set values sorted."""
    if not selector:
        return ""
    terms: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        terms.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or []))
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op, "")
        terms.append((key, text))
    return ",".join(text for _, text in sorted(terms))


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A nil selector selects nothing, an empty one everything (the API's convention for PDBs and workloads)."""
    if selector is None:
        return False
    return matches_labels({"metadata": {"labels": labels or {}}}, selector_string(selector))
