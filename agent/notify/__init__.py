"""How people hear of what the agent cannot close: pages through Alertmanager or a webhook, owed in the
store until a channel accepts them."""

from agent.notify.channels import AlertmanagerChannel, Channel, DeliveryFailed, WebhookChannel
from agent.notify.notifier import Notifier, retry_delay
from agent.notify.page import Page

__all__ = ["AlertmanagerChannel", "Channel", "DeliveryFailed", "Notifier", "Page",
           "WebhookChannel", "retry_delay"]
