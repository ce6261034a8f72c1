"""On-call's commands on the agent's database: `incidents`, `approve`, `deny` and `resolve`. They work on the
database alone; the running agent picks up a decision on its next tick."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

if TYPE_CHECKING:
    from agent.store import IncidentStatus

Database = Annotated[str, typer.Option("--db", envvar="FIREBREAK_DB_URL", metavar="URL",
                                       help="The agent's database (sqlite:///PATH or postgresql+psycopg://...).")]
DEFAULT_DB = "sqlite:///firebreak.db"
Decider = Annotated[str, typer.Option("--by", envvar="USER", help="Who decides, for the audit log.")]


def incidents(
    incident: Annotated[str | None, typer.Argument(metavar="ID", show_default=False,
                                                   help="An incident (INC-0003) to show in full: its timeline, "
                                                   "diagnosis, actions with their decisions, and pages.")] = None,
    db: Database = DEFAULT_DB,
    status: Annotated[str | None, typer.Option(help="Only incidents in this status: open, investigating, "
                                               "awaiting_approval, mitigating, resolved or escalated.")] = None,
) -> None:
    """List incidents (50 at most), or show one.

    The table says who was paged for each (PAGE: "paged via alertmanager", "NOT DELIVERED ... (N tries)" or
    "NOBODY PAGED"). Exits 1 for an unknown incident.
    """
    from agent.store import Store
    from harness.views import incident_detail, incident_table, paging

    with Store.open(db) as store:
        if incident:
            print(incident_detail(store.get_incident(incident)))
        else:
            found = store.list_incidents(status=cast("IncidentStatus | None", status), limit=50)
            pages = {i.id: paging(store.get_incident(i.id)) for i in found}
            print(incident_table(found, pages))


Action = Annotated[str, typer.Argument(metavar="ID", help="The action (ACT-0004), or its incident (INC-0003) when "
                                       "that has one action pending.")]
Comment = Annotated[str | None, typer.Option(help="Why, for the audit log.")]


def approve(action: Action, db: Database = DEFAULT_DB, by: Decider = "cli", comment: Comment = None) -> None:
    """Approve an action waiting for a person; the agent runs it on its next tick.

    Exits 1 if the action is not waiting (decided already, or unknown).
    """
    _decide(action, True, db, by, comment)


def deny(action: Action, db: Database = DEFAULT_DB, by: Decider = "cli", comment: Comment = None) -> None:
    """Deny an action waiting for a person; the agent resumes without it on its next tick.

    Exits 1 if the action is not waiting (decided already, or unknown).
    """
    _decide(action, False, db, by, comment)


def _decide(action_ref: str, approved: bool, db: str, by: str, comment: str | None) -> None:
    from agent.store import Store

    with Store.open(db) as store:
        action = store.decide_approval(action_ref, approved, decided_by=by, via="cli", comment=comment)
    print(f"{action.id} {action.kind} {action.target}: {action.status} by {by}; the agent resumes on its next tick")


def resolve(
    incident: Annotated[str, typer.Argument(metavar="ID", help="The incident (INC-0003).")],
    db: Database = DEFAULT_DB,
    by: Annotated[str, typer.Option("--by", envvar="USER", help="Who closes it, for the audit log.")] = "cli",
    comment: Annotated[str, typer.Option(help="What was done.")] = "",
) -> None:
    """Close an incident a person has taken over.

    Marks it resolved; the running agent then tells every channel that took its page (Alertmanager resolves the
    alert). Exits 1 for an unknown incident.
    """
    from agent.store import Store

    reason = f"closed by {by}" + (f": {comment}" if comment else "")
    with Store.open(db) as store:
        closed = store.set_status(incident, "resolved", actor=by, reason=reason)
    print(f"{closed.id} resolved by {by}; the agent tells whoever took its page on its next tick")
