"""The append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so changing, deleting or inserting
any entry but the newest breaks the chain at that entry. A chain has one head, so appends are one at a
time: `append_all` holds the chain's lock from reading the head until its transaction commits, and the store
calls it last in each write, so that the lock is held for the append and the commit only.
Removing the newest entries leaves a valid shorter chain: anchor `head()` elsewhere to detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.store.db import lock_keys
from agent.store.models import AuditEntryRow

GENESIS_HASH = "0" * 64
CHAIN_LOCK = "audit-chain"
_VERIFY_BATCH = 500


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, non-JSON values as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise_data(data: Any) -> dict[str, Any]:
    """The data as it will read back from a JSON column, so the hash stays verifiable after a round trip."""
    return json.loads(canonical_json(data if data is not None else {}))


def entry_hash(
    *, seq: int, at: datetime, actor: str, event: str, incident_id: str | None, data: dict[str, Any], prev_hash: str
) -> str:
    body = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "event": event,
        "incident_id": incident_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _hash_of(entry: AuditEntryRow) -> str:
    return entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        event=entry.event,
        incident_id=entry.incident_id,
        data=entry.data,
        prev_hash=entry.prev_hash,
    )


def head(session: Session) -> AuditEntryRow | None:
    return session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(1)).first()


@dataclass(frozen=True)
class Entry:
    """An audit entry before it is chained."""

    at: datetime
    actor: str
    event: str
    incident_id: str | None
    data: dict[str, Any]


def append_all(session: Session, entries: Iterable[Entry]) -> None:
    """Chain the entries after the head, in order, keeping the chain locked until the transaction ends."""
    entries = list(entries)
    if not entries:
        return
    lock_keys(session.connection(), [CHAIN_LOCK])
    last = head(session)
    for entry in entries:
        last = _chained(entry, last)
        session.add(last)
    session.flush()


def _chained(entry: Entry, last: AuditEntryRow | None) -> AuditEntryRow:
    row = AuditEntryRow(
        seq=1 if last is None else last.seq + 1,
        at=entry.at.astimezone(UTC),  # what reads back, whatever zone the clock used
        actor=entry.actor,
        event=entry.event,
        incident_id=entry.incident_id,
        data=normalise_data(entry.data),
        prev_hash=GENESIS_HASH if last is None else last.hash,
    )
    row.hash = _hash_of(row)
    return row


def _entries(session: Session) -> Iterator[AuditEntryRow]:
    after = 0
    while True:
        batch = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.seq > after).order_by(AuditEntryRow.seq).limit(_VERIFY_BATCH)
        ).all()
        yield from batch
        if len(batch) < _VERIFY_BATCH:
            return
        after = batch[-1].seq
        session.expunge_all()


def verify_chain(session: Session) -> int | None:
    """The seq of the first entry that breaks the chain (changed, or after a gap), or None when intact."""
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in _entries(session):
        if entry.seq != expected_seq or entry.prev_hash != prev_hash or entry.hash != _hash_of(entry):
            return entry.seq
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    return None
