"""The `firebreak` command. It is one of the two places (with the harness) allowed to join the packages."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SLO_SPECS = REPO / "deploy" / "slo"
DEFAULT_WEBHOOK = os.environ.get("FIREBREAK_WEBHOOK_URL", "http://127.0.0.1:8080/webhook/alertmanager")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="firebreak", description="A self-healing SRE agent for LLM inference "
                                     "fleets, and the simulated fleet it is tested on.")
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="sandbox + Prometheus + Alertmanager; inject a fault; watch it heal",
                               description="Brings up the sandbox, injects a bad rollout, shows burn rates live, "
                               "and exits 0 once the page alert has fired and resolved.")
    demo.add_argument("--time-scale", type=float, default=60.0)
    demo.set_defaults(run=_demo)

    sandbox = commands.add_parser("sandbox", help="the simulated inference fleet").add_subparsers(title="sandbox")
    up = sandbox.add_parser("up", help="run the fleet, Prometheus and Alertmanager in the foreground",
                            description="Runs the simulated fleet with real Prometheus and Alertmanager until "
                            "SIGINT/SIGTERM; writes DIR/kubeconfig and DIR/endpoints.json once everything answers.")
    up.add_argument("--profile", default="default", help="fleet profile: default (DESIGN.md) or large (50 nodes)")
    up.add_argument("--state-dir", type=Path, default=Path("state"), help="where kubeconfig, endpoints.json, "
                    "Prometheus data and logs go (default: ./state)")
    up.add_argument("--time-scale", type=float, default=60.0, help="fleet seconds per wall second: SLO windows, "
                    "alert timers, model loads and back-offs are divided by it (default: 60)")
    up.add_argument("--seed", type=int, default=1, help="seed of the traffic and noise (default: 1)")
    up.add_argument("--webhook-url", default=DEFAULT_WEBHOOK, help="where Alertmanager sends alerts")
    up.add_argument("--webhook-token", default=os.environ.get("FIREBREAK_WEBHOOK_TOKEN"),
                    help="bearer token for the webhook (default: $FIREBREAK_WEBHOOK_TOKEN)")
    up.set_defaults(run=_sandbox_up)
    inject = sandbox.add_parser("inject", help="inject a scenario's faults into a running sandbox")
    inject.add_argument("file", type=Path, help="scenario YAML (its faults list is used; at_s counts from now)")
    inject.add_argument("--state-dir", type=Path, default=Path("state"))
    inject.set_defaults(run=_sandbox_inject)

    slo = commands.add_parser("slo", help="SLO specs").add_subparsers(title="slo")
    rules = slo.add_parser("rules", help="Prometheus recording and alert rules from an SLO spec")
    rules.add_argument("spec", type=Path, help="SLO spec YAML (or a directory of them)")
    rules.add_argument("--time-scale", type=float, default=1.0, help="divide every window by this (default: 1)")
    rules.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")
    rules.set_defaults(run=_slo_rules)

    mcp = commands.add_parser("mcp", help="run an MCP server (prometheus|kubernetes|gpu|logs|gateway|all)",
                              description="Runs one of Firebreak's MCP servers, or all of them composed into one. "
                              "Configuration from KUBECONFIG, PROMETHEUS_URL, ALERTMANAGER_URL, GATEWAY_URL, "
                              "LOKI_URL (with *_BEARER_TOKEN, *_USERNAME/*_PASSWORD, *_CA_FILE) or --config.")
    mcp.add_argument("server", choices=["prometheus", "kubernetes", "gpu", "logs", "gateway", "all"])
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                     help="stdio (default) or streamable HTTP with bearer-token auth")
    mcp.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: 127.0.0.1)")
    mcp.add_argument("--port", type=int, default=8765, help="HTTP port (default: 8765)")
    mcp.add_argument("--token-file", type=Path, help="file holding the HTTP bearer token "
                     "(default: $FIREBREAK_MCP_TOKEN)")
    mcp.add_argument("--config", type=Path, help="YAML settings file; environment variables override it")
    mcp.add_argument("--read-only", action="store_true", help="remove every tool that changes the fleet")
    mcp.set_defaults(run=_mcp)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from harness.demo import demo

    return asyncio.run(demo(args.time_scale))


def _sandbox_up(args: argparse.Namespace) -> int:
    from agent.slo.alertmanager import render_alertmanager_config
    from agent.slo.deploy import slo_rules_command
    from sandbox.up import UpOptions, run

    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    rules = state / "slo-rules.yml"
    slo_rules_command(SLO_SPECS, args.time_scale, rules)
    options = UpOptions(state_dir=state, rule_files=[rules], profile=args.profile, time_scale=args.time_scale,
                        seed=args.seed, alertmanager_config=render_alertmanager_config(
                            args.webhook_url, args.webhook_token, args.time_scale))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(options, stop)

    asyncio.run(serve())
    return 0


def _sandbox_inject(args: argparse.Namespace) -> int:
    scenario = yaml.safe_load(args.file.read_text()) or {}
    faults = scenario.get("faults") or []
    control = json.loads((args.state_dir / "control.json").read_text())
    request = urllib.request.Request(f"{control['url']}/faults", data=json.dumps(faults).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {control['token']}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            for entry in json.load(response)["scheduled"]:
                print(f"scheduled {entry['kind']} {entry['target']} in {entry['in_s']}s")
    except urllib.error.HTTPError as error:
        raise ValueError(f"the sandbox refused the faults: {error.read().decode()}") from None
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from mcp_servers.compose import build
    from mcp_servers.serve import read_token, serve
    from mcp_servers.settings import Settings

    settings = Settings.load(config_file=args.config)
    if args.read_only:
        settings = settings.model_copy(update={"read_only": True})
    token = read_token(args.token_file) if args.transport == "http" else None
    serve(build(args.server, settings), args.transport, host=args.host, port=args.port, token=token)
    return 0


def _slo_rules(args: argparse.Namespace) -> int:
    from agent.slo.deploy import slo_rules_command

    text = slo_rules_command(args.spec, args.time_scale, args.output)
    if not args.output:
        sys.stdout.write(text)
    return 0


