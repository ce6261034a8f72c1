"""The prometheus MCP server: PromQL, SLO burn rates, alerts, scrape targets, metric discovery and silences.

Reads go to Prometheus through prometheus-api-client (queries, targets, metadata, series) and plain HTTP for
what that client does not cover (alerts); Alertmanager is plain HTTP (API v2). Every failure is translated
into a sentence: Prometheus's own error for bad PromQL, "Prometheus at URL is unreachable: ..." when it
cannot be reached (the agent reads that as "I am blind"), and the variable to set when nothing is configured.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

import httpx
import requests
from fastmcp import FastMCP
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from pydantic import BaseModel, Field
from urllib3.util.retry import Retry

from mcp_servers.errors import ToolFailure, fail, kind_of_status, transport_kind
from mcp_servers.promql_summary import (
    Number,
    Sample,
    SeriesSummary,
    describe_range,
    describe_samples,
    number,
    samples,
    summarise_range,
)
from mcp_servers.settings import HttpEndpoint, Settings
from mcp_servers.toolkit import Capped, WriteResult, read_tool, write_tool

TIMEOUT_S = 15
# One quick retry for a dropped connection or a restarting server; the watcher calls every few seconds, so
# a blind Prometheus must be reported in well under a second, not after urllib3's default back-off.
RETRY = Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504), raise_on_status=False)
RANGE_POINTS = 240  # the default step spreads a range over about this many points
SERIES_WINDOW = timedelta(minutes=5)  # metric_labels looks at the series seen this recently


# ----------------------------------------------------------------------------------------------- clients


class Api:
    """One HTTP API (Prometheus or Alertmanager) that fails with sentences instead of stack traces."""

    def __init__(self, name: str, env_var: str, endpoint: HttpEndpoint | None) -> None:
        self.name, self.env_var, self._endpoint = name, env_var, endpoint

    @property
    def endpoint(self) -> HttpEndpoint:
        if self._endpoint is None:
            raise fail("unreachable",
                       f"{self.name} is not configured: set {self.env_var} (or `{self.name.lower()}: {{url: ...}}` "
                       "in the config file)")
        return self._endpoint

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """Turns transport failures into "NAME at URL is unreachable: why"."""
        try:
            yield
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError,
                httpx.TransportError) as error:
            kind = "timeout" if isinstance(error, requests.Timeout) else transport_kind(error)
            raise fail(kind, f"{self.name} at {self.endpoint.base} is unreachable: {_reason(error)}") from error

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON of a plain HTTP call; API errors become the server's own message."""
        endpoint = self.endpoint
        with self.reaching(), httpx.Client(base_url=endpoint.base, headers=endpoint.headers(),
                                           auth=endpoint.auth(), verify=endpoint.tls(),
                                           timeout=TIMEOUT_S) as client:
            response = client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise fail(kind_of_status(response.status_code), _explain(self.name, response.status_code,
                                                                      response.content))
        return response.json() if response.content else None


class Prometheus(Api):
    def __init__(self, endpoint: HttpEndpoint | None) -> None:
        super().__init__("Prometheus", "PROMETHEUS_URL", endpoint)
        self._client: PrometheusConnect | None = None

    @property
    def client(self) -> PrometheusConnect:
        if self._client is None:
            endpoint = self.endpoint
            self._client = PrometheusConnect(url=endpoint.base, headers=endpoint.headers() or None,
                                             auth=endpoint.auth(), session=_session(endpoint), retry=RETRY,
                                             timeout=TIMEOUT_S)
        return self._client

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Errors of a prometheus-api-client call, in Prometheus's own words."""
        with self.reaching():
            try:
                yield
            except PrometheusApiClientException as error:
                raise _client_error(str(error)) from error

    def query(self, promql: str, **params: str) -> list[Any]:
        with self.calling():
            return list(self.client.custom_query(promql, params=params or None))


def _session(endpoint: HttpEndpoint) -> requests.Session:
    """A session that takes the environment's proxy and CA bundle settings once, when made: left to requests, it
    reads the whole environment again before every query. Credentials come from the settings only,
    never from ~/.netrc."""
    session = requests.Session()
    found = session.merge_environment_settings(endpoint.base, {}, None, endpoint.verify(), None)
    session.proxies, session.verify = found["proxies"], found["verify"]
    session.trust_env = False
    return session


