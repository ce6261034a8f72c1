"""The agent's own burn-rate watch: reads `slo_status` through the MCP tools every few seconds, opens the
incidents Alertmanager has not (yet) sent, notes when a burn stops, and closes an escalated incident that
is over by itself: its burn is known to be calm, its page went out, and the agent left no change in the
fleet that nobody verified (those wait for a person: `firebreak resolve`)."""

from __future__ import annotations

import logging

from agent.detect.burn import SloReading, readings
from agent.notify import Notifier
from agent.store import AsyncStore, IncidentDetail, IncidentOpen, IncidentView
from agent.tools import ToolClient

log = logging.getLogger("firebreak.watcher")


class BurnWatcher:
    def __init__(self, tools: ToolClient, store: AsyncStore, notifier: Notifier) -> None:
        self.tools = tools
        self.store = store
        self.notifier = notifier
        self.blind = ""
        self._calm_noted: set[str] = set()

    async def check(self) -> list[IncidentView]:
        """One pass: returns the incidents it opened."""
        status = await self.tools.call("slo_status", {})
        if not status.ok:
            if status.error != self.blind:
                log.warning("watcher cannot read the burn rates: %s", status.error)
            self.blind = status.error
            return []
        self.blind = ""
        opened = []
        for reading in readings(status.data):
            if reading.status != "ok" and reading.burning_now:  # still burning, not the echo of a stopped burn
                incident = await self._open_incident(reading)
                if incident is not None:
                    opened.append(incident)
            else:
                await self._close_or_note_calm(reading)
        return opened

    async def _open_incident(self, reading: SloReading) -> IncidentView | None:
        result = await self.store.open_incident(IncidentOpen(
            slo=reading.slo, model=reading.model or None, severity=reading.status.removeprefix("burning-"),
            title=f"{reading.model} {reading.slo} SLO is burning ({reading.status})", detected_by="watcher"),
            actor="watcher")
        if result.created:
            log.info("watcher opened %s: %s %s %s", result.incident.id, reading.model, reading.slo, reading.status)
            self._calm_noted.discard(result.incident.id)
            return result.incident
        return None

    async def _close_or_note_calm(self, reading: SloReading) -> None:
        incident = await self.store.active_incident(reading.slo, reading.model or None)
        if incident is None or reading.short_burn is None or reading.burning_now:
            return  # a burn it cannot read is never calm
        if incident.status == "escalated" and reading.status != "burning-page" and \
                _over_by_itself(await self.store.get_incident(incident.id)):
            why = f"{reading.model} {reading.slo} no longer burns its error budget fast enough to page: closed"
            await self.store.set_status(incident.id, "resolved", actor="watcher", reason=why)
            await self.notifier.deliver_due(self.store)  # the resolution, to whoever took the page
            return
        if incident.id in self._calm_noted:
            return
        self._calm_noted.add(incident.id)
        await self.store.add_timeline(incident.id, "note", f"watcher: {reading.model} {reading.slo} is no longer "
                                      "burning", actor="watcher")


def _over_by_itself(detail: IncidentDetail) -> bool:
    """Its page went out (or there was nobody to page), and no change the agent made is left in the fleet."""
    page_owed = any(n.event == "escalated" and n.status == "pending" for n in detail.notifications)
    changed = any(a.kind != "escalate" and a.status in ("executing", "succeeded") for a in detail.actions)
    return not page_owed and not changed
