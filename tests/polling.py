"""Waiting in a test for something that happens in another thread or process, or on the fleet's own clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.05) -> T | None:
    """What `check` returns once it is truthy; None if it never is within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found or None
        time.sleep(interval_s)


async def until(probe: Callable[[], Awaitable[T]], what: str, holds: Callable[[T], object] = bool,
                timeout_s: float = 45.0, interval_s: float = 0.5) -> T:
    """The first answer of `probe` that `holds`; fails the test, naming `what`, if none does within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await probe()
        if holds(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout_s:g} s")
        await anyio.sleep(interval_s)
