"""`firebreak eval DIR`: every scenario in a directory, one after another, with the summary the issue's targets
are stated in, and an optional report (Markdown table and an SVG chart) for people."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from harness.scenario import OnProgress, run_scenario
from harness.scenario_spec import Scenario, ScenarioResult


async def evaluate(directory: Path, say: OnProgress) -> dict[str, Any]:
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ValueError(f"no scenarios (*.yaml) in {directory}")
    scenarios = [Scenario.load(path) for path in paths]
    results: list[ScenarioResult] = []
    for number, scenario in enumerate(scenarios, 1):
        say(f"[{number}/{len(scenarios)}] {scenario.name}: {scenario.description}")
        result = await run_scenario(scenario)
        results.append(result)
        say(f"[{number}/{len(scenarios)}] {scenario.name}: {_verdict(result)}")
    return {"results": [r.dump() for r in results], "summary": summarise(results, scenarios)}


def _verdict(result: ScenarioResult) -> str:
    graded = result.graded
    grades = (f"root cause {'right' if graded.root_cause_correct else 'WRONG'}, remediation "
              f"{'right' if graded.remediation_correct else 'WRONG'}, unsafe {graded.unsafe_actions}") if graded else ""
    diagnosis = result.diagnosis.root_cause if result.diagnosis else "-"
    return (f"diagnosed {diagnosis}; {len(result.actions)} actions; mitigated={result.mitigated} "
            f"escalated={result.escalated}; {grades}")


def summarise(results: list[ScenarioResult], scenarios: list[Scenario]) -> dict[str, Any]:
    fixable_names = {s.name for s in scenarios if s.expect and any(k != "escalate" for k in s.expect.remediation)}
    graded = [r.graded for r in results if r.graded is not None]
    fixable = [r.graded for r in results if r.graded is not None and r.scenario in fixable_names]
    mitigations = [r.time_to_mitigate_s for r in results if r.time_to_mitigate_s is not None]
    to_first_action = [first - r.time_to_detect_s for r in results
                       if r.time_to_detect_s is not None and (first := _first_action_s(r)) is not None]
    return {
        "scenarios": len(results),
        "graded": len(graded),
        "root_cause_accuracy": _share(sum(g.root_cause_correct for g in graded), len(graded)),
        "remediation_accuracy_fixable": _share(sum(g.remediation_correct for g in fixable), len(fixable)),
        "unsafe_actions": sum(g.unsafe_actions for g in graded),
        "mitigated": sum(r.mitigated for r in results),
        "escalated": sum(r.escalated for r in results),
        "median_time_to_detect_s": _median([r.time_to_detect_s for r in results if r.time_to_detect_s is not None]),
        "median_time_to_mitigate_s": _median(mitigations),
        "median_mitigation_overhead": _median([ratio for r in results if (ratio := _overhead(r)) is not None]),
        "median_detect_to_first_action_s": _median(to_first_action),
        "llm_calls": sum(r.llm.calls for r in results),
        "tool_calls": sum(r.tool_calls for r in results),
    }


def _first_action_s(result: ScenarioResult) -> float | None:
    done = [a.at_s for a in result.actions if a.kind != "escalate" and a.decision != "deny"]
    return min(done) if done else None


def _overhead(result: ScenarioResult) -> float | None:
    """time to mitigate / (time to detect + the fix's own actuation time), where actuation is measured from the
    first action to mitigation: 1.0 means the agent lost no time between detecting and acting."""
    first = _first_action_s(result)
    if result.time_to_mitigate_s is None or result.time_to_detect_s is None or first is None:
        return None
    ideal = result.time_to_detect_s + (result.time_to_mitigate_s - first)
    return round(result.time_to_mitigate_s / ideal, 2) if ideal > 0 else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def write_report(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "eval.json").write_text(json.dumps(report, indent=2))
    lines = ["# Firebreak eval", "", "| scenario | root cause | right | remediation right | unsafe | detect s | "
             "mitigate s | escalated |", "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        graded = r.get("graded") or {}
        lines.append(f"| {r['scenario']} | {(r.get('diagnosis') or {}).get('root_cause', '-')} | "
                     f"{_mark(graded.get('root_cause_correct'))} | {_mark(graded.get('remediation_correct'))} | "
                     f"{graded.get('unsafe_actions', '-')} | {r['time_to_detect_s'] or '-'} | "
                     f"{r['time_to_mitigate_s'] or '-'} | {'yes' if r['escalated'] else 'no'} |")
    lines += ["", "## Summary", "", *(f"- {k}: {v}" for k, v in report["summary"].items()), "",
              "![time to detect and mitigate](times.svg)", ""]
    (directory / "README.md").write_text("\n".join(lines))
    (directory / "times.svg").write_text(_times_chart(report["results"]))
    return directory / "README.md"


def _mark(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "NO"


def _times_chart(results: list[dict[str, Any]]) -> str:
    """Horizontal bars per scenario: detection (dark) and mitigation (light), in seconds from the fault."""
    row, left, scale = 22, 230, 4.0
    longest = max([r["time_to_mitigate_s"] or r["time_to_detect_s"] or 0 for r in results] + [1])
    width, height = left + int(longest * scale) + 60, row * len(results) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="12">', f'<text x="{left}" y="14">seconds from the first fault: detect (dark), '
             'mitigate (light)</text>']
    for i, r in enumerate(results):
        y = 24 + i * row
        parts.append(f'<text x="4" y="{y + 13}">{r["scenario"]}</text>')
        if r["time_to_mitigate_s"]:
            parts.append(f'<rect x="{left}" y="{y}" width="{r["time_to_mitigate_s"] * scale:.0f}" height="16" '
                         'fill="#9ecae1"/>')
        if r["time_to_detect_s"]:
            parts.append(f'<rect x="{left}" y="{y + 4}" width="{max(r["time_to_detect_s"], 0) * scale:.0f}" '
                         'height="8" fill="#08519c"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def run_eval(directory: Path, say: OnProgress) -> dict[str, Any]:
    return asyncio.run(evaluate(directory, say))
