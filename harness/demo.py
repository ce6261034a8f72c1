"""`firebreak demo`: the whole self-healing loop on the sandbox, live: a fault, the SLO burning, the agent
detecting, diagnosing, acting through the policy gate and verifying, and the burn stopping.

Exits 0 when the fleet healed (every SLO that burned is back under burn rate 1 and the incident resolved).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from harness.scenario import Progress, run_scenario
from harness.scenario_spec import Scenario, ScenarioResult
from mcp_servers.prometheus.slo_conventions import BUDGET_PACE, PAGE_BURN_RATE, SHORTEST_WINDOW

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEFAULT_SCENARIO = "bad-rollout"


def scenario_path(name: str) -> Path:
    path = Path(name) if name.endswith(".yaml") else SCENARIOS / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
        raise ValueError(f"no scenario {name!r}; known: {known}")
    return path


class LiveView:
    """Burn rates per SLO, coloured by severity, above the incident's steps as they happen."""

    def __init__(self, scenario: Scenario, console: Console) -> None:
        self.scenario = scenario
        self.steps: deque[str] = deque(maxlen=14)
        self.burn: dict[str, float] = {}
        self.at_s = 0.0
        self.started = time.monotonic()
        self.live = Live(self.render(), console=console, refresh_per_second=4, transient=False)

    def say(self, message: str) -> None:
        self.steps.append(message)
        self.live.update(self.render())

    def burns(self, burn: dict[str, float], at_s: float) -> None:
        self.burn, self.at_s = burn, at_s
        self.live.update(self.render())

    def render(self) -> Group:
        table = Table(title=f"SLO burn rate ({SHORTEST_WINDOW} window), {self.at_s:5.1f}s after the fault", expand=True)
        table.add_column("model/SLO")
        table.add_column("burn", justify="right")
        table.add_column("")
        for key in sorted(self.burn):
            value = self.burn[key]
            style = "bold red" if value >= PAGE_BURN_RATE else "yellow" if value >= BUDGET_PACE else "green"
            table.add_row(key, f"[{style}]{value:6.2f}x[/]", f"[{style}]" + "█" * min(40, int(value)) + "[/]")
        steps = Panel("\n".join(self.steps) or "waiting for the fault…", title="incident", border_style="cyan")
        header = f"[bold]{self.scenario.name}[/]: {self.scenario.description}"
        return Group(header, table, steps)


def summary(result: ScenarioResult) -> Table:
    table = Table(title="what happened", show_header=False)
    diagnosis = result.diagnosis
    rows = [("detected", f"{result.time_to_detect_s}s after the fault" if result.detected else "no"),
            ("diagnosis", f"{diagnosis.root_cause} on {diagnosis.component} (confidence {diagnosis.confidence:.2f})"
             if diagnosis else "-"),
            *((f"action at {a.at_s}s", f"{a.kind} {a.target}: {a.decision}, {'ok' if a.ok else 'not done'}")
              for a in result.actions),
            ("mitigated", f"yes, {result.time_to_mitigate_s}s after the fault" if result.mitigated else "NO"),
            ("escalated", "yes" if result.escalated else "no"),
            ("tool calls", str(result.tool_calls))]
    for key, value in rows:
        table.add_row(key, value)
    return table


def demo(scenario_name: str = DEFAULT_SCENARIO, ui: bool = True) -> int:
    scenario = Scenario.load(scenario_path(scenario_name))
    console = Console()
    if ui:
        view = LiveView(scenario, console)
        with view.live:
            result = asyncio.run(run_scenario(scenario, Progress(say=view.say, burns=view.burns)))
    else:
        result = asyncio.run(run_scenario(scenario, Progress(say=lambda m: console.print(m, highlight=False))))
    console.print(summary(result))
    healed = result.mitigated and result.detected and not result.escalated
    console.print("[bold green]healed[/]" if healed else "[bold red]not healed[/]")
    return 0 if healed else 1
