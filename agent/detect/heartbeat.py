"""The agent's own metrics, served at /metrics: first of all a heartbeat, which the generated rules'
`FirebreakDown` alert watches, so that people hear of it when Firebreak itself stops working."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from agent.slo.rules import HEARTBEAT_METRIC


class AgentMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._heartbeat = Gauge(HEARTBEAT_METRIC, "Unix time of the agent's last pass of its burn-rate watch that "
                                "read the burn rates; it stops advancing when the agent stops working or seeing",
                                registry=self.registry)

    def beat(self) -> None:
        self._heartbeat.set(time.time())

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