def _reason(error: Exception) -> str:
    """The root cause of a connection failure, without a pool's worth of repr."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    if isinstance(error, (requests.Timeout, httpx.TimeoutException)):
        return f"no answer within {TIMEOUT_S} s"
    return text[:300] or type(error).__name__


def _explain(name: str, status: int, body: bytes) -> str:
    """Prometheus's error JSON ("invalid parameter \"query\": 1:5: parse error: ...") as one sentence."""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body.decode(errors="replace").strip()
    if isinstance(decoded, dict):
        message = str(decoded.get("error") or decoded.get("message") or decoded)
        if decoded.get("errorType") == "execution":
            return f"the query failed in {name}: {message}"
    else:
        message = str(decoded)
    bad = re.match(r'invalid parameter "([^"]+)": (.*)', message, re.S)
    if bad:
        what = {"query": "PromQL", "match[]": "series selector"}.get(bad.group(1), bad.group(1))
        return f"bad {what}: {bad.group(2)}"
    return f"{name} answered HTTP {status}: {message[:500]}"


def _client_error(text: str) -> ToolFailure:
    """prometheus-api-client reports `HTTP Status Code 400 (b'{...}')`: the JSON inside is what matters."""
    found = re.match(r"HTTP Status Code (\d+) \((b.*)\)$", text, re.S)
    if not found:
        return fail("internal", f"Prometheus refused the request: {text[:500]}")
    status, body = int(found.group(1)), ast.literal_eval(found.group(2))
    return fail(kind_of_status(status), _explain("Prometheus", status, body))


def _promql_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid PromQL string literal


# ------------------------------------------------------------------------------------------------- queries


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


def _instant(promql: str, result: list[Any], limit: int) -> QueryResult:
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


# ---------------------------------------------------------------------------------------------------- SLOs

# Google SRE Workbook, "Alerting on SLOs", for a 30-day budget: (long window, short window, burn rate).
# The same rows as the alert rules `firebreak slo rules` generates (agent/slo/rules.py).
PAGE_ROWS = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_ROWS = (("1d", "2h", 3.0), ("3d", "6h", 1.0))
STATUS_RANK = {"burning-page": 0, "burning-ticket": 1, "ok": 2}
SLO_SERIES = ("slo:(sli_error|burn_rate):ratio_rate.+"
              "|slo:(objective|error_budget|period_error_budget_remaining):ratio")
NOT_IDENTITY = frozenset({"__name__", "window", "time_scale"})
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class SloWindow(BaseModel):
    window: str = Field(description="SLO time (the sandbox compresses it by `time_scale`)")
    error_ratio: float | None = Field(description="None when the window saw no traffic")
    burn_rate: float | None = Field(description="error ratio / error budget; 1 spends the budget in the period")


class SloState(BaseModel):
    service: str | None
    slo: str | None
    model: str | None
    labels: dict[str, str] = Field(description="the SLO's other identifying labels")
    status: Literal["burning-page", "burning-ticket", "ok"]
    reason: str
    objective: float | None = Field(description="as a ratio: 0.999 is 99.9 %")
    error_budget: float | None
    budget_remaining: float | None = Field(description="share of the 30-day error budget left (negative: overspent)")
    time_scale: str | None = Field(description="SLO seconds per wall second, when the rules are compressed")
    windows: list[SloWindow]


class SloReport(BaseModel):
    summary: str
    counts: dict[str, int]
    slos: Capped[SloState] = Field(description="worst first")


def _seconds(window: str) -> float:
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdwy])", window)
    return float(found.group(1)) * UNIT_SECONDS[found.group(2)] if found else float("inf")


def _burning(burn: dict[str, float], rows: tuple[tuple[str, str, float], ...]) -> str | None:
    """The first row whose long and short windows both burn faster than its rate, in words."""
    for long, short, rate in rows:
        rates = burn.get(long), burn.get(short)
        if all(r is not None and r > rate for r in rates):
            return f"burn rate {rates[0]:.1f}x over {long} and {rates[1]:.1f}x over {short}, both above {rate:g}x"
    return None


