"""Finding the rows that people's ids (`INC-0007`, `ACT-0012`) and idempotency keys name.

`for_update` locks the row until the transaction ends, for a write that checks the row before changing it:
the check then sees what a concurrent writer committed, not what it read before that writer finished. It
locks the row only (FOR NO KEY UPDATE), so rows that merely refer to it can still be added meanwhile.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.store.errors import NotFound
from agent.store.models import CLOSED_STATUS, ActionRow, IncidentRow
from agent.store.schemas import INCIDENT_PREFIX, make_ref, parse_ref


def ref(number: int | None, prefix: str = INCIDENT_PREFIX) -> str | None:
    return make_ref(prefix, number) if number is not None else None


def incident_row(session: Session, incident_ref: str, *, for_update: bool = False) -> IncidentRow:
    try:
        number = parse_ref(INCIDENT_PREFIX, incident_ref)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    incident = session.get(IncidentRow, number, with_for_update={"key_share": True} if for_update else None)
    if incident is None:
        raise NotFound(f"no incident {make_ref(INCIDENT_PREFIX, number)}")
    return incident


def active_incident_row(session: Session, group_key: str, *, for_update: bool = False) -> IncidentRow | None:
    query = select(IncidentRow).where(IncidentRow.group_key == group_key, IncidentRow.status != CLOSED_STATUS)
    if for_update:
        query = query.with_for_update(key_share=True)
    return session.scalars(query).first()


def action_by_key(session: Session, key: str, *, for_update: bool = False) -> ActionRow | None:
    query = select(ActionRow).where(ActionRow.idempotency_key == key)
    if for_update:
        query = query.with_for_update(key_share=True)
    return session.scalars(query).first()
