"""Server-side printing: the columns of a resource's `Table` and how one object becomes a row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Obj = dict[str, Any]
Cell = str | int | float | bool | None


@dataclass(frozen=True)
class Column:
    name: str
    description: str
    priority: int = 0  # kubectl shows priority > 0 only with `-o wide`
    type: str = "string"
    format: str = ""

    def definition(self) -> Obj:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], list[Cell]]  # always the wide cells: the server prints every column


NAME = Column("Name", "Name must be unique within a namespace.", format="name")
AGE = Column("Age", "CreationTimestamp is a timestamp representing the server time when this object was created.")


def none_if_empty(value: object) -> str:
    return str(value) if value not in (None, "") else "<none>"


def container_cells(template_spec: Obj) -> tuple[str, str]:
    """`layoutContainerCells`: container names and images, comma-separated."""
    containers = template_spec.get("containers") or []
    return (",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers))
