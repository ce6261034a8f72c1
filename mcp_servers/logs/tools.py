"""The logs server: search a pod's, deployment's or namespace's logs, group the errors, compare around a rollout.

Answers lead with counts (lines, pods, errors) and keep raw lines to what the caller asked for. Lines are
grouped by template (see log_templates) so that a thousand failed requests read as one line with a count.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastmcp import FastMCP
from pydantic import BaseModel, Field

from mcp_servers.errors import fail
from mcp_servers.kube_client import Kube
from mcp_servers.log_sources import (
    Fetched,
    KubernetesLogs,
    LogLine,
    LogSource,
    LokiLogs,
    Target,
    Window,
    latest_rollout,
)
from mcp_servers.log_templates import Template, TemplateMiner
from mcp_servers.settings import Settings
from mcp_servers.toolkit import Capped, read_tool

Level = Literal["error", "warning"]
MAX_LINE_CHARS = 500
MAX_SEARCH_CHARS = 40_000  # all returned lines together, newest kept
MAX_POD_NAMES = 10
RATE_CHANGE = 3.0  # a template whose per-minute rate moved by this factor or more "changed a lot"
MIN_CHANGED_COUNT = 5  # ...provided it was seen this often in one window; fewer is noise

# What a person scanning for trouble greps for. RE2-compatible, so that Loki can filter with it too.
_ERROR_TERMS = (r"\b(error|fatal|critical|panic|exception|traceback|failed|failure|oom|oomkilled|out of memory|"
                r"killed process|xid|segfault|unhealthy)\b|[a-z](error|exception)\b|HTTP/[0-9.]+\" 5[0-9][0-9]\b|"
                r"\bstatus[=: ]+5[0-9][0-9]\b|(^|\[)[EF][0-9]{4} ")
_WARNING_TERMS = r"\b(warn|warning|timed out|timeout|deprecated|retrying)\b|(^|\[)W[0-9]{4} "
_ERROR = re.compile(f"(?i){_ERROR_TERMS}")
_WARNING = re.compile(f"(?i){_WARNING_TERMS}")
PROBLEM = re.compile(f"(?i){_ERROR_TERMS}|{_WARNING_TERMS}")

Deployment = Annotated[str | None, Field(description="a Deployment: reads all of its pods")]
Pod = Annotated[str | None, Field(description="one pod; give a deployment or a pod (neither: the whole namespace)")]
Namespace = Annotated[str | None, Field(description="default: the server's namespace")]


def severity(text: str) -> Level | None:
    if _ERROR.search(text):
        return "error"
    return "warning" if _WARNING.search(text) else None


# -- output models ------------------------------------------------------------------------------------------
class WindowInfo(BaseModel):
    start: datetime
    end: datetime


class PodCount(BaseModel):
    pod: str
    lines: int


class LogSearch(BaseModel):
    target: str
    source: str
    window: WindowInfo
    lines_matched: int
    error_lines: int
    warning_lines: int
    pods: list[PodCount] = Field(description="pods with matching lines, most first")
    notes: list[str]
    lines: Capped[LogLine] = Field(description="the newest matching lines, oldest first")


class TemplateSummary(BaseModel):
    template: str
    level: Level
    count: int
    pods: list[str] = Field(description="pods that printed it, most first (at most 10)")
    first_seen: datetime | None
    last_seen: datetime | None
    example: str


class ErrorSummary(BaseModel):
    target: str
    source: str
    window: WindowInfo
    error_lines: int
    warning_lines: int
    distinct_templates: int
    pods: list[PodCount] = Field(description="pods with error or warning lines, most first")
    notes: list[str]
    templates: Capped[TemplateSummary] = Field(description="most frequent first")


class WindowCounts(BaseModel):
    start: datetime
    end: datetime
    lines: int
    pods: list[str]


class TemplateChange(BaseModel):
    template: str
    level: Level | None
    before: int
    after: int
    before_per_minute: float
    after_per_minute: float
    pods: list[str]
    example: str


class LogComparison(BaseModel):
    deployment: str
    namespace: str
    source: str
    at: datetime
    at_from: str = Field(description="where `at` came from: given, or the rollout's ReplicaSet")
    before: WindowCounts
    after: WindowCounts
    new_templates: int
    gone_templates: int
    changed_templates: int
    notes: list[str]
    new: Capped[TemplateChange] = Field(description="templates seen only after `at`: errors first, then by count")
    gone: Capped[TemplateChange]
    changed: Capped[TemplateChange] = Field(description=f"per-minute rate moved {RATE_CHANGE:g}x or more")


# -- input checks ------------------------------------------------------------------------------------------
def target_of(settings: Settings, deployment: str | None, pod: str | None, namespace: str | None) -> Target:
    if deployment and pod:
        raise fail("bad_input", "give either a deployment or a pod, not both")
    return Target(namespace or settings.namespace, deployment or None, pod or None)


def compile_regex(regex: str | None) -> re.Pattern[str] | None:
    if not regex:
        return None
    try:
        return re.compile(regex)
    except re.error as error:
        raise fail("bad_input", f"invalid regex {regex!r}: {error}") from None


def parse_moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail("bad_input",
                   f"{name} must be an RFC 3339 time such as 2026-11-23T10:00:00Z, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_of(since_minutes: float, until: str | None) -> Window:
    end = parse_moment(until, "until") if until else datetime.now(UTC)
    return Window(end - timedelta(minutes=since_minutes), end)


# -- summaries ---------------------------------------------------------------------------------------------
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


# -- the server ------------------------------------------------------------------------------------------
def build(settings: Settings) -> FastMCP:
    kube = Kube(settings)

    @contextlib.asynccontextmanager
    async def release_connections(_: FastMCP) -> AsyncIterator[None]:
        """Idle keep-alive connections would hold an API server's graceful shutdown open: close them at the end."""
        try:
            yield
        finally:
            kube.close()

    mcp = FastMCP("firebreak-logs", instructions="Logs of the fleet's pods: search, error templates, and what "
                  "changed in the logs around a time or the latest rollout.", lifespan=release_connections)
    source: LogSource = LokiLogs(settings.loki) if settings.loki else KubernetesLogs(kube)

    @read_tool(mcp, "Search logs")
    def search_logs(
        deployment: Deployment = None,
        pod: Pod = None,
        namespace: Namespace = None,
        since_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="window length")] = 15,
        until: Annotated[str | None, Field(description="window end, RFC 3339; default now")] = None,
        regex: Annotated[str | None, Field(description="keep only lines matching this (Python/RE2) regex")] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="most lines returned (the newest)")] = 200,
        previous: Annotated[bool, Field(description="read the previous (crashed) container instead")] = False,
    ) -> LogSearch:
        """Log lines of a deployment's pods, one pod, or the namespace in a time window, newest last.

        The summary comes first: lines matched, error and warning lines among them, lines per pod.
        """
        target = target_of(settings, deployment, pod, namespace)
        window = window_of(since_minutes, until)
        fetched = source.fetch(target, window, pattern=compile_regex(regex),
                               incarnations="previous" if previous else "current")
        levels = Counter(severity(line.text) for line in fetched.lines)
        return LogSearch(target=target.describe(), source=source.name,
                         window=WindowInfo(start=window.start, end=window.end), lines_matched=len(fetched.lines),
                         error_lines=levels["error"], warning_lines=levels["warning"],
                         pods=pod_counts(fetched.lines), notes=fetched.notes,
                         lines=newest_within_budget(fetched.lines, limit))

    @read_tool(mcp, "Error summary of logs")
    def log_error_summary(
        deployment: Deployment = None,
        pod: Pod = None,
        namespace: Namespace = None,
        since_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="window length")] = 15,
        limit: Annotated[int, Field(ge=1, le=200, description="most templates returned")] = 20,
    ) -> ErrorSummary:
        """Error and warning lines (levels, tracebacks, CUDA errors, OOM, Xid, HTTP 5xx) grouped into templates,
        each with its count, pods, first and last time seen and one example line; most frequent first.

        Restarted containers are read twice, current and previous, since a crash's traceback is in the latter.
        """
        target = target_of(settings, deployment, pod, namespace)
        window = window_of(since_minutes, None)
        fetched = source.fetch(target, window, pattern=PROBLEM, incarnations="both")
        templates, tally = summarise_errors(fetched.lines)
        return ErrorSummary(target=target.describe(), source=source.name,
                            window=WindowInfo(start=window.start, end=window.end), error_lines=tally["error"],
                            warning_lines=tally["warning"], distinct_templates=len(templates),
                            pods=pod_counts(fetched.lines), notes=fetched.notes,
                            templates=Capped[TemplateSummary].of(templates, limit))

    @read_tool(mcp, "Compare logs before and after")
    def compare_logs(
        deployment: Annotated[str, Field(description="the Deployment whose pods' logs to compare")],
        at: Annotated[str, Field(description='RFC 3339 time, or "latest-rollout": when the deployment\'s newest '
                                 "ReplicaSet was created")],
        window_minutes: Annotated[float, Field(gt=0, le=24 * 60, description="length of each side")] = 15,
        namespace: Namespace = None,
        limit: Annotated[int, Field(ge=1, le=100, description="most templates in each list")] = 15,
    ) -> LogComparison:
        """Log templates before vs after a moment: new ones since (errors first), gone ones, and ones whose rate
        changed a lot. With the Kubernetes backend, pods deleted since (by a rollout) have no logs left."""
        target = target_of(settings, deployment, None, namespace)
        if at.strip() == "latest-rollout":
            rollout = latest_rollout(kube, target.namespace, deployment)
            moment = rollout.created
            at_from = f"latest-rollout: ReplicaSet {rollout.replicaset}" + (
                f" (revision {rollout.revision})" if rollout.revision else "")
        else:
            moment, at_from = parse_moment(at, "at"), "given"
        if moment > datetime.now(UTC):
            raise fail("bad_input", f"at ({moment.isoformat()}) is in the future")
        span = timedelta(minutes=window_minutes)
        whole = Window(moment - span, min(moment + span, datetime.now(UTC)))
        fetched = source.fetch(target, whole, incarnations="both")
        before, after = observed_windows(fetched, moment, span)
        new, gone, changed = compare(fetched.lines, moment, before, after)
        sides = ([line for line in fetched.lines if line.timestamp < moment],
                 [line for line in fetched.lines if line.timestamp >= moment])
        notes = list(fetched.notes)
        if not sides[0]:
            notes.append("no lines before `at`, so every template counts as new: the pods that logged then are gone "
                         "(the Kubernetes API keeps no logs of deleted pods; Loki does) or were not started yet.")
        return LogComparison(
            deployment=deployment, namespace=target.namespace, source=source.name, at=moment, at_from=at_from,
            before=WindowCounts(start=before.start, end=before.end, lines=len(sides[0]),
                                pods=sorted({line.pod for line in sides[0]})),
            after=WindowCounts(start=after.start, end=after.end, lines=len(sides[1]),
                               pods=sorted({line.pod for line in sides[1]})),
            new_templates=len(new), gone_templates=len(gone), changed_templates=len(changed), notes=notes,
            new=Capped[TemplateChange].of(new, limit), gone=Capped[TemplateChange].of(gone, limit),
            changed=Capped[TemplateChange].of(changed, limit))

    return mcp