def _slo_state(identity: dict[str, str], series: list[tuple[dict[str, str], float]],
               recorded: list[str]) -> SloState:
    """One SLO's row; `recorded` lists every window any SLO has, so a window without traffic shows as None."""
    ratios: dict[str, float] = {}
    burns: dict[str, float] = {}
    scalars: dict[str, float] = {}
    time_scale = None
    for labels, value in series:
        name = labels["__name__"]
        time_scale = labels.get("time_scale", time_scale)
        window = name.rsplit("ratio_rate", 1)[-1]
        if name.startswith("slo:sli_error:ratio_rate"):
            ratios[window] = value
        elif name.startswith("slo:burn_rate:ratio_rate"):
            burns[window] = value
        else:
            scalars[name] = value
    budget = scalars.get("slo:error_budget:ratio")
    remaining = scalars.get("slo:period_error_budget_remaining:ratio")
    if remaining is None and budget and "30d" in ratios:
        remaining = 1 - ratios["30d"] / budget
    windows = [SloWindow(window=w, error_ratio=ratios.get(w), burn_rate=burns.get(w)) for w in recorded]
    page, ticket = _burning(burns, PAGE_ROWS), _burning(burns, TICKET_ROWS)
    status: Literal["burning-page", "burning-ticket", "ok"] = (
        "burning-page" if page else "burning-ticket" if ticket else "ok")
    quiet = "no alerting window pair burns above its threshold" if burns else "no traffic recorded in any window"
    reason = page or ticket or quiet
    rest = {k: v for k, v in identity.items() if k not in ("service", "slo", "model")}
    return SloState(service=identity.get("service"), slo=identity.get("slo"), model=identity.get("model"),
                    labels=rest, status=status, reason=reason, objective=scalars.get("slo:objective:ratio"),
                    error_budget=budget, budget_remaining=remaining, time_scale=time_scale, windows=windows)


def _slo_states(result: list[Any]) -> list[SloState]:
    grouped: dict[tuple[tuple[str, str], ...], list[tuple[dict[str, str], float]]] = {}
    recorded: set[str] = set()
    for series in result:
        labels = series["metric"]
        if "ratio_rate" in labels["__name__"]:
            recorded.add(labels["__name__"].rsplit("ratio_rate", 1)[-1])
        identity = tuple(sorted((k, v) for k, v in labels.items() if k not in NOT_IDENTITY))
        value = float(series["value"][1])
        if math.isfinite(value):  # NaN or Inf: a window with no usable data, reported as None
            grouped.setdefault(identity, []).append((labels, value))
    windows = sorted(recorded, key=_seconds)
    states = [_slo_state(dict(identity), series, windows) for identity, series in grouped.items()]

    def worst_first(state: SloState) -> tuple[int, float]:
        fastest = max((w.burn_rate for w in state.windows if w.burn_rate is not None), default=0.0)
        return STATUS_RANK[state.status], -fastest

    return sorted(states, key=worst_first)


def _slo_selector(slo: str | None, model: str | None) -> str:
    matchers = [f"__name__=~{_promql_string(SLO_SERIES)}"]
    matchers += [f"{k}={_promql_string(v)}" for k, v in (("slo", slo), ("model", model)) if v]
    return "{" + ",".join(matchers) + "}"


def _slo_report(states: list[SloState], limit: int) -> SloReport:
    counts = {status: sum(1 for s in states if s.status == status) for status in STATUS_RANK}
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    summary = f"{len(states)} SLOs: {', '.join(parts)}"
    if states and states[0].status != "ok":
        worst = states[0]
        name = " ".join(part for part in (worst.model, worst.slo) if part)
        summary += f"; worst {name}: {worst.reason}"
    return SloReport(summary=summary, counts=counts, slos=Capped.of(states, limit))


# -------------------------------------------------------------------------------------------------- alerts

SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "ticket": 2, "warning": 2, "info": 3}


class Alert(BaseModel):
    name: str
    severity: str | None
    state: Literal["firing", "pending"]
    labels: dict[str, str] = Field(description="labels other than alertname and severity")
    summary: str | None
    active_since: str | None
    value: float | None = Field(description="the rule's value when it fired (for SLO alerts, the burn rate)")
    in_prometheus: bool
    alertmanager_state: str | None = Field(description="active, suppressed or unprocessed; None: not in "
                                                       "Alertmanager (yet)")
    silenced_by: list[str]
    inhibited_by: list[str]


