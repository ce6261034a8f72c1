"""The channels that carry a page to people: Alertmanager (so the team's own routes page the right person)
and a generic outgoing webhook. A channel either accepts a message, saying who accepted it, or raises
`DeliveryFailed`; retrying is the notifier's job, not the channel's."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx

from agent.config import AlertmanagerNotify, WebhookNotify
from agent.notify.page import Page
from agent.slo.alertmanager import ESCALATION_ALERT
from agent.store import NotificationEvent

TIMEOUT_S = 10.0
HOLD_RESENDS = 4  # an escalation alert holds for this many re-send intervals, as Prometheus's alerts do


class DeliveryFailed(Exception):
    """The channel did not accept the message; the text says what it answered, or that it did not answer."""


class Channel(Protocol):
    name: str

    @property
    def resend_s(self) -> float | None:
        """How often an open escalation must be sent again for the channel to keep it; None: never."""

    async def send(self, event: NotificationEvent, page: Page, delivery_id: int) -> str:
        """Delivers once; `delivery_id` names the message, so that a receiver can drop a repeat."""

    async def aclose(self) -> None: ...


class AlertmanagerChannel:
    """Posts `FirebreakEscalation` alerts to Alertmanager's API v2. The alert's labels name the incident, so
    sending it again updates the same alert, and a resolution is the same alert with `endsAt` now."""

    name = "alertmanager"

    def __init__(self, config: AlertmanagerNotify, token: str = "") -> None:
        self.url = config.url.rstrip("/")
        self.resend_s: float = config.resend_s
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT_S)

    def alert(self, event: NotificationEvent, page: Page, now: datetime) -> dict[str, object]:
        ends = now if event == "resolved" else now + timedelta(seconds=HOLD_RESENDS * self.resend_s)
        labels = {"alertname": ESCALATION_ALERT, "incident": page.incident, "model": page.model, "slo": page.slo,
                  "severity": page.severity, "service": "firebreak"}
        annotations = {"summary": f"Firebreak hands {page.incident} to on-call: {page.title}",
                       "description": f"{page.reason}. {page.where_to_look}.",
                       "evidence": "\n".join(page.evidence) or "none gathered", "link": page.link}
        return {"labels": {k: v for k, v in labels.items() if v},
                "annotations": {k: v for k, v in annotations.items() if v},
                "startsAt": page.escalated_at.isoformat(), "endsAt": ends.isoformat(),
                **({"generatorURL": page.link} if page.link else {})}

    async def send(self, event: NotificationEvent, page: Page, delivery_id: int) -> str:
        body = [self.alert(event, page, datetime.now(UTC))]  # its labels make a repeat the same alert
        try:
            response = await self._http.post(f"{self.url}/api/v2/alerts", json=body)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"Alertmanager at {self.url} is unreachable: {type(error).__name__}: {error}") \
                from None
        if response.status_code != 200:
            raise DeliveryFailed(f"Alertmanager at {self.url} answered HTTP {response.status_code}: "
                                 f"{response.text.strip()[:300]}")
        return f"Alertmanager at {self.url}"

    async def aclose(self) -> None:
        await self._http.aclose()


class WebhookChannel:
    """POSTs the page as JSON. With a secret, `X-Firebreak-Signature: v1=HEX` is the HMAC-SHA256 of
    `v1:<X-Firebreak-Timestamp>:<body>`, so a receiver can check who sent it and refuse an old replay."""

    name = "webhook"
    resend_s: float | None = None

    def __init__(self, config: WebhookNotify, token: str = "", secret: str = "") -> None:
        self.url, self._secret = config.url, secret.encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        self._http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT_S)

    def signed(self, body: bytes, timestamp: int) -> dict[str, str]:
        if not self._secret:
            return {}
        digest = hmac.new(self._secret, f"v1:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Firebreak-Timestamp": str(timestamp), "X-Firebreak-Signature": f"v1={digest}"}

    async def send(self, event: NotificationEvent, page: Page, delivery_id: int) -> str:
        body = json.dumps({"version": "1", "id": delivery_id, "event": event,
                           **page.model_dump(mode="json")}).encode()
        try:
            response = await self._http.post(self.url, content=body, headers=self.signed(body, int(time.time())))
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"webhook {self.url} is unreachable: {type(error).__name__}: {error}") from None
        if not response.is_success:
            raise DeliveryFailed(f"webhook {self.url} answered HTTP {response.status_code}: "
                                 f"{response.text.strip()[:300]}")
        return f"webhook {self.url} (HTTP {response.status_code})"

    async def aclose(self) -> None:
        await self._http.aclose()
