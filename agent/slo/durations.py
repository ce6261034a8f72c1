"""Prometheus durations scaled by the sandbox's time compression (parsed and rendered as the tools do)."""

from __future__ import annotations

import math

from mcp_servers.prometheus.durations import format_duration, parse_duration


def scale_seconds(seconds: float, time_scale: float, minimum: float = 0.0) -> float:
    """Compress a duration by the time scale K, never below `minimum`.

    Long scaled durations are rounded to whole seconds (a 3-day window at K=7 is 37029s, not
    37028571ms), short ones to milliseconds: precision that matters to nobody would only make the
    rendered rules harder to read.
    """
    if time_scale <= 0 or not math.isfinite(time_scale):
        raise ValueError(f"time scale must be a positive number, got {time_scale!r}")
    scaled = seconds / time_scale
    scaled = float(round(scaled)) if scaled >= 10 else round(scaled, 3)
    return max(scaled, minimum)


def scale_duration(text: str, time_scale: float, minimum: float = 0.0) -> str:
    """`scale_seconds` for a duration string, rendered back (`5m` at K=60 is `5s`)."""
    return format_duration(scale_seconds(parse_duration(text), time_scale, minimum))
