"""The notifier: owes each page on every configured channel, tries it at once, and keeps trying with
back-off until a channel accepts it. What is owed lives in the store (an outbox), so a failed or
interrupted delivery is retried after a restart too, and shows in the timeline until it goes through.

One lock orders every send of this process: a page in flight is settled before the incident's closing
reads it, and a re-send never overtakes a resolution. With several replicas on one database each would
send what is due (at least once, never lost); the service runs as one replica until leader election lands.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

from agent.config import NotifyConfig
from agent.notify.channels import AlertmanagerChannel, Channel, DeliveryFailed, WebhookChannel
from agent.notify.page import Page
from agent.store import AsyncStore, NotificationView, utc_now

log = logging.getLogger("firebreak.notify")

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 60.0  # a page is late by at most this once its channel is back


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling from 2 s, at most a minute."""
    return min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S)


class Notifier:
    def __init__(self, channels: list[Channel], *, incident_link: str = "") -> None:
        self.channels = {channel.name: channel for channel in channels}
        self.incident_link = incident_link
        self._turn = asyncio.Lock()

    @classmethod
    def from_config(cls, config: NotifyConfig) -> Notifier:
        """The configured channels; a secret the configuration names but the environment lacks is an error,
        not a page sent unauthenticated."""
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

    @property
    def resend_s(self) -> float | None:
        """How often open escalations must be sent again: the shortest interval a channel asks for."""
        return min((c.resend_s for c in self.channels.values() if c.resend_s), default=None)

    async def escalate(self, store: AsyncStore, incident_id: str, reason: str, action_key: str) -> None:
        """Owes the page on every channel and tries them now; `action_key`'s escalate action succeeds when the
        first channel accepts it, now or on a later try."""
        page = Page.of(await store.get_incident(incident_id), reason, utc_now(), self.incident_link)
        async with self._turn:
            await store.queue_page(incident_id, page.model_dump(mode="json"), list(self.channels),
                                   action_key=action_key)
            await self._deliver_due(store)

    async def deliver_due(self, store: AsyncStore) -> None:
        async with self._turn:
            await self._deliver_due(store)

    async def resend_open(self, store: AsyncStore) -> None:
        """Sends open escalations again to channels that forget an alert nobody repeats (Alertmanager)."""
        async with self._turn:
            for channel in (c for c in self.channels.values() if c.resend_s):
                for notification in await store.open_escalations(channel.name):
                    try:
                        await channel.send("escalated", Page.model_validate(notification.message), notification.id)
                    except Exception as error:  # noqa: BLE001 - one failed re-send must not stop the others
                        log.warning("could not send the open escalation of %s to %s again: %s",
                                    notification.incident_id, channel.name, error)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    async def _deliver_due(self, store: AsyncStore) -> None:
        for notification in await store.due_notifications():
            await self._deliver(store, notification)

    async def _deliver(self, store: AsyncStore, notification: NotificationView) -> None:
        """One owed message, once. Whatever goes wrong is a failed attempt of this one message, recorded and
        retried: never an error that would stop the messages behind it."""
        try:
            channel = self.channels.get(notification.channel)
            if channel is None:
                raise DeliveryFailed(f"no {notification.channel} channel is configured any more (notify: in the "
                                     "agent's configuration)")
            page = Page.model_validate(notification.message)
            accepted_by = await channel.send(notification.event, page, notification.id)
        except Exception as error:  # noqa: BLE001 - see the docstring
            why = str(error) if isinstance(error, DeliveryFailed) else f"{type(error).__name__}: {error}"
            delay = retry_delay(notification.attempts + 1)
            log.warning("%s of %s not delivered to %s (attempt %d): %s; retrying in %.0f s", notification.event,
                        notification.incident_id, notification.channel, notification.attempts + 1, why, delay)
            await store.notification_failed(notification.id, why, timedelta(seconds=delay))
            return
        log.info("%s of %s delivered to %s", notification.event, notification.incident_id, accepted_by)
        await store.notification_delivered(notification.id, accepted_by)


def _secret(env_var: str) -> str:
    if not env_var:
        return ""
    value = os.environ.get(env_var, "")
    if not value:
        raise ValueError(f"notify: ${env_var} is named in the configuration but not set")
    return value
