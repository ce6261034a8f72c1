"""Log lines summarised: severities, lines per pod, error templates, and what changed between two windows.

Pure functions over fetched lines (the templates come from `templates.py`); no request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from mcp_servers.answers import Capped
from mcp_servers.logs.lines import Fetched, LogLine, Window
from mcp_servers.logs.models import RATE_CHANGE, Level, PodCount, TemplateChange, TemplateSummary
from mcp_servers.logs.templates import Template, TemplateMiner

MAX_LINE_CHARS = 500
MAX_SEARCH_CHARS = 40_000  # all returned lines together, newest kept
MAX_POD_NAMES = 10
MIN_CHANGED_COUNT = 5  # a rate moved by RATE_CHANGE counts only for a template seen this often in one window

# What a person scanning for trouble greps for. RE2-compatible, so that Loki can filter with it too.
_ERROR_TERMS = (r"\b(error|fatal|critical|panic|exception|traceback|failed|failure|oom|oomkilled|out of memory|"
                r"killed process|xid|segfault|unhealthy)\b|[a-z](error|exception)\b|HTTP/[0-9.]+\" 5[0-9][0-9]\b|"
                r"\bstatus[=: ]+5[0-9][0-9]\b|(^|\[)[EF][0-9]{4} ")
_WARNING_TERMS = r"\b(warn|warning|timed out|timeout|deprecated|retrying)\b|(^|\[)W[0-9]{4} "
_ERROR = re.compile(f"(?i){_ERROR_TERMS}")
_WARNING = re.compile(f"(?i){_WARNING_TERMS}")
PROBLEM = re.compile(f"(?i){_ERROR_TERMS}|{_WARNING_TERMS}")


def severity(text: str) -> Level | None:
    if _ERROR.search(text):
        return "error"
    return "warning" if _WARNING.search(text) else None


def pod_counts(lines: Iterable[LogLine], top: int = 20) -> list[PodCount]:
    counts = Counter(line.pod for line in lines)
    return [PodCount(pod=pod, lines=n) for pod, n in counts.most_common(top)]


def newest_within_budget(lines: list[LogLine], limit: int) -> Capped[LogLine]:
    """The newest `limit` lines, each clipped, then fewer still if together they pass the character budget."""
    kept: list[LogLine] = []
    used = 0
    for line in reversed(lines[-limit:]):
        text = clip_line(line.text)
        used += len(text)
        if used > MAX_SEARCH_CHARS:
            break
        kept.append(line.model_copy(update={"text": text}))
    kept.reverse()
    return Capped[LogLine](items=kept, total=len(lines), truncated=len(kept) < len(lines))


def clip_line(text: str) -> str:
    """A log line's start says what it is; a very long one keeps that and says it was cut."""
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + "…[truncated]"


def top_pods(counts: dict[str, int]) -> list[str]:
    return [pod for pod, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_POD_NAMES]]


def summarise_errors(lines: list[LogLine]) -> tuple[list[TemplateSummary], Counter[str]]:
    """Error and warning lines as templates, most frequent first, and how many lines of each level there were."""
    miner = TemplateMiner()
    levels: dict[int, Level] = {}
    tally: Counter[str] = Counter()
    for line in lines:
        level = severity(line.text)
        if level is None:
            continue
        tally[level] += 1
        template = miner.add(line.text, line.timestamp, line.pod)
        levels[template.id] = "error" if "error" in (level, levels.get(template.id)) else level
    return [TemplateSummary(template=t.text, level=levels[t.id], count=t.count, pods=top_pods(t.pods),
                            first_seen=t.first_seen, last_seen=t.last_seen, example=clip_line(t.example))
            for t in miner.templates()], tally


def compare(lines: list[LogLine], at: datetime, before: Window, after: Window
            ) -> tuple[list[TemplateChange], list[TemplateChange], list[TemplateChange]]:
    """(new, gone, changed) templates between the two windows; rates per minute of each window."""
    miner = TemplateMiner()
    counts: dict[int, list[int]] = {}  # template id -> [lines before, lines after]
    for line in lines:
        template = miner.add(line.text, line.timestamp, line.pod)
        counts.setdefault(template.id, [0, 0])[int(line.timestamp >= at)] += 1

    def change(template: Template) -> TemplateChange:
        n_before, n_after = counts[template.id]
        return TemplateChange(template=template.text, level=severity(template.example), before=n_before,
                              after=n_after, before_per_minute=_rate(n_before, before),
                              after_per_minute=_rate(n_after, after), pods=top_pods(template.pods),
                              example=clip_line(template.example))

    changes = [change(template) for template in miner.templates()]
    new = sorted((c for c in changes if c.before == 0), key=lambda c: (c.level != "error", -c.after))
    gone = sorted((c for c in changes if c.after == 0), key=lambda c: -c.before)
    changed = sorted((c for c in changes if c.before and c.after and _moved(c)), key=_factor, reverse=True)
    return new, gone, changed


def _rate(count: int, window: Window) -> float:
    return round(count / window.minutes, 2) if window.minutes > 0 else 0.0


def _factor(change: TemplateChange) -> float:
    low, high = sorted((change.before_per_minute, change.after_per_minute))
    return high / low if low > 0 else float("inf")


def _moved(change: TemplateChange) -> bool:
    return max(change.before, change.after) >= MIN_CHANGED_COUNT and _factor(change) >= RATE_CHANGE


def observed_windows(fetched: Fetched, at: datetime, span: timedelta) -> tuple[Window, Window]:
    """The before and after windows, shortened to the time the logs cover: pods younger than the window (or a
    sandbox younger than it) must not make a template's rate look lower than it was."""
    now = datetime.now(UTC)
    first = fetched.lines[0].timestamp if fetched.lines else at
    before = Window(max(at - span, min(first, at)), at)
    return before, Window(at, min(at + span, now))
