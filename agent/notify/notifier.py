"""The notifier: owes each page on every configured channel, tries it at once, and keeps trying with
back-off until a channel accepts it. What is owed lives in the store (an outbox), so a failed or
interrupted delivery is retried after a restart too, and shows in the timeline until it goes through."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta

from agent.config import NotifyConfig
from agent.notify.channels import AlertmanagerChannel, Channel, DeliveryFailed, WebhookChannel
from agent.notify.page import Page
from agent.store import NotificationView, Store, utc_now

log = logging.getLogger("firebreak.notify")

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 300.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling from 2 s, at most 5 minutes."""
    return min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S)


class Notifier:
    def __init__(self, channels: list[Channel], *, incident_link: str = "") -> None:
        self.channels = {channel.name: channel for channel in channels}
        self.incident_link = incident_link
        self._turn = asyncio.Lock()  # one delivery pass at a time, so no message goes out twice at once

    @classmethod
    def from_config(cls, config: NotifyConfig) -> Notifier:
        channels: list[Channel] = []
        if config.alertmanager is not None:
            channels.append(AlertmanagerChannel(config.alertmanager, _secret(config.alertmanager.bearer_token_env)))
        if config.webhook is not None:
            channels.append(WebhookChannel(config.webhook, _secret(config.webhook.token_env),
                                           _secret(config.webhook.hmac_secret_env)))
        return cls(channels, incident_link=config.incident_link)

    @property
    def configured(self) -> bool:
        return bool(self.channels)

    async def escalate(self, store: Store, incident_id: str, reason: str, action_key: str) -> None:
        """Owes the page on every channel and tries them now; `action_key`'s escalate action succeeds when the
        first channel accepts it, now or on a later try."""
        page = Page.of(store.get_incident(incident_id), reason, utc_now(), self.incident_link)
        store.queue_notifications(incident_id, "escalated", page.model_dump(mode="json"), list(self.channels),
                                  action_key=action_key)
        await self.deliver_due(store)

    async def resolve(self, store: Store, incident_id: str, reason: str) -> None:
        """Tells every channel that took the page that the incident is closed."""
        detail = store.get_incident(incident_id)
        paged = next((n for n in reversed(detail.notifications) if n.event == "escalated"), None)
        if paged is None:
            return
        page = Page.model_validate({**paged.message, "reason": reason})
        store.queue_notifications(incident_id, "resolved", page.model_dump(mode="json"), list(self.channels))
        await self.deliver_due(store)

    async def deliver_due(self, store: Store) -> None:
        async with self._turn:
            for notification in store.due_notifications():
                await self._deliver(store, notification)

    async def resend_open(self, store: Store) -> None:
        """Sends open escalations again to channels that forget an alert nobody repeats (Alertmanager)."""
        for channel in (c for c in self.channels.values() if c.resend_s):
            for notification in store.open_escalations(channel.name):
                try:
                    await channel.send("escalated", Page.model_validate(notification.message))
                except DeliveryFailed as error:
                    log.warning("could not send the open escalation of %s again: %s", notification.incident_id, error)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    async def _deliver(self, store: Store, notification: NotificationView) -> None:
        channel = self.channels.get(notification.channel)
        try:
            if channel is None:
                raise DeliveryFailed(f"no {notification.channel} channel is configured any more (notify: in the "
                                     "agent's configuration)")
            accepted_by = await channel.send(notification.event, Page.model_validate(notification.message))
        except DeliveryFailed as error:
            retry_at = utc_now() + timedelta(seconds=retry_delay(notification.attempts + 1))
            log.warning("%s of %s not delivered to %s (attempt %d): %s; retrying at %s", notification.event,
                        notification.incident_id, notification.channel, notification.attempts + 1, error,
                        _clock(retry_at))
            store.notification_failed(notification.id, str(error), retry_at)
            return
        log.info("%s of %s delivered to %s", notification.event, notification.incident_id, accepted_by)
        store.notification_delivered(notification.id, accepted_by)


def _secret(env_var: str) -> str:
    return os.environ.get(env_var, "") if env_var else ""


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")
