"""Idempotency keys: one per policy decision. The store allows one action per key, and the MCP write tool
records the key on what it changes, so a decision is carried out at most once, also across restarts. Keys
are made and read here only."""

from __future__ import annotations


def step_key(incident_id: str, attempt: int, step: int) -> str:
    """Step `step` of the remediation of hypothesis `attempt`."""
    return f"{incident_id}/h{attempt}/s{step}"


def escalation_key(incident_id: str) -> str:
    return f"{incident_id}/escalate"


def undo_key(key: str) -> str:
    """The undoing of the action decided under `key`."""
    return f"{key}/revert"


def step_of(key: str, incident_id: str, attempt: int) -> int | None:
    """The step index of a key `step_key` made for this incident and hypothesis; None for any other key."""
    index = key.removeprefix(step_key(incident_id, attempt, 0)[:-1])
    return int(index) if key != index and index.isdigit() else None
