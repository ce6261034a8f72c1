"""Idempotency of the kubernetes writes, kept in the cluster itself.

The SHA-256 prefix of each applied `idempotency_key` is kept in the annotation `firebreak.io/idempotency-keys`
(the newest 20) of the object the write changes, written in the same merge patch as the change, with the
object's resourceVersion, so that two concurrent calls cannot both apply: the second gets a 409, reads the
object again, and finds the key. A key found there means the write was done: the call answers
`replayed=true` with the current state and changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt

from mcp_servers.answers import WriteResult
from mcp_servers.errors import fail
from mcp_servers.kubernetes.client import VersionConflict
from mcp_servers.kubernetes.objects import ApiObject

KEYS = "firebreak.io/idempotency-keys"
MAX_KEYS = 20
CONFLICT_ATTEMPTS = 4

# A write guarded by a resourceVersion that the object has moved past since (a controller's status update) is
# tried again at once on a fresh read, a few times.
again_on_conflict = retry(retry=retry_if_exception_type(VersionConflict), stop=stop_after_attempt(CONFLICT_ATTEMPTS),
                          reraise=True)


@dataclass(frozen=True)
class Request:
    action: str
    target: str
    reason: str
    key: str
    dry_run: bool

    def result(self, before: dict[str, Any], after: dict[str, Any], message: str, replayed: bool = False
               ) -> WriteResult:
        prefix = "dry run, nothing applied: would have " if self.dry_run and not replayed else ""
        return WriteResult(action=self.action, target=self.target, dry_run=self.dry_run, reason=self.reason,
                           idempotency_key=self.key, replayed=replayed, before=before, after=after,
                           message=prefix + message)

    def replay(self, state: dict[str, Any]) -> WriteResult:
        return self.result(state, state, f"idempotency key already applied to {self.target}: nothing done",
                           replayed=True)


def request(action: str, target: str, reason: str, key: str, dry_run: bool) -> Request:
    if not reason.strip():
        raise fail("bad_input", "reason must not be empty: say why, it goes into the audit trail")
    if not key.strip():
        raise fail("bad_input", "idempotency_key must not be empty")
    return Request(action, target, reason.strip(), key, dry_run)


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def recorded_keys(obj: ApiObject) -> list[str]:
    raw = (obj["metadata"].get("annotations") or {}).get(KEYS)
    try:
        keys = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(k) for k in keys] if isinstance(keys, list) else []


def is_recorded(obj: ApiObject, key: str) -> bool:
    return fingerprint(key) in recorded_keys(obj)


def with_key(obj: ApiObject, key: str) -> ApiObject:
    """The metadata part of a merge patch that records the key, guarded by the resourceVersion read."""
    keys = [*recorded_keys(obj), fingerprint(key)][-MAX_KEYS:]
    return {"metadata": {"resourceVersion": obj["metadata"].get("resourceVersion"),
                         "annotations": {KEYS: json.dumps(keys, separators=(",", ":"))}}}


def _merged(base: ApiObject, extra: ApiObject) -> ApiObject:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def merge_diff(current: Any, target: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `current` into `target`: removed keys become null."""
    if not isinstance(current, dict) or not isinstance(target, dict):
        return target
    diff: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        if key not in current:
            diff[key] = value
        elif current[key] != value:
            diff[key] = merge_diff(current[key], value)
    return diff


def patch_once(req: Request, read: Callable[[], ApiObject], state: Callable[[ApiObject], dict[str, Any]],
               change: Callable[[ApiObject], tuple[ApiObject, str]],
               send: Callable[[ApiObject, str | None], ApiObject]) -> WriteResult:
    """Reads, replays a recorded key, or sends the change and the key in one guarded patch (re-read on conflict)."""
    @again_on_conflict
    def attempt() -> WriteResult:
        current = read()
        if is_recorded(current, req.key):
            return req.replay(state(current))
        patch, message = change(current)
        after = send(_merged(patch, with_key(current, req.key)), "All" if req.dry_run else None)
        return req.result(state(current), state(after), message)
    return attempt()
