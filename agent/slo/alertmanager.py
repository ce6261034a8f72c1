"""Alertmanager configuration that delivers SLO alerts to the agent's webhook, and Firebreak's own to people.

SLO alerts go to the agent, grouped per SLO instance (`slo`, `model`), resolved notifications on, a ticket
inhibited while the page of the same SLO fires. The alerts Firebreak raises itself, `FirebreakEscalation`
(an incident it hands to people) and `FirebreakDown` (its dead man's switch), go to the `on-call` receiver
and never back to the agent, which could not act on them. Timers follow the time scale: Alertmanager's
defaults (group_wait 30s, group_interval 5m, repeat_interval 4h) divided by K, with floors so that a
compressed sandbox does not hammer the webhook.
"""

from __future__ import annotations

from typing import Any

from agent.slo.durations import scale_seconds
from agent.slo.rules import DOWN_ALERT, dump_yaml
from mcp_servers.prometheus.durations import format_duration

RECEIVER = "firebreak-agent"
GROUP_BY = ("slo", "model")
ONCALL_RECEIVER = "on-call"
ESCALATION_ALERT = "FirebreakEscalation"
# One page per escalated incident; FirebreakDown has no `incident` and groups on its name alone.
ONCALL_GROUP_BY = ("alertname", "incident")
# Alertmanager anchors the regex: exactly these two names.
FIREBREAK_ALERTS = f'alertname=~"{ESCALATION_ALERT}|{DOWN_ALERT}"'
NOT_FIREBREAK_ALERTS = f'alertname!~"{ESCALATION_ALERT}|{DOWN_ALERT}"'
# (SLO-time value in seconds, wall-clock floor in seconds)
GROUP_WAIT = (30.0, 1.0)
GROUP_INTERVAL = (300.0, 1.0)
REPEAT_INTERVAL = (4 * 3600.0, 10.0)
RESOLVE_TIMEOUT = (300.0, 5.0)


def _timer(spec: tuple[float, float], time_scale: float) -> str:
    seconds, floor = spec
    return format_duration(scale_seconds(seconds, time_scale, floor))


def _http_config(bearer_token: str | None, bearer_token_file: str | None) -> dict[str, Any] | None:
    if bearer_token is not None and bearer_token_file is not None:
        raise ValueError("give either bearer_token or bearer_token_file, not both")
    if bearer_token is not None:
        return {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    if bearer_token_file is not None:
        return {"authorization": {"type": "Bearer", "credentials_file": bearer_token_file}}
    return None


def alertmanager_config(
    webhook_url: str,
    bearer_token: str | None,
    time_scale: float = 1.0,
    *,
    bearer_token_file: str | None = None,
    oncall_webhook_url: str | None = None,
) -> dict[str, Any]:
    """The configuration as a dict (see `render_alertmanager_config`)."""
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True, "max_alerts": 0}
    http_config = _http_config(bearer_token, bearer_token_file)
    if http_config:
        webhook["http_config"] = http_config
    timers = {
        "group_wait": _timer(GROUP_WAIT, time_scale),
        "group_interval": _timer(GROUP_INTERVAL, time_scale),
        "repeat_interval": _timer(REPEAT_INTERVAL, time_scale),
    }
    # Alertmanager accepts a receiver with only a name (it drops what it is sent): the team adds its
    # PagerDuty, Opsgenie or Slack configs; tests give a webhook.
    oncall: dict[str, Any] = {"name": ONCALL_RECEIVER}
    if oncall_webhook_url is not None:
        oncall["webhook_configs"] = [{"url": oncall_webhook_url, "send_resolved": True}]
    return {
        # Prometheus always sets EndsAt, so this only matters for alerts pushed by other clients.
        "global": {"resolve_timeout": _timer(RESOLVE_TIMEOUT, time_scale)},
        "route": {
            "receiver": RECEIVER,
            "group_by": list(GROUP_BY),
            **timers,
            "routes": [
                {
                    # Firebreak's own alerts are for people: routed back to the agent, an escalation would
                    # open an incident about itself, and a FirebreakDown would go to the agent that is down.
                    "receiver": ONCALL_RECEIVER,
                    "matchers": [FIREBREAK_ALERTS],
                    "group_by": list(ONCALL_GROUP_BY),
                    "continue": False,
                    # The same scaled timers, written out so that the team can tune paging on its own.
                    **timers,
                }
            ],
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [webhook]}, oncall],
        "inhibit_rules": [
            {
                # A page already says the budget is burning fast; the ticket for the same SLO is noise.
                # Firebreak's alerts take no part on either side: an escalation carries `slo`, `model` and
                # maybe severity="ticket", yet a person must always get it; and FirebreakDown has neither
                # label, which `equal` treats as equal to any alert that lacks them too.
                "source_matchers": ['severity="page"', NOT_FIREBREAK_ALERTS],
                "target_matchers": ['severity="ticket"', NOT_FIREBREAK_ALERTS],
                "equal": list(GROUP_BY),
            }
        ],
    }


def render_alertmanager_config(
    webhook_url: str,
    bearer_token: str | None,
    time_scale: float = 1.0,
    *,
    bearer_token_file: str | None = None,
    oncall_webhook_url: str | None = None,
) -> str:
    """Alertmanager YAML routing SLO alerts to `webhook_url` (Alertmanager webhook payload v4), and
    FirebreakEscalation and FirebreakDown to the `on-call` receiver.

    Authenticates with `Authorization: Bearer <bearer_token>`, or, for production where the token lives
    in a mounted Secret, with `bearer_token_file`; with neither, no authorization header is sent.
    `oncall_webhook_url` gives `on-call` a webhook (send_resolved); without it `on-call` has no
    integration until the team adds one.
    """
    header = (
        "# Generated by Firebreak from its SLO settings: regenerate rather than edit by hand.\n"
        f"# Time scale {time_scale:g}: Alertmanager's timers divided by {time_scale:g} (with floors).\n"
        f"# SLO alerts go to the agent ({RECEIVER}). {ESCALATION_ALERT} (an incident the agent hands to\n"
        f"# people) and {DOWN_ALERT} (the agent itself is down) go to the `{ONCALL_RECEIVER}` receiver,\n"
        "# never to the agent. A team fills that receiver in with its pagerduty_configs, opsgenie_configs or\n"
        "# slack_configs; left with none, Alertmanager accepts it and drops what it is sent.\n"
    )
    config = alertmanager_config(
        webhook_url,
        bearer_token,
        time_scale,
        bearer_token_file=bearer_token_file,
        oncall_webhook_url=oncall_webhook_url,
    )
    return header + dump_yaml(config)
