"""Fleet time: one knob, the time scale K, compresses every fleet duration (K fleet seconds per wall second)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    time_scale: float = 60.0
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """Wall seconds since the sandbox started."""
        return time.monotonic() - self.started

    def wall(self, fleet_seconds: float) -> float:
        """How long a fleet duration (a model load, a back-off, a grace period) lasts on the wall clock."""
        return fleet_seconds / self.time_scale

    def fleet_now(self) -> float:
        """Fleet seconds since the start: what daily traffic shapes follow."""
        return self.now() * self.time_scale


@dataclass
class ManualClock(Clock):
    """A clock that moves only when told to: for tests that step the fleet faster than real time."""

    elapsed: float = 0.0

    def now(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds
