"""Where log lines come from: the Kubernetes API (pods' logs) by default, Loki (LogQL over HTTP) when configured.

Both answer one question, "the lines of this pod, deployment or namespace in this time window, optionally
matching a regex", with each line's own timestamp. The Kubernetes API only knows the pods that exist now (and
each container's previous incarnation); Loki also keeps the lines of pods that are gone, such as those a
rollout replaced.

Windows are on the fleet's wall clock, the clock of the log timestamps. The sandbox writes real timestamps
and reads `sinceSeconds` as real seconds, so the same window means the same thing there as on a cluster; a
sandbox running K times faster simply packs K fleet minutes into each real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel


class LogLine(BaseModel):
    timestamp: datetime
    pod: str
    text: str


@dataclass(frozen=True)
class Target:
    """Whose logs: one pod, the pods of one deployment, or (neither given) every pod of the namespace."""

    namespace: str
    deployment: str | None = None
    pod: str | None = None

    def describe(self) -> str:
        if self.pod:
            return f"pod {self.pod} in namespace {self.namespace}"
        if self.deployment:
            return f"deployment {self.deployment} in namespace {self.namespace}"
        return f"namespace {self.namespace}"


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0) / 60


@dataclass
class Fetched:
    """Lines oldest first, and what a reader should know about them (pods skipped, limits reached)."""

    lines: list[LogLine]
    notes: list[str] = field(default_factory=list)


# Which container incarnations to read: a crashed container's last words are in the previous one's log.
Incarnations = Literal["current", "previous", "both"]


class LogSource(Protocol):
    name: str

    def close(self) -> None:
        """Releases what the source holds open (pooled connections)."""
        ...

    def fetch(self, target: Target, window: Window, *, pattern: re.Pattern[str] | None = None,
              incarnations: Incarnations = "current") -> Fetched:
        """Lines of the target inside the window (and matching the pattern), oldest first."""
        ...
