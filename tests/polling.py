"""Waiting in a test for something that happens in another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout_s: float = 5.0, interval_s: float = 0.05) -> T | None:
    """What `check` returns once it is truthy; None if it never is within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found or None
        time.sleep(interval_s)
