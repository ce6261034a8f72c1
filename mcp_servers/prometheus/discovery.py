"""What Prometheus scrapes and holds: scrape target health per job, and metrics found by name with their
metadata and labels (pure: API objects in, views out)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped


class JobHealth(BaseModel):
    job: str
    up: int
    down: int
    unknown: int


class DownTarget(BaseModel):
    job: str
    instance: str
    health: str
    scrape_url: str
    last_error: str
    last_scrape: str | None


class TargetHealth(BaseModel):
    summary: str
    jobs: list[JobHealth] = Field(description="jobs with down targets first")
    not_up: Capped[DownTarget] = Field(description="targets that are down or not yet scraped")


def target_health_view(active: list[dict[str, Any]], limit: int) -> TargetHealth:
    jobs: dict[str, dict[str, int]] = {}
    not_up = []
    for target in active:
        labels = target.get("labels", {})
        job, health = labels.get("job", target.get("scrapePool", "?")), target.get("health", "unknown")
        counts = jobs.setdefault(job, {"up": 0, "down": 0, "unknown": 0})
        counts[health if health in counts else "unknown"] += 1
        if health != "up":
            not_up.append(DownTarget(job=job, instance=labels.get("instance", "?"), health=health,
                                     scrape_url=target.get("scrapeUrl", ""), last_error=target.get("lastError", ""),
                                     last_scrape=target.get("lastScrape")))
    rows = sorted((JobHealth(job=job, **c) for job, c in jobs.items()), key=lambda j: (-j.down - j.unknown, j.job))
    up = sum(j.up for j in rows)
    summary = f"{up}/{len(active)} targets up in {len(rows)} jobs"
    if not_up:
        summary += "; not up: " + ", ".join(f"{j.job} {j.down + j.unknown}" for j in rows if j.down + j.unknown)
    return TargetHealth(summary=summary, jobs=rows, not_up=Capped.of(not_up, limit))


# ------------------------------------------------------------------------------------------------- metrics

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


class MetricInfo(BaseModel):
    name: str
    type: str = Field(description="counter, gauge, histogram, ...; 'recording rule' for a rule's output")
    help: str
    unit: str


class MetricSearch(BaseModel):
    search: str
    summary: str
    metrics: Capped[MetricInfo] = Field(description="sorted by name")


class LabelValueCount(BaseModel):
    value: str
    series: int


class LabelInfo(BaseModel):
    name: str
    distinct_values: int
    top_values: list[LabelValueCount] = Field(description="the values on most series, capped")


class MetricLabels(BaseModel):
    metric: str
    type: str
    help: str
    series: int = Field(description="series seen in the last 5 minutes")
    labels: list[LabelInfo] = Field(description="fewest distinct values first: the best to group by")


def name_pattern(search: str) -> re.Pattern[str]:
    """A regular expression if it is one, else the text itself: `kv_cache` and `^vllm:.*seconds$` both work."""
    try:
        return re.compile(search, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(search), re.IGNORECASE)


def metric_search(search: str, names: list[str], metadata: dict[str, dict[str, str]], limit: int) -> MetricSearch:
    """The metric names that match `search`, with their metadata, and how many of each type."""
    pattern = name_pattern(search)
    found = [metadata_of(name, metadata) for name in sorted(names) if pattern.search(name)]
    kinds: dict[str, int] = {}
    for info in found:
        kinds[info.type] = kinds.get(info.type, 0) + 1
    summary = f"{len(found)} of {len(names)} metrics match {search!r}"
    if found:
        summary += ": " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return MetricSearch(search=search, summary=summary, metrics=Capped.of(found, limit))


def metadata_of(name: str, metadata: dict[str, dict[str, str]]) -> MetricInfo:
    """Metadata is kept per metric family; a histogram's _bucket series or a counter's _total find their family."""
    candidates = [name] + [name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)]
    for candidate in candidates:
        if candidate in metadata:
            meta = metadata[candidate]
            return MetricInfo(name=name, type=meta.get("type", "unknown"), help=meta.get("help", ""),
                              unit=meta.get("unit", ""))
    kind = "recording rule" if ":" in name else "unknown"
    return MetricInfo(name=name, type=kind, help="", unit="")


def label_infos(series: list[dict[str, str]], limit: int) -> list[LabelInfo]:
    values: dict[str, dict[str, int]] = {}
    for labels in series:
        for name, value in labels.items():
            if name != "__name__":
                counts = values.setdefault(name, {})
                counts[value] = counts.get(value, 0) + 1
    infos = [LabelInfo(name=name, distinct_values=len(counts),
                       top_values=[LabelValueCount(value=v, series=n) for v, n in
                                   sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]])
             for name, counts in values.items()]
    return sorted(infos, key=lambda info: (info.distinct_values, info.name))
