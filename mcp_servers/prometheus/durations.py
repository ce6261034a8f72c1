"""Prometheus durations: parse them and render them back.

Prometheus (and Alertmanager) accept `1500ms`, `5s`, `72m`, `1h30m`, `3d`. We render a single unit, the
largest one that divides the value exactly, so a reader sees `72m` rather than `1h12m` and `1500ms`
rather than `1s500ms`.
"""

from __future__ import annotations

import math
import re

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
# Units for rendering, largest first; weeks and years are left out because `7d` reads better than `1w`.
_RENDER_UNITS_MS: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as `5m`, `1h30m` or `1500ms`."""
    text = text.strip()
    if not text:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {text!r} (use e.g. 30s, 5m, 1h30m, 1500ms)")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds as a one-unit Prometheus duration (`5s`, `72m`, `1500ms`); `0s` for zero."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"cannot render duration {seconds!r}")
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    for unit, size in _RENDER_UNITS_MS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise AssertionError("unreachable: ms divides every integer")
