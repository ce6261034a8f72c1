"""The `firebreak` command: every verb in one tree, here; what each does, in the module of its group. It is one
of the two places (with the harness) allowed to join the packages.

Each command imports what it runs when it runs, so that `--help` and the quick verbs start fast.
"""

from __future__ import annotations

import logging
import sys

import typer

from harness.cli import maintenance, oncall, runs, service

app = typer.Typer(name="firebreak", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="A self-healing SRE agent for LLM inference fleets, and the simulated fleet it is tested on.",
                  epilog="Run `firebreak COMMAND --help` for a command's arguments, options and exit status.")

sandbox = typer.Typer(no_args_is_help=True, help="The simulated inference fleet: bring it up, inject faults into it.")
sandbox.command("up")(runs.sandbox_up)
sandbox.command("inject")(runs.sandbox_inject)

scenario = typer.Typer(no_args_is_help=True, help="Fault scenarios, run end to end and graded.")
scenario.command("run")(runs.scenario_run)

slo = typer.Typer(no_args_is_help=True, help="SLO specs, turned into Prometheus rules.")
slo.command("rules")(service.slo_rules)
slo.command("regenerate")(maintenance.slo_regenerate)

policy = typer.Typer(no_args_is_help=True, help="The Rego policy that gates every remediation.")
policy.command("check")(maintenance.policy_check)

app.command("demo")(runs.demo)
app.add_typer(sandbox, name="sandbox")
app.add_typer(scenario, name="scenario")
app.command("eval")(runs.evaluate)
app.command("serve")(service.serve)
app.command("mcp")(service.mcp)
app.add_typer(slo, name="slo")
app.add_typer(policy, name="policy")
app.command("catalog")(maintenance.catalog)
app.command("gpus")(maintenance.gpus)
app.command("incidents")(oncall.incidents)
app.command("approve")(oncall.approve)
app.command("deny")(oncall.deny)
app.command("resolve")(oncall.resolve)


@app.callback()
def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "apscheduler", "mcp", "fastmcp", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Runs one command and returns its exit status: 0 done, 1 refused (the reason on standard error, after
    `firebreak:`), 2 a usage error (with the usage); `demo` says 1 when the fleet did not heal."""
    try:
        typer.main.get_command(app).main(args=argv, prog_name="firebreak")
    except SystemExit as done:  # a command that ends, ends by exiting with its status
        return int(done.code or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"firebreak: {error}", file=sys.stderr)
        return 1
    return 0
