"""The prometheus server's tools: PromQL, SLO burn rates, alerts, scrape targets, metric discovery and silences.

Each tool is a function of its arguments and the clients its server holds (`held`): Prometheus through the
endpoint's shared `PrometheusApi`, Alertmanager (API v2) through a pooled `HttpApi`. The views that shape the
answers are pure (`series`, `slo`, `alerts`, `discovery`); `TOOLS` is the table the server registers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped, WriteResult
from mcp_servers.errors import BackendError, NotFound, fail
from mcp_servers.prometheus.alerts import (
    AlertsReport,
    SilenceMatcher,
    alerts_report,
    from_prometheus,
    iso,
    key_marker,
    merge_alertmanager,
    silence_matchers,
    silence_view,
)
from mcp_servers.prometheus.client import HttpApi, PrometheusApi
from mcp_servers.prometheus.discovery import (
    MetricLabels,
    MetricSearch,
    TargetHealth,
    label_infos,
    metadata_of,
    metric_search,
    target_health_view,
)
from mcp_servers.prometheus.series import (
    QueryResult,
    RangeResult,
    describe_range,
    instant_result,
    summarise_range,
)
from mcp_servers.prometheus.slo import SloReport, slo_report, slo_selector, slo_states
from mcp_servers.prometheus.slo_conventions import OBJECTIVE
from mcp_servers.settings import Settings
from mcp_servers.toolkit import held, reads, writes

RANGE_POINTS = 240  # the default step spreads a range over about this many points
SERIES_WINDOW = timedelta(minutes=5)  # metric_labels looks at the series seen this recently


def query(promql: Annotated[str, Field(min_length=1, description="a PromQL expression")],
          time: Annotated[str | None, Field(description="RFC 3339 or Unix seconds; default now")] = None,
          limit: Annotated[int, Field(ge=1, le=500, description="series to return")] = 50,
          prometheus: PrometheusApi = held(PrometheusApi)) -> QueryResult:
    """Evaluates PromQL at one instant: result type, series count, series sorted by value (highest first)
    with their labels, capped at `limit` with `truncated` set. Bad PromQL returns Prometheus's parse error."""
    result = prometheus.query(promql, **({"time": time} if time else {}))
    return instant_result(promql, result, limit)


def query_range(promql: Annotated[str, Field(min_length=1, description="a PromQL expression")],
                minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="how far back")] = 30,
                step_s: Annotated[float | None, Field(gt=0, description="resolution; default: range/240")]
                = None,
                raw: Annotated[bool, Field(description="also return the points (newest 300 per series)")]
                = False,
                limit: Annotated[int, Field(ge=1, le=200, description="series to return")] = 20,
                prometheus: PrometheusApi = held(PrometheusApi)) -> RangeResult:
    """Evaluates PromQL over the last `minutes`: per series first/last/min/max/mean and change points
    (when the value moved to a new level and stayed there: time, level before and after), not the points
    themselves unless `raw` is set. Series that changed come first."""
    end = datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    step = step_s or max(1.0, round(minutes * 60 / RANGE_POINTS))
    result = prometheus.query_range(promql, start, end, f"{step:g}")
    items = summarise_range(result, raw)
    return RangeResult(promql=promql, start=start.timestamp(), end=end.timestamp(), step_s=step,
                       summary=describe_range(items), series=Capped.of(items, limit))


def slo_status(slo: Annotated[str | None, Field(description="one SLO by name, e.g. availability")] = None,
               model: Annotated[str | None, Field(description="one model, e.g. llama-70b")] = None,
               limit: Annotated[int, Field(ge=1, le=200)] = 50,
               prometheus: PrometheusApi = held(PrometheusApi)) -> SloReport:
    """Every SLO (or one) from the slo:* recording rules: objective, error ratio and burn rate per window,
    the 30-day error budget left, and a status: burning-page (1h and 5m above 14.4x, or 6h and 30m above
    6x), burning-ticket (1d and 2h above 3x, or 3d and 6h above 1x) or ok. Worst first. One PromQL call."""
    states = slo_states(prometheus.query(slo_selector(slo, model)))
    if not states:
        known = prometheus.query(f"group by (slo, model) ({OBJECTIVE})")
        if not known:
            raise fail("not_found", "Prometheus has no slo:* recording rules: load the rules `firebreak slo rules` "
                       "generates")
        names = sorted(f"{s['metric'].get('slo')}/{s['metric'].get('model', '-')}" for s in known)
        raise fail("not_found",
                   f"no SLO matches slo={slo!r} model={model!r}; recorded (slo/model): {', '.join(names)}")
    return slo_report(states, limit)


