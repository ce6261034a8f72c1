"""PromQL results cut down to what a model can read: samples ranked by value, range series as statistics
(pure: an API result in, a view out).

A range query over 30 minutes easily returns thousands of points; a model needs each series' level (first,
last, min, max, mean) and the moments where it moved. Change points are found by a rule simple enough to
explain in a few sentences (see `change_points`), not by a statistical model.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped

LEVEL_POINTS = 10  # the running level is the median of this many previous points
CONFIRM_POINTS = 3  # a move counts when this many points in a row stay away from the level
NOISE_SIGMAS = 4.0  # away means further than this many standard deviations of the level's points...
RELATIVE_JUMP = 0.3  # ...and than this share of the level, so small wiggles of a big gauge are no change
MAX_CHANGE_POINTS = 5
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation from its median absolute deviation
MAX_RAW_POINTS = 300  # per series, the newest kept


# NaN and ±Inf are legitimate PromQL values (0/0, x/0) but JSON has no literal for them: they travel as the
# text Prometheus itself uses.
Number = float | str


def number(value: float) -> Number:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


class Sample(BaseModel):
    """One series of an instant query."""

    metric: str | None = Field(description="the metric name (__name__), when the result keeps it")
    labels: dict[str, str]
    value: Number = Field(description='a number, or "NaN", "+Inf", "-Inf"')


class ChangePoint(BaseModel):
    """Where the series left its running level for a new one."""

    at: float = Field(description="Unix time of the first point away from the old level")
    before: float = Field(description="the level before: median of the 10 points before `at`")
    after: float = Field(description="the level after: median of the 10 points from `at` on")
    change: float = Field(description="after - before")


class SeriesSummary(BaseModel):
    """One series of a range query, as statistics instead of points (min, max and mean leave NaN out)."""

    metric: str | None
    labels: dict[str, str]
    points: int
    first: Number
    last: Number
    min: Number
    max: Number
    mean: Number
    change_points: list[ChangePoint]
    raw: list[tuple[float, Number]] | None = Field(default=None, description="[unix time, value] pairs, if asked")
    raw_truncated: bool = Field(default=False, description="true when raw holds only the newest points")


def split_metric(metric: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    labels = dict(metric)
    return labels.pop("__name__", None), labels


def series_name(metric: str | None, labels: dict[str, str]) -> str:
    """`name{k="v",...}`, the way Prometheus prints a series."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric or ''}{{{inner}}}"


def _rank(value: Number) -> float:
    """Sorting key, highest first: NaN last."""
    return -math.inf if value == "NaN" else float(value)


def samples(result: Sequence[dict[str, Any]]) -> list[Sample]:
    """An instant vector (or the last point of each series of a range vector), highest value first."""
    out = []
    for series in result:
        metric, labels = split_metric(series.get("metric", {}))
        point = series["value"] if "value" in series else series["values"][-1]
        out.append(Sample(metric=metric, labels=labels, value=number(float(point[1]))))
    return sorted(out, key=lambda s: _rank(s.value), reverse=True)


def _text(value: Number) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def describe_samples(items: Sequence[Sample]) -> str:
    """One line: how many, the extremes, and the value counts when there are only a few distinct values."""
    if not items:
        return "no series"
    text = f"{len(items)} series; highest {series_name(items[0].metric, items[0].labels)} = {_text(items[0].value)}"
    if len(items) > 1:
        text += f"; lowest {series_name(items[-1].metric, items[-1].labels)} = {_text(items[-1].value)}"
    counts: dict[str, int] = {}
    for s in items:
        counts[_text(s.value)] = counts.get(_text(s.value), 0) + 1
    if len(counts) <= 5:
        text += "; values: " + ", ".join(f"{v} x{n}" for v, n in counts.items())
    return text


def _departs(level: float, spread: float, ahead: Sequence[float]) -> bool:
    threshold = max(NOISE_SIGMAS * spread, RELATIVE_JUMP * abs(level))
    return all(v - level > threshold for v in ahead) or all(level - v > threshold for v in ahead)


