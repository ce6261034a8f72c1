"""Incidents as an on-call engineer reads them in a terminal: a table, or one incident's whole story."""

from __future__ import annotations

from agent.store import IncidentDetail, IncidentView


def incident_table(incidents: list[IncidentView]) -> str:
    if not incidents:
        return "no incidents"
    rows = [("ID", "STATUS", "SLO", "MODEL", "SEV", "OPENED", "ROOT CAUSE")]
    rows += [(i.id, i.status, i.slo, i.model or "-", i.severity, i.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
              i.diagnosis.root_cause if i.diagnosis else "-") for i in incidents]
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
    return "\n".join(lines)
