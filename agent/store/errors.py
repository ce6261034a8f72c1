"""What the store refuses, one type per kind: callers tell them apart by type, and the message says why."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A request the store's state does not allow."""


class NotFound(StoreError):
    """The incident, action or notification named does not exist."""


class Conflict(StoreError):
    """The request contradicts what is stored (a resolved incident, an action decided or claimed before)."""
