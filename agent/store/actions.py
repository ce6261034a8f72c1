"""Actions and their approvals: the remediation rule as a state machine.

An action exists only as a recorded policy decision, and nothing runs without one: the verdict chooses the
status it starts in (`START`), and `TRANSITIONS` says which status may follow which, for every write here.
Only a claim enters `executing`, with one conditional UPDATE, so of any number of threads or processes
holding the same idempotency key exactly one is told to act, also after a restart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from agent.store import audit
from agent.store.errors import Conflict, NotFound
from agent.store.lookup import action_by_key, incident_row
from agent.store.models import ActionRow, ApprovalRow
from agent.store.schemas import (
    ACTION_PREFIX,
    INCIDENT_PREFIX,
    ActionDecision,
    ActionStatus,
    ActionView,
    ApprovalDecision,
    make_ref,
    parse_ref,
)
from agent.store.transactions import Note, Transaction, Transactions
from agent.vocabulary import Verdict

# The status a recorded decision starts in.
START: dict[Verdict, ActionStatus] = {"allow": "decided", "require_approval": "awaiting_approval", "deny": "denied"}
# Which status may follow which; a status that nothing may follow is final.
TRANSITIONS: dict[ActionStatus, tuple[ActionStatus, ...]] = {
    "decided": ("executing",),
    "awaiting_approval": ("approved", "denied", "expired"),
    "approved": ("executing",),
    "executing": ("succeeded", "failed"),
    "succeeded": ("reverted",),
    "failed": ("reverted",),
    "denied": (),
    "expired": (),
    "reverted": (),
}
_ACTION_STATUS = TypeAdapter(ActionStatus)


def may_follow(status: ActionStatus) -> tuple[ActionStatus, ...]:
    """The statuses that `status` may follow."""
    return tuple(source for source, targets in TRANSITIONS.items() if status in targets)


class ActionStore(Transactions):
    def record_decision(self, decision: ActionDecision | Mapping[str, Any], *, actor: str = "policy") -> ActionView:
        """Record a policy decision before anything acts on it. Recording the same decision again (a restart)
        returns the stored action; the same key for a different action is a Conflict."""
        decision = ActionDecision.model_validate(decision)
        with self._write() as tx:
            tx.lock([f"decision:{decision.idempotency_key}"])  # recorded once, however many record it at once
            known = action_by_key(tx.session, decision.idempotency_key)
            if known is not None:
                if _decision_of(known) != _normalised(decision):
                    raise Conflict(f"idempotency key {decision.idempotency_key!r} already names another decision")
                return ActionView.of(known)
            incident = incident_row(tx.session, decision.incident_id)
            action = ActionRow(
                incident_id=incident.id,
                idempotency_key=decision.idempotency_key,
                kind=decision.kind,
                target=decision.target,
                params=audit.normalise_data(decision.params),
                decision=decision.decision,
                reasons=list(decision.reasons),
                status=START[decision.decision],
                decided_at=tx.now(),
            )
            tx.session.add(action)
            tx.session.flush()
            action_ref = _action_ref(action)
            tx.record(
                actor,
                "action.decided",
                incident.id,
                {"action": action_ref, **_normalised(decision)},
                Note("decision",
                     f"{decision.decision}: {decision.kind} {decision.target}: {'; '.join(decision.reasons) or '-'}",
                     {"action": action_ref, "reasons": decision.reasons}),
            )
            return ActionView.of(action)

    def claim_for_execution(self, idempotency_key: str, *, actor: str = "agent") -> bool:
        """True exactly once per allowed (or approved) decision: the caller may act. False when the key has no
        recorded decision, was denied, awaits approval, or was claimed before (by anyone, at any time)."""
        with self._write() as tx:
            # The UPDATE locks the row and re-checks the status after any concurrent claim committed.
            claimed = cast(  # an UPDATE's result is a cursor's: it counts the rows it changed
                "CursorResult[Any]",
                tx.session.execute(
                    update(ActionRow)
                    .where(ActionRow.idempotency_key == idempotency_key,
                           ActionRow.status.in_(may_follow("executing")))
                    .values(status="executing", executed_at=tx.now())
                    .execution_options(synchronize_session=False)
                ),
            )
            if claimed.rowcount != 1:
                return False
            action = action_by_key(tx.session, idempotency_key)
            assert action is not None  # the UPDATE just matched it
            action_ref = _action_ref(action)
            tx.record(actor, "action.executing", action.incident_id, {"action": action_ref, "key": idempotency_key},
                      Note("action", f"executing: {action.kind} {action.target}", {"action": action_ref}))
            return True

    def finish_action(
        self, idempotency_key: str, ok: bool, result: Mapping[str, Any] | None = None, *, actor: str = "agent"
    ) -> ActionView:
        """Record the outcome of a claimed action."""
        return self._record_outcome(idempotency_key, "succeeded" if ok else "failed", result, actor)

    def mark_reverted(
        self, idempotency_key: str, result: Mapping[str, Any] | None = None, *, actor: str = "agent"
    ) -> ActionView:
        """Record that a finished action was undone (its verification failed)."""
        return self._record_outcome(idempotency_key, "reverted", result, actor)

    def decide_approval(
        self, ref: str, approve: bool, *, decided_by: str, via: str = "cli", comment: str | None = None
    ) -> ActionView:
        """A person approves or denies a pending action. `ref` is the action (`ACT-0003`) or its incident
        (`INC-0007`) when that has exactly one pending approval. Deciding twice is a Conflict."""
        if approve:
            return self._answer_approval(ref, "approved", "approve", decided_by, via, comment)
        return self._answer_approval(ref, "denied", "deny", decided_by, via, comment)

    def expire_approval(self, ref: str, *, actor: str = "timeout") -> ActionView:
        """Nobody decided in time: the action can no longer run (the caller escalates)."""
        return self._answer_approval(ref, "expired", "timeout", actor, "timeout", None)

    def get_action(self, idempotency_key: str) -> ActionView | None:
        with self._read() as session:
            action = action_by_key(session, idempotency_key)
            return ActionView.of(action) if action is not None else None

    def pending_approvals(self, incident_id: str | None = None) -> list[ActionView]:
        query = select(ActionRow).where(ActionRow.status == "awaiting_approval").order_by(ActionRow.id)
        if incident_id is not None:
            query = query.where(ActionRow.incident_id == parse_ref(INCIDENT_PREFIX, incident_id))
        with self._read() as session:
            return [ActionView.of(row) for row in session.scalars(query)]

    def recent_actions(
        self,
        target: str,
        within: timedelta,
        *,
        kinds: Collection[str] | None = None,
        statuses: Collection[ActionStatus] | None = None,
    ) -> list[ActionView]:
        """Actions on `target` decided in the last `within`, oldest first: the input of the policy's rate
        limits (pass `statuses=EXECUTED_STATUSES` to count only what touched the world)."""
        query = (
            select(ActionRow)
            .where(ActionRow.target == target, ActionRow.decided_at >= self._clock() - within)
            .order_by(ActionRow.decided_at, ActionRow.id)
        )
        if kinds is not None:
            query = query.where(ActionRow.kind.in_(list(kinds)))
        if statuses is not None:
            query = query.where(ActionRow.status.in_(list(statuses)))
        with self._read() as session:
            return [ActionView.of(row) for row in session.scalars(query)]

    def action_counts(self, incident_id: str) -> dict[ActionStatus, int]:
        """How many of an incident's actions are in each status (the per-incident cap's input)."""
        number = parse_ref(INCIDENT_PREFIX, incident_id)
        query = (
            select(ActionRow.status, func.count()).where(ActionRow.incident_id == number).group_by(ActionRow.status)
        )
        with self._read() as session:
            return {_ACTION_STATUS.validate_python(status): count for status, count in session.execute(query)}

    def _record_outcome(
        self, key: str, status: ActionStatus, result: Mapping[str, Any] | None, actor: str
    ) -> ActionView:
        with self._write() as tx:
            action = action_by_key(tx.session, key, for_update=True)
            if action is None:
                raise NotFound(f"no action with idempotency key {key!r}")
            record_outcome(tx, action, status, result, actor)
            return ActionView.of(action)

    def _answer_approval(
        self, ref: str, status: ActionStatus, decision: ApprovalDecision, decided_by: str, via: str,
        comment: str | None,
    ) -> ActionView:
        with self._write() as tx:
            action = _awaiting_approval(tx.session, ref)
            _move(action, status)
            action.approval = ApprovalRow(
                decision=decision, decided_by=decided_by, via=via, at=tx.now(), comment=comment
            )
            tx.session.flush()  # the approval's key, for the view
            action_ref = _action_ref(action)
            tx.record(
                decided_by,
                f"approval.{decision}",
                action.incident_id,
                {"action": action_ref, "via": via, "comment": comment},
                Note("approval", f"{decision} by {decided_by} via {via}: {action.kind} {action.target}",
                     {"action": action_ref, "comment": comment}),
            )
            return ActionView.of(action)


def record_outcome(
    tx: Transaction, action: ActionRow, status: ActionStatus, result: Mapping[str, Any] | None, actor: str
) -> None:
    """What an executed action came to (succeeded, failed) or that it was reverted, with its result."""
    _move(action, status)
    action.finished_at = tx.now()
    action.result = audit.normalise_data(dict(result or {}))
    action_ref = _action_ref(action)
    tx.record(actor, f"action.{status}", action.incident_id, {"action": action_ref, "result": action.result},
              Note("action", f"{status}: {action.kind} {action.target}", {"action": action_ref,
                                                                          "result": action.result}))


def _move(action: ActionRow, status: ActionStatus) -> None:
    current = _ACTION_STATUS.validate_python(action.status)
    if status not in TRANSITIONS[current]:
        raise Conflict(f"{_action_ref(action)} is {current}, not {' or '.join(may_follow(status))}")
    action.status = status


def _action_ref(action: ActionRow) -> str:
    return make_ref(ACTION_PREFIX, action.id)


def _awaiting_approval(session: Session, ref: str) -> ActionRow:
    """The action a person means by `ACT-n`, or by `INC-n` when that incident waits on one approval only,
    locked, so that of two answers to one approval (a person's, the timeout's) the second sees the first."""
    if ref.strip().upper().startswith(f"{INCIDENT_PREFIX}-"):
        incident = incident_row(session, ref)
        pending = session.scalars(
            select(ActionRow)
            .where(ActionRow.incident_id == incident.id, ActionRow.status == "awaiting_approval")
            .with_for_update(key_share=True)
        ).all()
        if len(pending) != 1:
            raise Conflict(f"{ref} has {len(pending)} actions awaiting approval: name one (ACT-...)")
        return pending[0]
    try:
        number = parse_ref(ACTION_PREFIX, ref)
    except ValueError as exc:
        raise NotFound(str(exc)) from exc
    action = session.get(ActionRow, number, with_for_update={"key_share": True})
    if action is None:
        raise NotFound(f"no action {ref}")
    if action.status != "awaiting_approval":
        raise Conflict(f"{make_ref(ACTION_PREFIX, action.id)} is {action.status}, not awaiting approval")
    return action


def _normalised(decision: ActionDecision) -> dict[str, Any]:
    return audit.normalise_data(decision.model_dump())


def _decision_of(action: ActionRow) -> dict[str, Any]:
    return _normalised(ActionDecision.model_validate({
        "incident_id": action.incident_id, "idempotency_key": action.idempotency_key, "kind": action.kind,
        "target": action.target, "params": action.params, "decision": action.decision, "reasons": action.reasons,
    }))
