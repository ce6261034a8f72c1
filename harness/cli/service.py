"""The commands that run Firebreak against a real cluster: `serve`, `mcp` and `slo rules`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

Server = Literal["prometheus", "kubernetes", "gpu", "logs", "gateway", "all"]


def serve(
    config: Annotated[Path, typer.Option(metavar="FILE", help="The agent's YAML (see deploy/agent.example.yaml); "
                                         "any key may be overridden by FIREBREAK_<KEY>, nested with __.")],
) -> None:
    """The agent service against a real cluster: Alertmanager webhook, burn-rate watcher and incident graph.

    Runs until SIGINT or SIGTERM. The webhook's bearer token comes from $FIREBREAK_WEBHOOK_TOKEN (or the
    variable the config's webhook.token_env names); the agent starts its tools as the config's mcp section says
    (by default `firebreak mcp all` over stdio). Exits 1 if the config is invalid.
    """
    from agent.boot import mcp_client, open_agent
    from agent.config import AgentConfig

    agent_config = AgentConfig.load(config)
    token = os.environ.get(agent_config.webhook.token_env, "")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_agent(agent_config, mcp_client(agent_config.mcp), webhook_token=token) as service:
            await service.run(stop)

    asyncio.run(run())


def mcp(
    server: Annotated[Server, typer.Argument(metavar="SERVER", help="One server, or all five composed into one.")],
    transport: Annotated[Literal["stdio", "http"], typer.Option(help="stdio, or streamable HTTP at /mcp with "
                                                                "bearer-token auth.")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8765,
    token_file: Annotated[Path | None, typer.Option(metavar="FILE", help="File holding the HTTP bearer token "
                                                    "(default: $FIREBREAK_MCP_TOKEN); HTTP refuses to start "
                                                    "without one.")] = None,
    config: Annotated[Path | None, typer.Option(metavar="FILE", help="YAML settings file; environment variables "
                                                "override it.")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Remove every tool that changes the fleet.")]
    = False,
) -> None:
    """Run one of Firebreak's MCP servers (prometheus|kubernetes|gpu|logs|gateway|all).

    Configuration comes from KUBECONFIG, PROMETHEUS_URL, ALERTMANAGER_URL, GATEWAY_URL, LOKI_URL (each endpoint
    with *_BEARER_TOKEN[_FILE], *_USERNAME/*_PASSWORD[_FILE], *_CA_FILE), from FIREBREAK_<SETTING>, or from
    --config. A backend left unconfigured fails only the tools that need it, saying which variable to set.
    """
    from mcp_servers.compose import build
    from mcp_servers.serve import read_token
    from mcp_servers.serve import serve as run_server
    from mcp_servers.settings import Settings

    settings = Settings.load(config_file=config)
    if read_only:
        settings = settings.model_copy(update={"read_only": True})
    token = read_token(token_file) if transport == "http" else None
    run_server(build(server, settings), transport, host=host, port=port, token=token)


def slo_rules(
    spec: Annotated[Path, typer.Argument(metavar="SLO.yaml", help="An SLO spec YAML, or a directory of them.")],
    time_scale: Annotated[float, typer.Option(help="Divide every window by this (the sandbox runs at 60).")] = 1.0,
    output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write to this file "
                                                "instead of standard output.")] = None,
) -> None:
    """Prometheus recording and alert rules (multi-window burn rates) from an SLO spec.

    Exits 1 if the spec is invalid, naming the field.
    """
    from agent.slo.deploy import slo_rules_command

    text = slo_rules_command(spec, time_scale, output)
    if not output:
        sys.stdout.write(text)