def firing_alerts(include_pending: Annotated[bool, Field(description="also list alerts not firing yet")]
                  = False,
                  limit: Annotated[int, Field(ge=1, le=200)] = 50,
                  prometheus: PrometheusApi = held(PrometheusApi),
                  alertmanager: HttpApi = held(HttpApi)) -> AlertsReport:
    """Alerts from Prometheus's rules merged with Alertmanager's view of them (active, silenced or
    inhibited, and by which silence). Summary first; page/critical severity first."""
    alerts = [from_prometheus(a) for a in prometheus.alerts()]
    warnings = []
    try:
        am_alerts = alertmanager.request("GET", "/api/v2/alerts", params={"active": "true", "silenced": "true",
                                                                "inhibited": "true"})
        alerts = merge_alertmanager(alerts, am_alerts)
    except BackendError as error:
        warnings.append(f"{error}; silenced/inhibited state unknown")
    return alerts_report(alerts, include_pending, warnings, limit)


def target_health(limit: Annotated[int, Field(ge=1, le=200, description="down targets to list")]
                  = 50,
                  prometheus: PrometheusApi = held(PrometheusApi)) -> TargetHealth:
    """Scrape targets up/down per job, and each target that is not up with its last scrape error."""
    return target_health_view(prometheus.targets(state="active")["activeTargets"], limit)


def find_metrics(search: Annotated[str, Field(description="substring or regular expression, any case; "
                                                           "empty: all")] = "",
                 limit: Annotated[int, Field(ge=1, le=500)] = 50,
                 prometheus: PrometheusApi = held(PrometheusApi)) -> MetricSearch:
    """Metric names Prometheus holds that match `search`, with type, help and unit from the targets'
    metadata (recording rules show as type 'recording rule')."""
    return metric_search(search, prometheus.label_values("__name__"), prometheus.metric_metadata(), limit)


def metric_labels(metric: Annotated[str, Field(min_length=1, description="a metric name or series "
                                                                         "selector, e.g. up{job=\"vllm\"}")],
                  limit: Annotated[int, Field(ge=1, le=100, description="top values per label")]
                  = 10,
                  prometheus: PrometheusApi = held(PrometheusApi)) -> MetricLabels:
    """The label names of one metric's recent series, each with its number of distinct values and the most
    common values: what to filter and group by."""
    end = datetime.now(UTC)
    series = prometheus.series(end - SERIES_WINDOW, end, metric)
    if not series:
        raise fail("not_found",
                   f"no series match {metric!r} in the last 5 minutes; find_metrics searches metric names")
    metadata = prometheus.metric_metadata()  # all of it: a histogram's _bucket series finds its family's
    info = metadata_of(series[0].get("__name__", metric), metadata)
    return MetricLabels(metric=metric, type=info.type, help=info.help, series=len(series),
                        labels=label_infos(series, limit))


class ServedModel(BaseModel):
    deployment: str
    model_name: str = Field(description="the value of vLLM's `model_name` label on the deployment's series")
    configured: bool = Field(description="false: no name is configured for it, so its own name is assumed")


def served_model_name(deployment: Annotated[str, Field(min_length=1, description="a model deployment, e.g. "
                                                                              "llama-70b")],
                      settings: Settings = held(Settings)) -> ServedModel:
    """The `model_name` label of a deployment's vLLM series: the served model name configured for it
    (`served_model_names`), else the deployment's own name. vLLM labels with `--served-model-name`, whose default
    is the `--model` value (often a Hugging Face id), not the Deployment's name."""
    return ServedModel(deployment=deployment, model_name=settings.served_model_name(deployment),
                       configured=deployment in settings.served_model_names)