def change_points(points: Sequence[tuple[float, float]]) -> list[ChangePoint]:
    """Where the value moved to a new level, explained simply.

    The running level is the median of the previous 10 points (never reaching back across the last change).
    A change starts at a point when it and the next 2 (or the rest of the range, if shorter) are all on the
    same side of the level, further from it than 4 standard deviations of those 10 points (estimated from
    their median absolute deviation) and than 30 % of the level. Then the level starts over from that point.
    A one-point spike or a steady ramp is no change (min, max, first and last show them). At most the 5
    largest changes, in time order.
    """
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    changes: list[ChangePoint] = []
    segment_start, i = 0, CONFIRM_POINTS
    while i < len(finite):
        window = [v for _, v in finite[max(segment_start, i - LEVEL_POINTS):i]]
        if len(window) < CONFIRM_POINTS:
            i += 1
            continue
        level = statistics.median(window)
        spread = MAD_TO_SIGMA * statistics.median(abs(v - level) for v in window)
        if not _departs(level, spread, [v for _, v in finite[i:i + CONFIRM_POINTS]]):
            i += 1
            continue
        after = statistics.median(v for _, v in finite[i:i + LEVEL_POINTS])
        changes.append(ChangePoint(at=finite[i][0], before=level, after=after, change=after - level))
        segment_start, i = i, i + CONFIRM_POINTS
    largest = sorted(changes, key=lambda c: abs(c.change), reverse=True)[:MAX_CHANGE_POINTS]
    return sorted(largest, key=lambda c: c.at)


def summarise_series(series: dict[str, Any], raw: bool) -> SeriesSummary:
    """Statistics of one range series (NaN points left out of min/max/mean, kept in raw)."""
    metric, labels = split_metric(series.get("metric", {}))
    points = [(float(t), float(v)) for t, v in series["values"]]
    values = [v for _, v in points if not math.isnan(v)] or [math.nan]
    return SeriesSummary(metric=metric, labels=labels, points=len(points), first=number(points[0][1]),
                         last=number(points[-1][1]), min=number(min(values)), max=number(max(values)),
                         mean=number(statistics.fmean(values)), change_points=change_points(points),
                         raw=[(t, number(v)) for t, v in points[-MAX_RAW_POINTS:]] if raw else None,
                         raw_truncated=raw and len(points) > MAX_RAW_POINTS)


def summarise_range(result: Sequence[dict[str, Any]], raw: bool) -> list[SeriesSummary]:
    """Every series of a range result, those that jumped first, then by last value, highest first."""
    out = [summarise_series(s, raw) for s in result if s.get("values")]
    return sorted(out, key=lambda s: (bool(s.change_points), _rank(s.last)), reverse=True)


def describe_range(items: Sequence[SeriesSummary]) -> str:
    """One line: how many series, how many jumped, and the biggest jump."""
    if not items:
        return "no series in the range"
    jumps = [(c, s) for s in items for c in s.change_points]
    text = f"{len(items)} series; {sum(1 for s in items if s.change_points)} with change points"
    if jumps:
        c, s = max(jumps, key=lambda pair: abs(pair[0].change))
        text += (f"; largest: {series_name(s.metric, s.labels)} {c.before:g} -> {c.after:g} at {c.at:.0f}")
    return text


class QueryResult(BaseModel):
    promql: str
    result_type: Literal["vector", "matrix", "scalar", "string"]
    summary: str
    scalar: Number | None = Field(default=None, description="the value of a scalar or string result")
    series: Capped[Sample] = Field(description="highest value first; for a range vector, each series' last value")


class RangeResult(BaseModel):
    promql: str
    start: float
    end: float
    step_s: float
    summary: str
    series: Capped[SeriesSummary] = Field(description="series with change points first, then by last value")


def instant_result(promql: str, result: list[Any], limit: int) -> QueryResult:
    """An instant query's answer: a scalar or string as its value, a vector or range vector as ranked samples."""
    # custom_query returns data.result without resultType: a scalar or string is a bare [time, value] pair.
    if len(result) == 2 and not isinstance(result[0], dict):
        value = result[1]
        try:
            return QueryResult(promql=promql, result_type="scalar", summary=f"scalar {value}",
                               scalar=number(float(value)), series=Capped.of([], limit))
        except ValueError:
            return QueryResult(promql=promql, result_type="string", summary=f"string {value!r}", scalar=value,
                               series=Capped.of([], limit))
    kind: Literal["vector", "matrix"] = "matrix" if result and "values" in result[0] else "vector"
    items = samples(result)
    summary = describe_samples(items) + ("; a range vector: values are each series' last point" if
                                         kind == "matrix" else "")
    return QueryResult(promql=promql, result_type=kind, summary=summary, series=Capped.of(items, limit))
