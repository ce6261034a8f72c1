"""Lists: selectors, the real server's ordering (by namespace and name), `limit`/`continue` pages, and the
three shapes a list can take (the typed list, a Table, metadata only)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver import tables
from sandbox.apiserver.negotiation import As
from sandbox.apiserver.status import bad_request
from sandbox.apiserver.views import View
from sandbox.errors import ApiError
from sandbox.selectors import matches_fields
from sandbox.store import Resource, Store

Obj = dict[str, Any]


@dataclass(frozen=True)
class ListQuery:
    label_selector: str | None
    field_selector: str | None
    limit: int
    continue_token: str | None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> ListQuery:
        try:
            limit = int(params.get("limit") or 0)
        except ValueError as exc:
            raise bad_request(f"invalid limit: {params.get('limit')}") from exc
        return cls(params.get("labelSelector") or None, params.get("fieldSelector") or None, max(limit, 0),
                   params.get("continue") or None)


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def select(store: Store, view: View, namespace: str | None, query: ListQuery) -> list[Obj]:
    """Matching objects in wire form; field selectors see the served form (e.g. `regarding.name` for v1 Events)."""
    objects = [view.to_wire(o) for o in store.list(view.key, namespace, query.label_selector)]
    return sorted((o for o in objects if matches_fields(o, query.field_selector)), key=_sort_key)


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        return start[0], start[1]
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
        raise ApiError(400, "BadRequest", "continue key is not valid: illegal base64 data") from exc


def page(items: list[Obj], query: ListQuery) -> tuple[list[Obj], Obj]:
    """One page and its list metadata additions (`continue`, `remainingItemCount`)."""
    if query.continue_token:
        start = _decode_continue(query.continue_token)
        items = [o for o in items if _sort_key(o) > start]
    if not query.limit or len(items) <= query.limit:
        return items, {}
    shown = items[:query.limit]
    token = base64.urlsafe_b64encode(json.dumps({"start": list(_sort_key(shown[-1]))}).encode()).decode()
    return shown, {"continue": token, "remainingItemCount": len(items) - len(shown)}


def list_body(res: Resource, view: View, items: list[Obj], list_meta: Obj, shape: As, include: str) -> Obj:
    if shape is As.TABLE:
        return tables.table(view, res.key, items, include, list_meta)
    if shape is As.METADATA:
        return tables.metadata_list(items, list_meta)
    return {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": list_meta, "items": items}


def object_body(res: Resource, view: View, obj: Obj, shape: As, include: str) -> Obj:
    if shape is As.TABLE:
        return tables.table(view, res.key, [obj], include,
                            {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
    if shape is As.METADATA:
        return tables.partial_metadata(obj)
    return obj
