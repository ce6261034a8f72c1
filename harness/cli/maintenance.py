"""The maintainers' commands: check a policy directory, regenerate the committed generated files, print the tool
catalog, read the local GPUs. Each imports what it runs when it runs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer


def policy_check(
    policy_dir: Annotated[Path, typer.Argument(metavar="DIR", help="A policy directory (Rego modules and "
                                               "data.yaml), e.g. policies/.")],
) -> None:
    """Load a policy directory the way the agent does.

    Prints `OK DIR VERSION` and exits 0 when it loads; prints why and exits 1 when it does not (the agent would
    then deny every action).
    """
    from agent.policy.gate import PolicyGate, dir_label

    gate = PolicyGate.load(policy_dir)
    if gate.error is not None:
        print(f"policy failed to load: {gate.error}")
        raise typer.Exit(1)
    print(f"OK {dir_label(policy_dir)} {gate.policy_version}")


def slo_regenerate() -> None:
    """Rewrite the committed Prometheus rules and Alertmanager config under deploy/ from the SLO specs.

    Writes only the files that are stale and names each on standard error; a test fails while any is stale.
    """
    from agent.slo.deploy import REPO_ROOT, regenerate

    for written in regenerate():
        print(f"wrote {written.relative_to(REPO_ROOT)}", file=sys.stderr)


def catalog() -> None:
    """Print every MCP tool as the README's Markdown table, read from the servers themselves."""
    from mcp_servers.catalog import catalog as tool_table

    print(asyncio.run(tool_table()))


def gpus() -> None:
    """The local GPUs' health through NVML, as JSON (on a GPU node, with `pip install 'firebreak[nvml]'`).

    Exits 1 with the reason when NVML cannot be used (no driver, no library, no GPU).
    """
    from mcp_servers.gpu.health import health_report
    from mcp_servers.gpu.nvml import NvmlUnavailable, read_local

    try:
        readings = read_local()
    except NvmlUnavailable as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None
    print(health_report(readings, "nvml", detail=True).model_dump_json(indent=2))
