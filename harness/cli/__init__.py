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
    for chatty in ("httpx", "apscheduler", "mcp", "fastmcp", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
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

    demo = commands.add_parser("demo", help="sandbox + Prometheus + Alertmanager + agent; inject; heal; report",
                               description="Brings up the sandbox and the agent, injects a scenario's faults, shows "
                               "the burn rates and the incident live, and exits 0 once the fleet healed.")
    demo.add_argument("--scenario", default="bad-rollout", help="a scenario in scenarios/ (default: bad-rollout)")
    demo.add_argument("--no-ui", action="store_true", help="plain progress lines instead of the live view")
    demo.set_defaults(run=_demo)

    sandbox = commands.add_parser("sandbox", help="the simulated inference fleet").add_subparsers(title="sandbox")
    up = sandbox.add_parser("up", help="run the fleet, Prometheus and Alertmanager in the foreground",
                            description="Runs the simulated fleet with real Prometheus and Alertmanager until "
                            "SIGINT/SIGTERM; writes DIR/kubeconfig and DIR/endpoints.json once everything answers.")
    up.add_argument("--profile", default="default", help="fleet profile: default (the scenarios') or large")
    up.add_argument("--state-dir", type=Path, default=Path("state"), help="where kubeconfig, endpoints.json, "
                    "Prometheus data and logs go (default: ./state)")
    up.add_argument("--time-scale", type=float, default=60.0, help="fleet seconds per wall second: SLO windows, "
                    "alert timers, model loads and back-offs are divided by it (default: 60)")
    up.add_argument("--seed", type=int, default=1, help="seed of the traffic and noise (default: 1)")
    up.add_argument("--webhook-url", default=DEFAULT_WEBHOOK, help="where Alertmanager sends alerts")
    up.add_argument("--webhook-token", default=os.environ.get("FIREBREAK_WEBHOOK_TOKEN"),
                    help="bearer token for the webhook (default: $FIREBREAK_WEBHOOK_TOKEN)")
    up.add_argument("--agent-metrics", metavar="HOST:PORT", help="the agent working this fleet serves /metrics "
                    "there: scrape it as job firebreak and load the FirebreakDown rule that watches its heartbeat")
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

    scenario = commands.add_parser("scenario", help="fault scenarios").add_subparsers(title="scenario")
    run = scenario.add_parser("run", help="run one scenario end to end and write its result",
                              description="Starts a fresh sandbox, Prometheus, Alertmanager and agent, injects the "
                              "scenario's faults, lets the agent work, and writes the (graded) result.")
    run.add_argument("file", type=Path, help="scenario YAML")
    run.add_argument("--json", type=Path, help="write the result here (default: standard output)")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    run.set_defaults(run=_scenario_run)

    evaluation = commands.add_parser("eval", help="run every scenario of a directory and summarise",
                                     description="Runs each scenario in turn; writes {results, summary}.")
    evaluation.add_argument("directory", type=Path)
    evaluation.add_argument("--json", type=Path, help="write the results here (default: standard output)")
    evaluation.add_argument("--report", type=Path, help="also write a Markdown report with a chart here")
    evaluation.set_defaults(run=_eval)

    serve = commands.add_parser("serve", help="the agent service against a real cluster",
                                description="Alertmanager webhook, burn-rate watcher and incident graph. The webhook "
                                "token comes from $FIREBREAK_WEBHOOK_TOKEN (or the env var the config names).")
    serve.add_argument("--config", type=Path, required=True, help="agent YAML (see deploy/agent.example.yaml)")
    serve.set_defaults(run=_serve)

    incidents = commands.add_parser("incidents", help="list incidents, or show one")
    incidents.add_argument("id", nargs="?", help="an incident (INC-0003) to show in full")
    incidents.add_argument("--db", default=os.environ.get("FIREBREAK_DB_URL", "sqlite:///firebreak.db"),
                           help="database URL (default: $FIREBREAK_DB_URL or sqlite:///firebreak.db)")
    incidents.add_argument("--status", help="only incidents in this status")
    incidents.set_defaults(run=_incidents)
    for verb in ("approve", "deny"):
        decide = commands.add_parser(verb, help=f"{verb} an action waiting for a person")
        decide.add_argument("id", help="the action (ACT-0004) or its incident (INC-0003) when it has one pending")
        decide.add_argument("--db", default=os.environ.get("FIREBREAK_DB_URL", "sqlite:///firebreak.db"))
        decide.add_argument("--by", default=os.environ.get("USER", "cli"), help="who decides (default: $USER)")
        decide.add_argument("--comment")
        decide.set_defaults(run=_decide, approve=verb == "approve")
    close = commands.add_parser("resolve", help="close an incident a person has taken over",
                                description="Marks an incident resolved; the running agent then tells every channel "
                                "that took its page (Alertmanager resolves the alert).")
    close.add_argument("id", help="the incident (INC-0003)")
    close.add_argument("--db", default=os.environ.get("FIREBREAK_DB_URL", "sqlite:///firebreak.db"))
    close.add_argument("--by", default=os.environ.get("USER", "cli"), help="who closes it (default: $USER)")
    close.add_argument("--comment", default="", help="what was done")
    close.set_defaults(run=_resolve)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from harness.demo import demo

    if not args.no_ui:  # the live view tells the story; log lines would tear it
        logging.getLogger().setLevel(logging.WARNING)
    return demo(args.scenario, ui=not args.no_ui)


def _sandbox_up(args: argparse.Namespace) -> int:
    from agent.slo.alertmanager import render_alertmanager_config
    from agent.slo.deploy import slo_rules_command
    from sandbox.up import UpOptions, run

    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    rules = state / "slo-rules.yml"
    slo_rules_command(SLO_SPECS, args.time_scale, rules, watch_agent=args.agent_metrics is not None)
    options = UpOptions(state_dir=state, rule_files=[rules], profile=args.profile, time_scale=args.time_scale,
                        seed=args.seed, agent_target=args.agent_metrics,
                        alertmanager_config=render_alertmanager_config(args.webhook_url, args.webhook_token,
                                                                       args.time_scale))

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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_json(data: object, path: Path | None) -> None:
    text = json.dumps(data, indent=2)
    if path is None:
        print(text)
    else:
        path.write_text(text + "\n")


def _scenario_run(args: argparse.Namespace) -> int:
    from harness.scenario import Progress, run_scenario
    from harness.scenario_spec import Scenario

    progress = Progress() if args.quiet else Progress(say=_say)
    result = asyncio.run(run_scenario(Scenario.load(args.file), progress))
    _write_json(result.dump(), args.json)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from harness.evaluate import run_eval, write_report

    report = run_eval(args.directory, _say)
    _write_json(report, args.json)
    if args.report:
        _say(f"report: {write_report(report, args.report)}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from agent.boot import mcp_client, open_agent
    from agent.config import AgentConfig

    config = AgentConfig.load(args.config)
    token = os.environ.get(config.webhook.token_env, "")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_agent(config, mcp_client(config.mcp), webhook_token=token) as service:
            await service.run(stop)

    asyncio.run(serve())
    return 0


def _incidents(args: argparse.Namespace) -> int:
    from agent.store import Store
    from harness.views import incident_detail, incident_table, paging

    with Store.open(args.db) as store:
        if args.id:
            print(incident_detail(store.get_incident(args.id)))
        else:
            incidents = store.list_incidents(status=args.status, limit=50)
            pages = {i.id: paging(store.get_incident(i.id)) for i in incidents}
            print(incident_table(incidents, pages))
    return 0


def _decide(args: argparse.Namespace) -> int:
    from agent.store import Store

    with Store.open(args.db) as store:
        action = store.decide_approval(args.id, args.approve, decided_by=args.by, via="cli", comment=args.comment)
    print(f"{action.id} {action.kind} {action.target}: {action.status} by {args.by}; the agent resumes on its "
          "next tick")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from agent.store import Store

    reason = f"closed by {args.by}" + (f": {args.comment}" if args.comment else "")
    with Store.open(args.db) as store:
        incident = store.set_status(args.id, "resolved", actor=args.by, reason=reason)
    print(f"{incident.id} resolved by {args.by}; the agent tells whoever took its page on its next tick")
    return 0


def _slo_rules(args: argparse.Namespace) -> int:
    from agent.slo.deploy import slo_rules_command

    text = slo_rules_command(args.spec, args.time_scale, args.output)
    if not args.output:
        sys.stdout.write(text)
    return 0


