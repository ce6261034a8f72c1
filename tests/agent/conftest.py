"""The agent's graph on a scripted fleet: a real store (SQLite file), the shipped Rego policy, a test runbook
and the LangGraph checkpointer in the same database, so restarts can be simulated by building anew."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from langgraph.graph.state import CompiledStateGraph

from agent.checkpoints import checkpointer
from agent.config import REPO, AgentConfig
from agent.context import AgentContext
from agent.diagnose.runbooks import load_runbooks
from agent.graph import build_graph
from agent.notify import Notifier
from agent.policy.gate import PolicyGate
from agent.runner import IncidentRunner
from agent.store import AsyncStore, IncidentDetail, IncidentOpen, IncidentView, Store
from agent.tools import ToolClient
from tests.agent.scripted_tools import RUNBOOK, ScriptedTools


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _no_wait(seconds: float) -> None:
    return None


@dataclass
class Agent:
    context: AgentContext
    graph: CompiledStateGraph
    runner: IncidentRunner

    @property
    def store(self) -> Store:
        """The store as a test (or the command line) calls it, off the agent's event loop."""
        return self.context.store.sync

    async def run_as_the_service_does(self, incident: IncidentView) -> IncidentDetail:
        """Runs the incident's graph in the background as the service does (without its pause before a retry)
        and waits for it to finish."""
        self.context.sleep = _no_wait
        self.runner.start(incident)
        await self.runner.drain()
        return self.store.get_incident(incident.id)

    def open_incident(self) -> IncidentView:
        return self.store.open_incident(IncidentOpen(slo="availability", model="llama-70b", severity="page",
                                                     title="llama-70b availability burning",
                                                     detected_by="watcher")).incident


@pytest.fixture
def runbook_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    (directory / "test-xid.md").write_text(RUNBOOK)
    return directory


@contextlib.asynccontextmanager
async def running_agent(tmp_path: Path, runbooks: Path, fleet: ScriptedTools, *,
                        policy: Mapping[str, Any] | None = None, interrupt_after: list[str] | None = None,
                        database_url: str | None = None, notifier: Notifier | None = None) -> AsyncIterator[Agent]:
    """An agent process: build it twice on the same database to simulate a restart."""
    config = AgentConfig(database_url=database_url or f"sqlite:///{tmp_path}/firebreak.db", runbooks=runbooks,
                         policies=REPO / "policies", time_scale=60, verify_window_s=60, verify_timeout_s=120,
                         approval_timeout_s=30)
    store = Store.open(config.database_url)
    try:
        async with ToolClient(Client(fleet.server())) as tools, checkpointer(config.database_url) as saver:
            context = AgentContext(config=config, tools=tools, store=AsyncStore(store),
                                   notifier=notifier or Notifier([]), gate=PolicyGate.load(config.policies, policy),
                                   runbooks=load_runbooks(runbooks))
            graph = build_graph(saver, interrupt_after=interrupt_after)
            yield Agent(context, graph, IncidentRunner(graph, context))
    finally:
        store.close()