class AlertsReport(BaseModel):
    summary: str
    counts: dict[str, int]
    alerts: Capped[Alert] = Field(description="page/critical first, firing before pending, oldest first")
    warnings: list[str] = Field(description="a source that could not be read: its alerts are missing here")


def _alert_value(value: Any) -> float | None:
    """The value Prometheus renders as text ("1.2e+01", "NaN"): a finite number or nothing."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        return None
    return parsed if math.isfinite(parsed) else None


def _from_prometheus(alert: dict[str, Any]) -> Alert:
    labels = dict(alert.get("labels", {}))
    return Alert(name=labels.pop("alertname", "?"), severity=labels.pop("severity", None),
                 state="pending" if alert.get("state") == "pending" else "firing", labels=labels,
                 summary=alert.get("annotations", {}).get("summary"), active_since=alert.get("activeAt"),
                 value=_alert_value(alert.get("value")), in_prometheus=True, alertmanager_state=None,
                 silenced_by=[], inhibited_by=[])


def _merge_alertmanager(alerts: list[Alert], am_alerts: list[dict[str, Any]]) -> list[Alert]:
    """Joins Alertmanager's view onto Prometheus's alerts: same name, and Prometheus's labels a subset of
    Alertmanager's (which may add external labels). An alert only Alertmanager has is added as firing."""
    merged = list(alerts)
    for am in am_alerts:
        labels = dict(am.get("labels", {}))
        name, severity = labels.pop("alertname", "?"), labels.pop("severity", None)
        status = am.get("status", {})
        view = {"alertmanager_state": status.get("state"), "silenced_by": list(status.get("silencedBy") or []),
                "inhibited_by": list(status.get("inhibitedBy") or [])}
        for i, alert in enumerate(merged):
            if alert.name == name and alert.severity == severity and alert.labels.items() <= labels.items():
                merged[i] = alert.model_copy(update=view)
                break
        else:
            merged.append(Alert(name=name, severity=severity, state="firing", labels=labels,
                                summary=am.get("annotations", {}).get("summary"), active_since=am.get("startsAt"),
                                value=None, in_prometheus=False, **view))
    return merged


def _alert_order(alert: Alert) -> tuple[int, int, str]:
    return SEVERITY_RANK.get(alert.severity or "", 2), alert.state == "pending", alert.active_since or ""


def _alerts_report(alerts: list[Alert], include_pending: bool, warnings: list[str], limit: int) -> AlertsReport:
    firing = [a for a in alerts if a.state == "firing"]
    silenced = [a for a in alerts if a.silenced_by or a.inhibited_by]
    counts = {"firing": len(firing), "pending": len(alerts) - len(firing), "silenced_or_inhibited": len(silenced)}
    for alert in firing:
        key = f"firing_{alert.severity or 'unlabelled'}"
        counts[key] = counts.get(key, 0) + 1
    shown = sorted(alerts if include_pending else firing, key=_alert_order)
    summary = f"{len(firing)} firing, {counts['pending']} pending, {len(silenced)} silenced or inhibited"
    if not include_pending and counts["pending"]:
        summary += " (pending not listed: include_pending=true)"
    if shown:
        top = shown[0]
        summary += f"; first: {top.name}{{{','.join(f'{k}={v}' for k, v in sorted(top.labels.items()))}}}"
        summary += " " + " ".join(part for part in (top.severity, top.state) if part)
    return AlertsReport(summary=summary, counts=counts, alerts=Capped.of(shown, limit), warnings=warnings)


# ------------------------------------------------------------------------------------------------- targets


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


def _target_health(active: list[dict[str, Any]], limit: int) -> TargetHealth:
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


def _matcher(search: str) -> re.Pattern[str]:
    """A regular expression if it is one, else the text itself: `kv_cache` and `^vllm:.*seconds$` both work."""
    try:
        return re.compile(search, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(search), re.IGNORECASE)


