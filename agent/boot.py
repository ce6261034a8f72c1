"""Assembles the agent from its configuration: store, policy gate, runbooks, MCP tools, checkpointer, graph,
runner and service. `firebreak serve` connects the tools as its config says; the harness passes a client."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from agent.checkpoints import checkpointer
from agent.config import AgentConfig, McpConnection
from agent.context import AgentContext
from agent.diagnose.runbooks import load_runbooks
from agent.graph import build_graph
from agent.notify import Notifier
from agent.policy.gate import PolicyGate
from agent.runner import IncidentRunner
from agent.service import AgentService
from agent.store import AsyncStore, Store
from agent.tools import ToolClient

log = logging.getLogger("firebreak.agent")


def mcp_client(connection: McpConnection) -> Client:
    if connection.transport == "http":
        token = os.environ.get(connection.token_env)
        if not token:
            raise ValueError(f"the MCP server at {connection.url} needs a bearer token in ${connection.token_env}")
        return Client(connection.url, auth=token)
    command, *args = connection.command
    return Client(StdioTransport(command, args, env={**os.environ, **connection.env}))


def claude_diagnoser() -> object | None:
    """Claude diagnoses when ANTHROPIC_API_KEY is set; otherwise the agent runs fully offline."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return None
    from agent.diagnose.llm import build_claude_diagnoser

    return build_claude_diagnoser(os.environ)


@contextlib.asynccontextmanager
async def open_agent(config: AgentConfig, client: Client, *, webhook_token: str) -> AsyncIterator[AgentService]:
    runbooks = load_runbooks(config.runbooks)
    for error in runbooks.errors:
        log.error("runbook skipped: %s", error)
    gate = PolicyGate.load(config.policies)
    if gate.error:
        log.error("every action will be denied: %s", gate.error)
    notifier = Notifier.from_config(config.notify)
    if not notifier.configured:
        log.warning("no notifier is configured (`notify:` with alertmanager or webhook in the agent's config): "
                    "escalations will reach nobody")
    store = Store.open(config.database_url)
    try:
        async with ToolClient(client) as tools, checkpointer(config.database_url) as saver:
            context = AgentContext(config=config, tools=tools, store=AsyncStore(store), gate=gate,
                                   runbooks=runbooks, notifier=notifier, claude=claude_diagnoser())
            log.info("agent ready: %d runbooks, policy %s, diagnosis %s, %d MCP tools, pages via %s",
                     len(runbooks.runbooks), gate.policy_version, "Claude + offline" if context.claude else "offline",
                     len(tools.names), ", ".join(notifier.channels) or "nobody")
            yield AgentService(IncidentRunner(build_graph(saver), context), webhook_token)
    finally:
        await notifier.aclose()
        store.close()
