"""Runs the incident graph for each incident: one graph thread per incident, resumable after an approval or
a restart, and one incident at a time per model, so two SLOs burning for one cause get one remediation."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from agent.context import AgentContext
from agent.graph import IncidentGraph
from agent.nodes.escalate import hand_over
from agent.store import IncidentStatus, IncidentView

log = logging.getLogger("firebreak.agent")

ACTIVE: tuple[IncidentStatus, ...] = ("open", "investigating", "mitigating", "awaiting_approval")
RETRY_AFTER_S = 5.0  # a graph that raised is tried once more after this, then its incident goes to a person


class IncidentRunner:
    def __init__(self, graph: IncidentGraph, context: AgentContext) -> None:
        self.graph = graph
        self.context = context
        self._per_model: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._running: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, incident: IncidentView) -> None:
        """Runs (or resumes) the incident's graph in the background unless it is already running."""
        if incident.id in self._running:
            return
        self._running.add(incident.id)
        task = asyncio.create_task(self._run(incident), name=f"incident {incident.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, incident: IncidentView) -> None:
        try:
            async with self._per_model[incident.model or incident.slo]:
                await self._advance_or_hand_over(incident)
        finally:
            self._running.discard(incident.id)

    async def _advance_or_hand_over(self, incident: IncidentView) -> None:
        """Runs the graph; one that raises is tried once more after a pause (it resumes from its last step),
        and one that raises again hands its incident to a person, so that none is left with nobody on it."""
        failure = ""
        for attempt in (1, 2):
            try:
                await self.advance(incident)
                return
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"
                log.exception("the graph of %s failed (attempt %d)", incident.id, attempt)
                await self.context.store.add_timeline(incident.id, "note", f"the agent's graph failed (attempt "
                                                      f"{attempt}): {failure}")
            if attempt == 1:
                await self.context.sleep(RETRY_AFTER_S)
        if (await self.context.store.get_incident(incident.id)).incident.status not in ACTIVE:
            return  # it closed or went to a person before the graph failed
        try:
            await hand_over(self.context, incident.id, f"the agent's graph failed twice: {failure}")
        except Exception:
            log.critical("%s could not be escalated after its graph failed: nobody is working it", incident.id,
                         exc_info=True)

    async def advance(self, incident: IncidentView) -> dict[str, Any]:
        """Starts the graph, resumes it after a restart or an approval, or leaves a finished one alone."""
        config: RunnableConfig = {"configurable": {"thread_id": incident.id}}
        snapshot = await self.graph.aget_state(config)
        if snapshot.values and not snapshot.next:
            return dict(snapshot.values)
        if (await self.context.store.get_incident(incident.id)).incident.status not in ACTIVE:
            return dict(snapshot.values)  # a person has it (or it is over): the agent does nothing more
        if snapshot.interrupts:
            if not await self._approval_decided(incident):
                return dict(snapshot.values)
            payload: Any = Command(resume=True)
        elif snapshot.values:
            log.info("%s: resuming the graph where it stopped (%s)", incident.id, ", ".join(snapshot.next))
            payload = None
        else:
            log.info("%s: %s of %s is burning; investigating", incident.id, incident.slo, incident.model)
            payload = {"incident_id": incident.id, "slo": incident.slo, "model": incident.model or ""}
        result = await self.graph.ainvoke(payload, config, context=self.context)
        return dict(result)

    async def _approval_decided(self, incident: IncidentView) -> bool:
        return not await self.context.store.pending_approvals(incident.id)

    async def recover(self) -> None:
        """After a restart: every incident the agent had not finished continues."""
        for incident in await self.context.store.list_incidents(status=list(ACTIVE), limit=500):
            self.start(incident)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