def _metadata_of(name: str, metadata: dict[str, dict[str, str]]) -> MetricInfo:
    """Metadata is kept per metric family; a histogram's _bucket series or a counter's _total find their family."""
    candidates = [name] + [name.removesuffix(s) for s in HISTOGRAM_SUFFIXES if name.endswith(s)]
    for candidate in candidates:
        if candidate in metadata:
            meta = metadata[candidate]
            return MetricInfo(name=name, type=meta.get("type", "unknown"), help=meta.get("help", ""),
                              unit=meta.get("unit", ""))
    kind = "recording rule" if ":" in name else "unknown"
    return MetricInfo(name=name, type=kind, help="", unit="")


def _label_infos(series: list[dict[str, str]], limit: int) -> list[LabelInfo]:
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


# ------------------------------------------------------------------------------------------------ silences


class SilenceMatcher(BaseModel):
    name: str = Field(min_length=1)
    value: str
    isRegex: bool = False  # Alertmanager's own field names
    isEqual: bool = True


def _matchers(matchers: dict[str, str] | list[SilenceMatcher]) -> list[dict[str, Any]]:
    items = [SilenceMatcher(name=k, value=v) for k, v in matchers.items()] if isinstance(matchers, dict) \
        else matchers
    if not items:
        raise fail("bad_input",
                   "a silence needs at least one matcher, e.g. {\"alertname\": \"ModelAvailabilityBudgetBurn\"}")
    return [m.model_dump() for m in items]


def _silence_view(silence: dict[str, Any]) -> dict[str, Any]:
    return {"id": silence.get("id"), "state": silence.get("status", {}).get("state"),
            "matchers": silence.get("matchers"), "starts_at": silence.get("startsAt"),
            "ends_at": silence.get("endsAt"), "created_by": silence.get("createdBy"),
            "comment": silence.get("comment")}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _key_marker(key: str) -> str:
    return f"[idempotency-key: {key}]"


# ----------------------------------------------------------------------------------------------- the server


