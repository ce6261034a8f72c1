"""Alerts as a model reads them: Prometheus's rules joined with Alertmanager's view of them (silenced, inhibited,
by what), and silences as their API shows them (pure: API objects in, views out)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped
from mcp_servers.failures import Failure

SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "ticket": 2, "warning": 2, "info": 3}


class Alert(BaseModel):
    name: str
    severity: str | None
    state: Literal["firing", "pending"]
    labels: dict[str, str] = Field(description="labels other than alertname and severity")
    summary: str | None
    active_since: str | None
    value: float | None = Field(description="the rule's value when it fired (for SLO alerts, the burn rate)")
    in_prometheus: bool
    alertmanager_state: str | None = Field(description="active, suppressed or unprocessed; None: not in "
                                                       "Alertmanager (yet)")
    silenced_by: list[str]
    inhibited_by: list[str]


class AlertsReport(BaseModel):
    summary: str
    counts: dict[str, int]
    alerts: Capped[Alert] = Field(description="page/critical first, firing before pending, oldest first")
    warnings: list[str] = Field(description="a source that could not be read: its alerts are missing here")


def _alert_value(value: Any) -> float | None:
    """The value Prometheus renders as text ("1.2e+01", "NaN"): a finite number or nothing."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        return None
    return parsed if math.isfinite(parsed) else None


def from_prometheus(alert: dict[str, Any]) -> Alert:
    labels = dict(alert.get("labels", {}))
    return Alert(name=labels.pop("alertname", "?"), severity=labels.pop("severity", None),
                 state="pending" if alert.get("state") == "pending" else "firing", labels=labels,
                 summary=alert.get("annotations", {}).get("summary"), active_since=alert.get("activeAt"),
                 value=_alert_value(alert.get("value")), in_prometheus=True, alertmanager_state=None,
                 silenced_by=[], inhibited_by=[])


def merge_alertmanager(alerts: list[Alert], am_alerts: list[dict[str, Any]]) -> list[Alert]:
    """Joins Alertmanager's view onto Prometheus's alerts: same name, and Prometheus's labels a subset of
    Alertmanager's (which may add external labels). An alert only Alertmanager has is added as firing."""
    merged = list(alerts)
    for am in am_alerts:
        labels = dict(am.get("labels", {}))
        name, severity = labels.pop("alertname", "?"), labels.pop("severity", None)
        status = am.get("status", {})
        view = {"alertmanager_state": status.get("state"), "silenced_by": list(status.get("silencedBy") or []),
                "inhibited_by": list(status.get("inhibitedBy") or [])}
        for i, alert in enumerate(merged):
            if alert.name == name and alert.severity == severity and alert.labels.items() <= labels.items():
                merged[i] = alert.model_copy(update=view)
                break
        else:
            merged.append(Alert(name=name, severity=severity, state="firing", labels=labels,
                                summary=am.get("annotations", {}).get("summary"), active_since=am.get("startsAt"),
                                value=None, in_prometheus=False, **view))
    return merged


def _alert_order(alert: Alert) -> tuple[int, int, str]:
    return SEVERITY_RANK.get(alert.severity or "", 2), alert.state == "pending", alert.active_since or ""


def alerts_report(alerts: list[Alert], include_pending: bool, warnings: list[str], limit: int) -> AlertsReport:
    firing = [a for a in alerts if a.state == "firing"]
    silenced = [a for a in alerts if a.silenced_by or a.inhibited_by]
    counts = {"firing": len(firing), "pending": len(alerts) - len(firing), "silenced_or_inhibited": len(silenced)}
    for alert in firing:
        key = f"firing_{alert.severity or 'unlabelled'}"
        counts[key] = counts.get(key, 0) + 1
    shown = sorted(alerts if include_pending else firing, key=_alert_order)
    summary = f"{len(firing)} firing, {counts['pending']} pending, {len(silenced)} silenced or inhibited"
    if not include_pending and counts["pending"]:
        summary += " (pending not listed: include_pending=true)"
    if shown:
        top = shown[0]
        summary += f"; first: {top.name}{{{','.join(f'{k}={v}' for k, v in sorted(top.labels.items()))}}}"
        summary += " " + " ".join(part for part in (top.severity, top.state) if part)
    return AlertsReport(summary=summary, counts=counts, alerts=Capped.of(shown, limit), warnings=warnings)


# ------------------------------------------------------------------------------------------------ silences


class SilenceMatcher(BaseModel):
    name: str = Field(min_length=1)
    value: str
    isRegex: bool = False  # Alertmanager's own field names
    isEqual: bool = True


def silence_matchers(matchers: dict[str, str] | list[SilenceMatcher]) -> list[dict[str, Any]]:
    items = [SilenceMatcher(name=k, value=v) for k, v in matchers.items()] if isinstance(matchers, dict) \
        else matchers
    if not items:
        raise Failure("bad_input",
                      "a silence needs at least one matcher, e.g. {\"alertname\": \"ModelAvailabilityBudgetBurn\"}")
    return [m.model_dump() for m in items]


def silence_view(silence: dict[str, Any]) -> dict[str, Any]:
    return {"id": silence.get("id"), "state": silence.get("status", {}).get("state"),
            "matchers": silence.get("matchers"), "starts_at": silence.get("startsAt"),
            "ends_at": silence.get("endsAt"), "created_by": silence.get("createdBy"),
            "comment": silence.get("comment")}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def key_marker(key: str) -> str:
    return f"[idempotency-key: {key}]"
