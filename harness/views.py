"""Incidents as an on-call engineer reads them in a terminal: a table, or one incident's whole story."""

from __future__ import annotations

from collections.abc import Mapping

from agent.store import IncidentDetail, IncidentView, NotificationView


def paging(detail: IncidentDetail) -> str:
    """Whether people heard of an incident: where its page was accepted, that it is still owed, or that
    there was nobody to page."""
    pages = [n for n in detail.notifications if n.event == "escalated"]
    if not pages:
        unsent = any(a.kind == "escalate" and a.status == "failed" for a in detail.actions)
        return "NOBODY PAGED (no notifier)" if unsent else "-"
    delivered = [n.channel for n in pages if n.status == "delivered"]
    owed = [n for n in pages if n.status == "pending"]
    parts = ([f"paged via {', '.join(delivered)}"] if delivered else []) + \
        [f"NOT DELIVERED to {n.channel} ({n.attempts} tries)" for n in owed]
    return "; ".join(parts) or "superseded"


def incident_table(incidents: list[IncidentView], pages: Mapping[str, str] | None = None) -> str:
    if not incidents:
        return "no incidents"
    pages = pages or {}
    rows = [("ID", "STATUS", "SLO", "MODEL", "SEV", "OPENED", "ROOT CAUSE", "PAGE")]
    rows += [(i.id, i.status, i.slo, i.model or "-", i.severity, i.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
              i.diagnosis.root_cause if i.diagnosis else "-", pages.get(i.id, "-")) for i in incidents]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def incident_detail(detail: IncidentDetail) -> str:
    i = detail.incident
    lines = [f"{i.id}  {i.title}", f"status {i.status}, severity {i.severity}, detected by {i.detected_by}, "
             f"opened {i.opened_at:%Y-%m-%d %H:%M:%S}"]
    if i.diagnosis:
        lines += [f"diagnosis: {i.diagnosis.root_cause} on {i.diagnosis.component} "
                  f"(confidence {i.diagnosis.confidence:.2f})", *(f"  - {e}" for e in i.diagnosis.evidence[:8])]
    if i.summary:
        lines.append(f"summary: {i.summary}")
    lines += ["", "timeline:"] + [f"  {e.at:%H:%M:%S} {e.kind:<12} {e.message}" for e in detail.timeline]
    if detail.actions:
        lines += ["", "actions:"] + [f"  {a.id} {a.kind} {a.target}: {a.decision} -> {a.status}"
                                      + (f" (by {a.approval.decided_by} via {a.approval.via})" if a.approval else "")
                                      for a in detail.actions]
    if detail.notifications:
        lines += ["", "notifications:"] + [f"  {n.event} -> {n.channel}: {_delivery(n)}" for n in detail.notifications]
    return "\n".join(lines)


def _delivery(n: NotificationView) -> str:
    if n.status == "delivered" and n.delivered_at is not None:
        return f"delivered {n.delivered_at:%H:%M:%S}" + (f" after {n.attempts} tries" if n.attempts > 1 else "")
    if n.status == "pending":
        return f"NOT DELIVERED yet ({n.attempts} tries; last: {n.last_error or '-'}; next {n.next_attempt_at:%H:%M:%S})"
    return "superseded: the incident closed before it went out"
