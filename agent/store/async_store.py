"""The store for code on an event loop: the same calls, each run on a worker thread and awaited.

The store is synchronous (SQLAlchemy sessions on a connection pool), and a write can wait on a lock or a
slow disk; called straight from a coroutine it would stall every other task of the loop (the webhook, the
watcher, the graphs) meanwhile. One worker thread per call keeps the store one implementation, safe to share
between threads, for both the loop and the command line.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from agent.store.store import Store

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _off_the_loop(
    method: Callable[Concatenate[Store, _P], _R],
) -> Callable[Concatenate[AsyncStore, _P], Coroutine[Any, Any, _R]]:
    @functools.wraps(method)
    async def call(self: AsyncStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return await asyncio.to_thread(method, self.sync, *args, **kwargs)

    return call


class AsyncStore:
    """`Store`'s calls as coroutines; `sync` is the store itself, for what runs off the loop already."""

    def __init__(self, store: Store) -> None:
        self.sync = store

    ingest_alerts = _off_the_loop(Store.ingest_alerts)
    open_incident = _off_the_loop(Store.open_incident)
    set_status = _off_the_loop(Store.set_status)
    set_diagnosis = _off_the_loop(Store.set_diagnosis)
    set_summary = _off_the_loop(Store.set_summary)
    add_timeline = _off_the_loop(Store.add_timeline)
    list_incidents = _off_the_loop(Store.list_incidents)
    get_incident = _off_the_loop(Store.get_incident)
    active_incident = _off_the_loop(Store.active_incident)

    record_decision = _off_the_loop(Store.record_decision)
    claim_for_execution = _off_the_loop(Store.claim_for_execution)
    finish_action = _off_the_loop(Store.finish_action)
    mark_reverted = _off_the_loop(Store.mark_reverted)
    decide_approval = _off_the_loop(Store.decide_approval)
    expire_approval = _off_the_loop(Store.expire_approval)
    get_action = _off_the_loop(Store.get_action)
    pending_approvals = _off_the_loop(Store.pending_approvals)
    recent_actions = _off_the_loop(Store.recent_actions)
    action_counts = _off_the_loop(Store.action_counts)

    queue_page = _off_the_loop(Store.queue_page)
    due_notifications = _off_the_loop(Store.due_notifications)
    notification_delivered = _off_the_loop(Store.notification_delivered)
    notification_failed = _off_the_loop(Store.notification_failed)
    open_escalations = _off_the_loop(Store.open_escalations)

    audit_log = _off_the_loop(Store.audit_log)
    audit_head = _off_the_loop(Store.audit_head)
    verify_chain = _off_the_loop(Store.verify_chain)
