"""The store as the event loop calls it: the same answers, each call run on a worker thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from agent.store import AsyncStore, Store


def test_each_call_runs_off_the_event_loop_and_answers_as_the_store_does(sqlite_url: str) -> None:
    threads: set[int] = set()

    def clock() -> datetime:  # the store reads its clock inside every write: where it runs, the write runs
        threads.add(threading.get_ident())
        return datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    async def open_and_read(store: AsyncStore) -> tuple[bool, str]:
        opened = await store.open_incident(
            {"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"}
        )
        detail = await store.get_incident(opened.incident.id)
        return opened.created, detail.incident.title

    with Store.open(sqlite_url, clock=clock) as store:
        assert asyncio.run(open_and_read(AsyncStore(store))) == (True, "5xx")
        assert [i.title for i in store.list_incidents()] == ["5xx"]
    assert threads and threading.get_ident() not in threads


def test_a_slow_call_leaves_the_loop_free(sqlite_url: str) -> None:
    """While one call waits (here on SQLite's write lock, held by another connection), the loop runs on."""
    with Store.open(sqlite_url) as store:
        async def main() -> list[str]:
            done: list[str] = []

            async def tick() -> None:
                await asyncio.sleep(0.05)
                done.append("tick")

            with store.engine.connect() as holder:
                holder.exec_driver_sql("SELECT 1")  # its transaction began IMMEDIATE: it holds the write lock
                writing = asyncio.create_task(AsyncStore(store).open_incident(
                    {"slo": "availability", "model": "llama-70b", "title": "5xx", "detected_by": "watcher"}))
                await tick()  # the write is blocked meanwhile, the loop is not
                assert not writing.done()
                holder.rollback()
            await writing
            done.append("written")
            return done

        assert asyncio.run(main()) == ["tick", "written"]
