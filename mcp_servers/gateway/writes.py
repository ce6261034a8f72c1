"""A change to the routing table, applied through the adapter: read, change, write, and read again when another
writer got in between, so no edit is lost; an idempotency key already applied does nothing."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import retry, retry_if_exception_type, stop_after_attempt

from mcp_servers.answers import WriteResult
from mcp_servers.errors import Conflict
from mcp_servers.gateway.adapters import GatewayAdapter, RoutesConflict
from mcp_servers.gateway.table import RoutingTable, Weights

WRITE_ATTEMPTS = 3  # re-reads after a concurrent edit before giving up

Change = Callable[[RoutingTable], dict[str, Weights]]  # the table as read -> the models' new weights


def apply(adapter: GatewayAdapter, change: Change, *, action: str, target: str, reason: str,
          idempotency_key: str, dry_run: bool) -> WriteResult:
    try:
        return _apply_once(adapter, change, action=action, target=target, reason=reason,
                           idempotency_key=idempotency_key, dry_run=dry_run)
    except RoutesConflict:
        raise Conflict(f"{adapter.location} kept changing while this write was tried {WRITE_ATTEMPTS} times: "
                       "try again") from None


@retry(retry=retry_if_exception_type(RoutesConflict), stop=stop_after_attempt(WRITE_ATTEMPTS), reraise=True)
def _apply_once(adapter: GatewayAdapter, change: Change, *, action: str, target: str, reason: str,
                idempotency_key: str, dry_run: bool) -> WriteResult:
    def result(before: dict[str, Weights], after: dict[str, Weights], message: str, replayed: bool = False,
               ) -> WriteResult:
        return WriteResult(action=action, target=target, dry_run=dry_run, reason=reason,
                           idempotency_key=idempotency_key, replayed=replayed, before=before, after=after,
                           message=message)

    table = adapter.read_routes()
    done = table.change(idempotency_key)
    if done is not None:
        current = {m: table.models.get(m, {}) for m in done.changed}
        return result(current, current, f"idempotency key {idempotency_key!r} was already applied at {done.at} "
                      f"({done.reason}), setting {done.changed}: nothing done", replayed=True)
    changed = change(table)
    before = {m: table.models.get(m, {}) for m in changed}
    stored = adapter.write_routes(table.model_copy(update={"models": {**table.models, **changed}}), reason,
                                  idempotency_key, dry_run)
    after = {m: stored.models[m] for m in changed}
    verb = "would change" if dry_run else "changed"
    return result(before, after, f"{verb} the routes of {', '.join(changed)} in {adapter.location}"
                  + ("" if dry_run else "; the gateway applies them when it re-reads the routes"))