def create_silence(matchers: Annotated[dict[str, str] | list[SilenceMatcher],
                                       Field(description="{label: value} for equality, or a list of "
                                                         "{name, value, isRegex, isEqual}")],
                   minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="how long")],
                   reason: Annotated[str, Field(min_length=1, description="why: goes in the comment")],
                   created_by: str = "firebreak",
                   idempotency_key: Annotated[str | None, Field(description="a retried call with the same "
                                                                "key returns the existing silence")] = None,
                   dry_run: bool = False,
                   alertmanager: HttpApi = held(HttpApi)) -> WriteResult:
    """Silences matching alerts in Alertmanager for `minutes` from now (notifications stop, alerts stay
    visible as suppressed)."""
    comment = f"{reason} {key_marker(idempotency_key)}" if idempotency_key else reason
    now = datetime.now(UTC)
    body = {"matchers": silence_matchers(matchers), "startsAt": iso(now), "endsAt": iso(now + timedelta(
        minutes=minutes)), "createdBy": created_by, "comment": comment}
    planned = {"state": "planned", "matchers": body["matchers"], "starts_at": body["startsAt"],
               "ends_at": body["endsAt"], "created_by": created_by, "comment": comment}
    result = partial(WriteResult, action="create_silence", dry_run=dry_run, reason=reason,
                     idempotency_key=idempotency_key or "")
    if idempotency_key:
        for existing in alertmanager.request("GET", "/api/v2/silences"):
            if key_marker(idempotency_key) in existing.get("comment", "") and \
                    existing.get("status", {}).get("state") != "expired":
                view = silence_view(existing)
                return result(target=f"silence/{view['id']}", replayed=True, before=view, after=view,
                              message=f"silence {view['id']} already exists for this key")
    if dry_run:
        return result(target="silence/(new)", before={}, after=planned,
                      message="dry run: Alertmanager would accept this silence (not validated there)")
    created = alertmanager.request("POST", "/api/v2/silences", json=body)
    after = silence_view(alertmanager.request("GET", f"/api/v2/silence/{created['silenceID']}"))
    return result(target=f"silence/{after['id']}", before={}, after=after,
                  message=f"silence {after['id']} {after['state']} until {after['ends_at']}")


def expire_silence(silence_id: Annotated[str, Field(min_length=1, description="the silence's id (UUID)")],
                   reason: Annotated[str, Field(min_length=1)],
                   dry_run: bool = False,
                   alertmanager: HttpApi = held(HttpApi)) -> WriteResult:
    """Ends a silence now, so its alerts notify again. Expiring an expired silence changes nothing."""
    try:
        before = silence_view(alertmanager.request("GET", f"/api/v2/silence/{silence_id}"))
    except NotFound as error:
        raise NotFound(f"silence {silence_id} not found in Alertmanager") from error
    result = partial(WriteResult, action="expire_silence", target=f"silence/{silence_id}", dry_run=dry_run,
                     reason=reason, idempotency_key=silence_id, before=before)
    if before["state"] == "expired":
        return result(replayed=True, after=before, message=f"silence {silence_id} was already expired")
    if dry_run:
        return result(after={**before, "state": "expired"}, message=f"dry run: silence {silence_id} would expire")
    alertmanager.request("DELETE", f"/api/v2/silence/{silence_id}")
    after = silence_view(alertmanager.request("GET", f"/api/v2/silence/{silence_id}"))
    return result(after=after, message=f"silence {silence_id} {after['state']}")


TOOLS = (
    reads(query, "PromQL instant query"),
    reads(query_range, "PromQL range query, summarised"),
    reads(slo_status, "SLO status: burn rates and error budget"),
    reads(firing_alerts, "Firing alerts (Prometheus and Alertmanager)"),
    reads(target_health, "Scrape target health"),
    reads(find_metrics, "Find metrics by name"),
    reads(metric_labels, "Labels of a metric"),
    reads(served_model_name, "vLLM's model_name of a deployment"),
    writes(create_silence, "Create an Alertmanager silence", destructive=False, idempotent=False),
    writes(expire_silence, "Expire an Alertmanager silence", destructive=False, idempotent=True),
)
