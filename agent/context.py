"""What every node of the incident graph works with: its tools, store, policy gate, runbooks and clock.

Passed to the graph as LangGraph's run context, never checkpointed: after a restart the service builds a
new one and the graph resumes from its stored state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.config import AgentConfig
from agent.diagnose.runbooks import IncidentContext, RunbookSet
from agent.notify import Notifier
from agent.policy.gate import PolicyGate
from agent.state import IncidentState
from agent.store import AsyncStore
from agent.tools import ToolClient


@dataclass
class LlmCounters:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class AgentContext:
    config: AgentConfig
    tools: ToolClient
    store: AsyncStore
    gate: PolicyGate
    runbooks: RunbookSet
    notifier: Notifier = field(default_factory=lambda: Notifier([]))  # no channel: escalations page nobody
    claude: Any = None  # agent.diagnose.llm.ClaudeDiagnoser when ANTHROPIC_API_KEY is set
    llm: LlmCounters = field(default_factory=LlmCounters)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def incident(self, state: IncidentState) -> IncidentContext:
        return IncidentContext(model=state.get("model") or "", namespace=state.get("namespace")
                               or self.config.namespace, slo=state.get("slo"), rate_window=self.config.rate_window,
                               served_model=state.get("served_model") or "")
