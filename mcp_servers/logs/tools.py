"""The logs server's tools: search a pod's, deployment's or namespace's logs, group the errors, compare around a
rollout.

Answers lead with counts (lines, pods, errors) and keep raw lines to what the caller asked for. Lines are
grouped by template (`templates.py`) so that a thousand failed requests read as one line with a count.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field

from mcp_servers.answers import Capped
from mcp_servers.errors import fail
from mcp_servers.logs.backends import LogBackends
from mcp_servers.logs.lines import Target, Window
from mcp_servers.logs.models import (
    ErrorSummary,
    LogComparison,
    LogSearch,
    TemplateChange,
    TemplateSummary,
    WindowCounts,
    WindowInfo,
)
from mcp_servers.logs.sources import latest_rollout
from mcp_servers.logs.views import (
    PROBLEM,
    compare,
    newest_within_budget,
    observed_windows,
    pod_counts,
    severity,
    summarise_errors,
)
from mcp_servers.toolkit import ToolSpec, held, reads

Deployment = Annotated[str | None, Field(description="a Deployment: reads all of its pods")]
Pod = Annotated[str | None, Field(description="one pod; give a deployment or a pod (neither: the whole namespace)")]
Namespace = Annotated[str | None, Field(description="default: the server's namespace")]


# -- input checks ---------------------------------------------------------------------------------------
def target_of(default_namespace: str, deployment: str | None, pod: str | None, namespace: str | None) -> Target:
    if deployment and pod:
        raise fail("bad_input", "give either a deployment or a pod, not both")
    return Target(namespace or default_namespace, deployment or None, pod or None)


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


def search_logs(
    deployment: Deployment = None,
    pod: Pod = None,
    namespace: Namespace = None,
    since_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="window length")] = 15,
    until: Annotated[str | None, Field(description="window end, RFC 3339; default now")] = None,
    regex: Annotated[str | None, Field(description="keep only lines matching this (Python/RE2) regex")] = None,
    limit: Annotated[int, Field(ge=1, le=1000, description="most lines returned (the newest)")] = 200,
    previous: Annotated[bool, Field(description="read the previous (crashed) container instead")] = False,
    logs: LogBackends = held(LogBackends),
) -> LogSearch:
    """Log lines of a deployment's pods, one pod, or the namespace in a time window, newest last.

    The summary comes first: lines matched, error and warning lines among them, lines per pod.
    """
    target = target_of(logs.namespace, deployment, pod, namespace)
    window = window_of(since_minutes, until)
    fetched = logs.source.fetch(target, window, pattern=compile_regex(regex),
                           incarnations="previous" if previous else "current")
    levels = Counter(severity(line.text) for line in fetched.lines)
    return LogSearch(target=target.describe(), source=logs.source.name,
                     window=WindowInfo(start=window.start, end=window.end), lines_matched=len(fetched.lines),
                     error_lines=levels["error"], warning_lines=levels["warning"],
                     pods=pod_counts(fetched.lines), notes=fetched.notes,
                     lines=newest_within_budget(fetched.lines, limit))


def log_error_summary(
    deployment: Deployment = None,
    pod: Pod = None,
    namespace: Namespace = None,
    since_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="window length")] = 15,
    limit: Annotated[int, Field(ge=1, le=200, description="most templates returned")] = 20,
    logs: LogBackends = held(LogBackends),
) -> ErrorSummary:
    """Error and warning lines (levels, tracebacks, CUDA errors, OOM, Xid, HTTP 5xx) grouped into templates,
    each with its count, pods, first and last time seen and one example line; most frequent first.

    Restarted containers are read twice, current and previous, since a crash's traceback is in the latter.
    """
    target = target_of(logs.namespace, deployment, pod, namespace)
    window = window_of(since_minutes, None)
    fetched = logs.source.fetch(target, window, pattern=PROBLEM, incarnations="both")
    templates, tally = summarise_errors(fetched.lines)
    return ErrorSummary(target=target.describe(), source=logs.source.name,
                        window=WindowInfo(start=window.start, end=window.end), error_lines=tally["error"],
                        warning_lines=tally["warning"], distinct_templates=len(templates),
                        pods=pod_counts(fetched.lines), notes=fetched.notes,
                        templates=Capped[TemplateSummary].of(templates, limit))


def compare_logs(
    deployment: Annotated[str, Field(description="the Deployment whose pods' logs to compare")],
    at: Annotated[str, Field(description='RFC 3339 time, or "latest-rollout": when the deployment\'s newest '
                             "ReplicaSet was created")],
    window_minutes: Annotated[float, Field(gt=0, le=24 * 60, description="length of each side")] = 15,
    namespace: Namespace = None,
    limit: Annotated[int, Field(ge=1, le=100, description="most templates in each list")] = 15,
    logs: LogBackends = held(LogBackends),
) -> LogComparison:
    """Log templates before vs after a moment: new ones since (errors first), gone ones, and ones whose rate
    changed a lot. With the Kubernetes backend, pods deleted since (by a rollout) have no logs left."""
    target = target_of(logs.namespace, deployment, None, namespace)
    if at.strip() == "latest-rollout":
        rollout = latest_rollout(logs.kube, target.namespace, deployment)
        moment = rollout.created
        at_from = f"latest-rollout: ReplicaSet {rollout.replicaset}" + (
            f" (revision {rollout.revision})" if rollout.revision else "")
    else:
        moment, at_from = parse_moment(at, "at"), "given"
    if moment > datetime.now(UTC):
        raise fail("bad_input", f"at ({moment.isoformat()}) is in the future")
    span = timedelta(minutes=window_minutes)
    whole = Window(moment - span, min(moment + span, datetime.now(UTC)))
    fetched = logs.source.fetch(target, whole, incarnations="both")
    before, after = observed_windows(fetched, moment, span)
    new, gone, changed = compare(fetched.lines, moment, before, after)
    sides = ([line for line in fetched.lines if line.timestamp < moment],
             [line for line in fetched.lines if line.timestamp >= moment])
    notes = list(fetched.notes)
    if not sides[0]:
        notes.append("no lines before `at`, so every template counts as new: the pods that logged then are gone "
                     "(the Kubernetes API keeps no logs of deleted pods; Loki does) or were not started yet.")
    return LogComparison(
        deployment=deployment, namespace=target.namespace, source=logs.source.name, at=moment, at_from=at_from,
        before=WindowCounts(start=before.start, end=before.end, lines=len(sides[0]),
                            pods=sorted({line.pod for line in sides[0]})),
        after=WindowCounts(start=after.start, end=after.end, lines=len(sides[1]),
                           pods=sorted({line.pod for line in sides[1]})),
        new_templates=len(new), gone_templates=len(gone), changed_templates=len(changed), notes=notes,
        new=Capped[TemplateChange].of(new, limit), gone=Capped[TemplateChange].of(gone, limit),
        changed=Capped[TemplateChange].of(changed, limit))


TOOLS: tuple[ToolSpec, ...] = (
    reads(search_logs, "Search logs"),
    reads(log_error_summary, "Error summary of logs"),
    reads(compare_logs, "Compare logs before and after"),
)
