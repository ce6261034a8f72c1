"""Timestamps as the Kubernetes API writes them: `metav1.Time` (seconds) and `metav1.MicroTime`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339() -> str:
    return rfc3339(utcnow())


def now_micro() -> str:
    return micro_time(utcnow())


def ago(days: float) -> str:
    return rfc3339(utcnow() - timedelta(days=days))