def build(settings: Settings) -> FastMCP:
    """The prometheus server; connects to nothing until a tool is called."""
    mcp = FastMCP("prometheus", instructions="Prometheus and Alertmanager: PromQL (instant and summarised "
                  "range), SLO burn rates and error budgets, alerts, scrape target health, metric discovery, "
                  "silences.")
    prom = Prometheus(settings.prometheus)
    am = Api("Alertmanager", "ALERTMANAGER_URL", settings.alertmanager)

    @read_tool(mcp, "PromQL instant query")
    def query(promql: Annotated[str, Field(min_length=1, description="a PromQL expression")],
              time: Annotated[str | None, Field(description="RFC 3339 or Unix seconds; default now")] = None,
              limit: Annotated[int, Field(ge=1, le=500, description="series to return")] = 50) -> QueryResult:
        """Evaluates PromQL at one instant: result type, series count, series sorted by value (highest first)
        with their labels, capped at `limit` with `truncated` set. Bad PromQL returns Prometheus's parse error."""
        result = prom.query(promql, **({"time": time} if time else {}))
        return _instant(promql, result, limit)

    @read_tool(mcp, "PromQL range query, summarised")
    def query_range(promql: Annotated[str, Field(min_length=1, description="a PromQL expression")],
                    minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="how far back")] = 30,
                    step_s: Annotated[float | None, Field(gt=0, description="resolution; default: range/240")]
                    = None,
                    raw: Annotated[bool, Field(description="also return the points (newest 300 per series)")]
                    = False,
                    limit: Annotated[int, Field(ge=1, le=200, description="series to return")] = 20) -> RangeResult:
        """Evaluates PromQL over the last `minutes`: per series first/last/min/max/mean and change points
        (when the value moved to a new level and stayed there: time, level before and after), not the points
        themselves unless `raw` is set. Series that changed come first."""
        end = datetime.now(UTC)
        start = end - timedelta(minutes=minutes)
        step = step_s or max(1.0, round(minutes * 60 / RANGE_POINTS))
        with prom.calling():
            result = prom.client.custom_query_range(promql, start_time=start, end_time=end, step=f"{step:g}")
        items = summarise_range(result, raw)
        return RangeResult(promql=promql, start=start.timestamp(), end=end.timestamp(), step_s=step,
                           summary=describe_range(items), series=Capped.of(items, limit))

    @read_tool(mcp, "SLO status: burn rates and error budget")
    def slo_status(slo: Annotated[str | None, Field(description="one SLO by name, e.g. availability")] = None,
                   model: Annotated[str | None, Field(description="one model, e.g. llama-70b")] = None,
                   limit: Annotated[int, Field(ge=1, le=200)] = 50) -> SloReport:
        """Every SLO (or one) from the slo:* recording rules: objective, error ratio and burn rate per window,
        the 30-day error budget left, and a status: burning-page (1h and 5m above 14.4x, or 6h and 30m above
        6x), burning-ticket (1d and 2h above 3x, or 3d and 6h above 1x) or ok. Worst first. One PromQL call."""
        states = _slo_states(prom.query(_slo_selector(slo, model)))
        if not states:
            known = prom.query('group by (slo, model) (slo:objective:ratio)')
            if not known:
                raise fail("not_found", "Prometheus has no slo:* recording rules: load the rules `firebreak slo rules` "
                           "generates")
            names = sorted(f"{s['metric'].get('slo')}/{s['metric'].get('model', '-')}" for s in known)
            raise fail("not_found",
                       f"no SLO matches slo={slo!r} model={model!r}; recorded (slo/model): {', '.join(names)}")
        return _slo_report(states, limit)

    @read_tool(mcp, "Firing alerts (Prometheus and Alertmanager)")
    def firing_alerts(include_pending: Annotated[bool, Field(description="also list alerts not firing yet")]
                      = False,
                      limit: Annotated[int, Field(ge=1, le=200)] = 50) -> AlertsReport:
        """Alerts from Prometheus's rules merged with Alertmanager's view of them (active, silenced or
        inhibited, and by which silence). Summary first; page/critical severity first."""
        alerts = [_from_prometheus(a) for a in prom.request("GET", "/api/v1/alerts")["data"]["alerts"]]
        warnings = []
        try:
            am_alerts = am.request("GET", "/api/v2/alerts", params={"active": "true", "silenced": "true",
                                                                    "inhibited": "true"})
            alerts = _merge_alertmanager(alerts, am_alerts)
        except ToolFailure as error:
            warnings.append(f"{error.message}; silenced/inhibited state unknown")
        return _alerts_report(alerts, include_pending, warnings, limit)

    @read_tool(mcp, "Scrape target health")
    def target_health(limit: Annotated[int, Field(ge=1, le=200, description="down targets to list")]
                      = 50) -> TargetHealth:
        """Scrape targets up/down per job, and each target that is not up with its last scrape error."""
        with prom.calling():
            active = prom.client.get_targets(state="active")["activeTargets"]
        return _target_health(active, limit)

    @read_tool(mcp, "Find metrics by name")
    def find_metrics(search: Annotated[str, Field(description="substring or regular expression, any case; "
                                                               "empty: all")] = "",
                     limit: Annotated[int, Field(ge=1, le=500)] = 50) -> MetricSearch:
        """Metric names Prometheus holds that match `search`, with type, help and unit from the targets'
        metadata (recording rules show as type 'recording rule')."""
        with prom.calling():
            names = prom.client.get_label_values("__name__")
            metadata = {m["metric_name"]: m for m in prom.client.get_metric_metadata(metric=None)}
        pattern = _matcher(search)
        found = [_metadata_of(name, metadata) for name in sorted(names) if pattern.search(name)]
        kinds: dict[str, int] = {}
        for info in found:
            kinds[info.type] = kinds.get(info.type, 0) + 1
        summary = f"{len(found)} of {len(names)} metrics match {search!r}"
        if found:
            summary += ": " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        return MetricSearch(search=search, summary=summary, metrics=Capped.of(found, limit))

    @read_tool(mcp, "Labels of a metric")
    def metric_labels(metric: Annotated[str, Field(min_length=1, description="a metric name or series "
                                                                             "selector, e.g. up{job=\"vllm\"}")],
                      limit: Annotated[int, Field(ge=1, le=100, description="top values per label")]
                      = 10) -> MetricLabels:
        """The label names of one metric's recent series, each with its number of distinct values and the most
        common values: what to filter and group by."""
        end = datetime.now(UTC)
        with prom.calling():
            series = prom.client.get_series(end - SERIES_WINDOW, end, params={"match[]": metric})
        if not series:
            raise fail("not_found",
                       f"no series match {metric!r} in the last 5 minutes; find_metrics searches metric names")
        with prom.calling():  # all of it: a histogram's _bucket series finds its family's metadata
            metadata = {m["metric_name"]: m for m in prom.client.get_metric_metadata(metric=None)}
        info = _metadata_of(series[0].get("__name__", metric), metadata)
        return MetricLabels(metric=metric, type=info.type, help=info.help, series=len(series),
                            labels=_label_infos(series, limit))

    @write_tool(mcp, "Create an Alertmanager silence", destructive=False, idempotent=False)
    def create_silence(matchers: Annotated[dict[str, str] | list[SilenceMatcher],
                                           Field(description="{label: value} for equality, or a list of "
                                                             "{name, value, isRegex, isEqual}")],
                       minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60, description="how long")],
                       reason: Annotated[str, Field(min_length=1, description="why: goes in the comment")],
                       created_by: str = "firebreak",
                       idempotency_key: Annotated[str | None, Field(description="a retried call with the same "
                                                                    "key returns the existing silence")] = None,
                       dry_run: bool = False) -> WriteResult:
        """Silences matching alerts in Alertmanager for `minutes` from now (notifications stop, alerts stay
        visible as suppressed)."""
        comment = f"{reason} {_key_marker(idempotency_key)}" if idempotency_key else reason
        now = datetime.now(UTC)
        body = {"matchers": _matchers(matchers), "startsAt": _iso(now), "endsAt": _iso(now + timedelta(
            minutes=minutes)), "createdBy": created_by, "comment": comment}
        planned = {"state": "planned", "matchers": body["matchers"], "starts_at": body["startsAt"],
                   "ends_at": body["endsAt"], "created_by": created_by, "comment": comment}
        result = partial(WriteResult, action="create_silence", dry_run=dry_run, reason=reason,
                         idempotency_key=idempotency_key or "")
        if idempotency_key:
            for existing in am.request("GET", "/api/v2/silences"):
                if _key_marker(idempotency_key) in existing.get("comment", "") and \
                        existing.get("status", {}).get("state") != "expired":
                    view = _silence_view(existing)
                    return result(target=f"silence/{view['id']}", replayed=True, before=view, after=view,
                                  message=f"silence {view['id']} already exists for this key")
        if dry_run:
            return result(target="silence/(new)", before={}, after=planned,
                          message="dry run: Alertmanager would accept this silence (not validated there)")
        created = am.request("POST", "/api/v2/silences", json=body)
        after = _silence_view(am.request("GET", f"/api/v2/silence/{created['silenceID']}"))
        return result(target=f"silence/{after['id']}", before={}, after=after,
                      message=f"silence {after['id']} {after['state']} until {after['ends_at']}")

    @write_tool(mcp, "Expire an Alertmanager silence", destructive=False, idempotent=True)
    def expire_silence(silence_id: Annotated[str, Field(min_length=1, description="the silence's id (UUID)")],
                       reason: Annotated[str, Field(min_length=1)],
                       dry_run: bool = False) -> WriteResult:
        """Ends a silence now, so its alerts notify again. Expiring an expired silence changes nothing."""
        try:
            before = _silence_view(am.request("GET", f"/api/v2/silence/{silence_id}"))
        except ToolFailure as error:
            if error.kind == "not_found":
                raise fail("not_found", f"silence {silence_id} not found in Alertmanager") from error
            raise
        result = partial(WriteResult, action="expire_silence", target=f"silence/{silence_id}", dry_run=dry_run,
                         reason=reason, idempotency_key=silence_id, before=before)
        if before["state"] == "expired":
            return result(replayed=True, after=before, message=f"silence {silence_id} was already expired")
        if dry_run:
            return result(after={**before, "state": "expired"}, message=f"dry run: silence {silence_id} would expire")
        am.request("DELETE", f"/api/v2/silence/{silence_id}")
        after = _silence_view(am.request("GET", f"/api/v2/silence/{silence_id}"))
        return result(after=after, message=f"silence {silence_id} {after['state']}")

    return mcp
