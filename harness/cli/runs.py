"""The commands that run the simulated fleet: `demo`, `sandbox up|inject`, `scenario run` and `eval`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

STATE_DIR = Path("state")


def demo(
    scenario: Annotated[str, typer.Option(help="A scenario of scenarios/ by name, or a path to a scenario YAML.")]
    = "bad-rollout",
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Plain progress lines instead of the live view (for a log "
                                        "or a terminal without colours).")] = False,
) -> None:
    """Sandbox + Prometheus + Alertmanager + agent; inject a scenario's faults; heal; report.

    Brings up the sandbox and the agent, injects the scenario's faults, shows the burn rates and the incident
    live, and exits 0 once the fleet healed (every SLO that burned back under burn rate 1, the incident
    resolved), 1 otherwise.
    """
    from harness.demo import demo as run_demo

    if not no_ui:  # the live view tells the story; log lines would tear it
        logging.getLogger().setLevel(logging.WARNING)
    raise typer.Exit(run_demo(scenario, ui=not no_ui))


def sandbox_up(
    profile: Annotated[str, typer.Option(help="Fleet profile: default (the scenarios' fleet) or large.")] = "default",
    state_dir: Annotated[Path, typer.Option(help="Where kubeconfig, endpoints.json, control.json, Prometheus data "
                                            "and logs go.")] = STATE_DIR,
    time_scale: Annotated[float, typer.Option(help="Fleet seconds per wall second: SLO windows, alert timers, model "
                                              "loads and back-offs are divided by it.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the traffic and the noise.")] = 1,
    webhook_url: Annotated[str, typer.Option(envvar="FIREBREAK_WEBHOOK_URL", help="Where Alertmanager sends "
                                             "alerts: the agent's webhook.")]
    = "http://127.0.0.1:8080/webhook/alertmanager",
    webhook_token: Annotated[str | None, typer.Option(envvar="FIREBREAK_WEBHOOK_TOKEN", show_default=False,
                                                      help="Bearer token Alertmanager sends to the webhook.")]
    = None,
    agent_metrics: Annotated[str | None, typer.Option(metavar="HOST:PORT", help="The agent working this fleet "
                                                      "serves /metrics there: scrape it as job firebreak and load "
                                                      "the FirebreakDown rule that watches its heartbeat.")] = None,
) -> None:
    """Run the fleet, Prometheus and Alertmanager in the foreground.

    Runs the simulated fleet with real Prometheus and Alertmanager until SIGINT or SIGTERM, then stops everything
    it started. Once everything answers it writes DIR/kubeconfig and DIR/endpoints.json ({"kubernetes",
    "prometheus", "alertmanager", "gateway"} URLs): point the agent or `firebreak mcp` at them.
    """
    from harness.sandbox_run import RunningSandbox

    RunningSandbox(profile=profile, time_scale=time_scale, seed=seed, webhook_url=webhook_url,
                   webhook_token=webhook_token, state_dir=state_dir.resolve(),
                   agent_metrics=agent_metrics).run_in_foreground()


def sandbox_inject(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="A scenario YAML: its faults are injected, each "
                                         "`at_s` counting from now.")],
    state_dir: Annotated[Path, typer.Option(help="The state directory of the running `firebreak sandbox up`.")]
    = STATE_DIR,
) -> None:
    """Inject a scenario's faults into a running sandbox.

    Prints one line per fault the sandbox scheduled. Exits 1 if the scenario is invalid or the sandbox refuses a
    fault (an unknown kind or target).
    """
    from harness.sandbox_run import inject_faults
    from harness.scenario_spec import Scenario

    faults = [fault.model_dump() for fault in Scenario.load(file).faults]
    for entry in inject_faults(state_dir, faults):
        print(f"scheduled {entry['kind']} {entry['target']} in {entry['in_s']}s")


def scenario_run(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="The scenario YAML.")],
    json_path: Annotated[Path | None, typer.Option("--json", metavar="OUT.json", help="Write the result here "
                                                   "instead of standard output.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines on standard error.")] = False,
) -> None:
    """Run one scenario end to end and write its (graded) result.

    Starts a fresh sandbox, Prometheus, Alertmanager and agent, injects the scenario's faults, lets the agent
    work for the scenario's duration, and writes the result: what was detected, diagnosed and done, and, when
    the scenario has an `expect` block, its grade. Exits 0 whenever the run completes, whatever the grade.
    """
    from harness.scenario import Progress, run_scenario
    from harness.scenario_spec import Scenario

    progress = Progress() if quiet else Progress(say=_say)
    result = asyncio.run(run_scenario(Scenario.load(file), progress))
    _write_json(result.dump(), json_path)


def evaluate(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="A directory of scenario YAML files.")],
    json_path: Annotated[Path | None, typer.Option("--json", metavar="OUT.json", help="Write {results, summary} "
                                                   "here instead of standard output.")] = None,
    report: Annotated[Path | None, typer.Option(metavar="DIR", help="Also write a Markdown report with a chart "
                                                "into this directory.")] = None,
) -> None:
    """Run every scenario of a directory in turn and summarise.

    Writes {results, summary}: each scenario's result, then root-cause and remediation accuracy, unsafe actions,
    and the median times to detect and to mitigate. Progress lines go to standard error.
    """
    from harness.evaluate import run_eval, write_report

    results = run_eval(directory, _say)
    _write_json(results, json_path)
    if report:
        _say(f"report: {write_report(results, report)}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_json(data: object, path: Path | None) -> None:
    text = json.dumps(data, indent=2)
    if path is None:
        print(text)
    else:
        path.write_text(text + "\n")
