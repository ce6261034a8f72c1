"""Timestamps as the API writes them, and ages as kubectl prints them (`duration.HumanDuration`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.kubetime import micro_time, rfc3339, utcnow

__all__ = ["human_duration", "later", "micro_time", "parse_time", "rfc3339", "since", "utcnow"]


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def later(seconds: int) -> str:
    return rfc3339(utcnow() + timedelta(seconds=seconds))


def human_duration(seconds: float) -> str:
    """Go's `k8s.io/apimachinery/pkg/util/duration.HumanDuration`, so ages read exactly like kubectl's."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def since(value: object, now: datetime) -> str:
    """`translateTimestampSince`: the age of a timestamp, `<unknown>` when there is none."""
    moment = parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())
