"""`meta.k8s.io/v1` Table and PartialObjectMetadata answers, for kubectl's server-side printing."""

from __future__ import annotations

from typing import Any

from sandbox.apiserver.printers import Printer, printer_for
from sandbox.apiserver.status import bad_request
from sandbox.apiserver.timefmt import utcnow
from sandbox.apiserver.views import View

Obj = dict[str, Any]
META_API = "meta.k8s.io/v1"


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": META_API, "metadata": obj.get("metadata") or {}}


def include_object(value: str | None) -> str:
    if value in (None, ""):
        return "Metadata"  # the server's default, which is what kubectl relies on
    if value not in ("Object", "Metadata", "None"):
        raise bad_request(f'includeObject: Unsupported value: "{value}": supported values: "Metadata", "None", '
                          '"Object"')
    return value


def _row(printer: Printer, view: View, obj: Obj, include: str) -> Obj:
    row: Obj = {"cells": printer.cells(view.from_wire(obj), utcnow())}
    if include == "Object":
        row["object"] = obj
    elif include == "Metadata":
        row["object"] = partial_metadata(obj)
    return row


def table(view: View, key: str, objects: list[Obj], include: str, list_meta: Obj) -> Obj:
    printer = printer_for(key)
    return {"kind": "Table", "apiVersion": META_API, "metadata": list_meta,
            "columnDefinitions": [c.definition() for c in printer.columns],
            "rows": [_row(printer, view, obj, include) for obj in objects]}


def metadata_list(objects: list[Obj], list_meta: Obj) -> Obj:
    return {"kind": "PartialObjectMetadataList", "apiVersion": META_API, "metadata": list_meta,
            "items": [partial_metadata(o) for o in objects]}
