"""provider_health's flavors read the recorded /metrics samples of real gateways (tests/fixtures/real/gateway)
into the same typed report. Prometheus's answers are stood in for by summing the samples as `sum by` would, each
counter's value taken as its rate over the window; quantiles come as Prometheus would give them."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from mcp_servers.gateway.flavors import EnvoyAIGateway, LiteLLM, Samples
from mcp_servers.gateway.health import ProviderHealthReport, health_report
from mcp_servers.settings import PROVIDER_BACKENDS
from tests.signals import fires

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "gateway"
BACKENDS = ("self-hosted", "anthropic", "openai", "google")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def sum_by(file: str, metric: str, by: tuple[str, ...]) -> Samples:
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for line in (REAL / file).read_text().splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == metric:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            sums[tuple(labels.get(k, "") for k in by)] += float(match.group(3))
    return [({k: v for k, v in zip(by, key, strict=True) if v}, total) for key, total in sums.items()]


def dependencies() -> dict[str, Samples]:
    rate = sum_by("otel-http-server-metrics.txt", "http_server_request_duration_seconds_count", ())
    return {"dep_rate": [({"job": "auth-service"}, v) for _, v in rate],
            "dep_p50": [({"job": "auth-service"}, 0.0025)], "dep_p95": [({"job": "auth-service"}, 0.0048)]}


def litellm_report() -> ProviderHealthReport:
    file = "litellm-metrics.txt"
    answers = {
        "calls": sum_by(file, "litellm_deployment_total_requests_total", ("requested_model", "api_provider")),
        "failures": sum_by(file, "litellm_deployment_failure_responses_total",
                           ("requested_model", "api_provider", "exception_status")),
        "ids": sum_by(file, "litellm_deployment_state", ("model_id", "api_provider")),
        "ttft_p50": [({"model_id": "gpt-4o-mini-openai"}, 0.75)],
        "ttft_p95": [({"model_id": "gpt-4o-mini-openai"}, 0.98)],
        **dependencies()}
    return health_report(LiteLLM(PROVIDER_BACKENDS).normalize(answers), BACKENDS, "300s", detail=True)


def envoy_report() -> ProviderHealthReport:
    file = "envoy-ai-gateway-metrics.txt"
    answers = {
        "requests": sum_by(file, "gen_ai_server_request_duration_seconds_count",
                           ("gen_ai_request_model", "gen_ai_provider_name", "error_type")),
        "ttft_p50": [({"gen_ai_provider_name": "anthropic"}, 0.2)],
        "ttft_p95": [({"gen_ai_provider_name": "anthropic"}, 0.24)],
        **dependencies()}
    return health_report(EnvoyAIGateway(PROVIDER_BACKENDS).normalize(answers), BACKENDS, "300s", detail=False)


def test_litellm_throttling_reads_as_the_providers_429_share() -> None:
    report = litellm_report()
    openai = next(b for b in report.backends if b.backend == "openai")
    assert openai.rate_limited_ratio == round(37 / 1859, 4) and openai.error_ratio == 0
    assert openai.status == "degraded" and openai.models == ["gpt-4o-mini"] and openai.ttft_p95_s == 0.98
    assert [d.dependency for d in report.dependencies] == ["auth-service"]


def test_envoy_ai_gateway_failures_count_whole_without_a_status() -> None:
    report = envoy_report()
    backends = {b.backend: b for b in report.backends}
    assert backends["anthropic"].error_ratio == round(20 / 50, 4) and backends["anthropic"].status == "degraded"
    assert backends["anthropic"].rate_limited_ratio == 0  # the OTel series carry no status: no 429 share to tell
    # A self-hosted vLLM speaks OpenAI's schema, so Envoy AI Gateway labels it gen_ai_provider_name="openai".
    assert backends["openai"].requests_per_s == 950 and backends["openai"].status == "ok"
    assert report.backends[0].backend == "anthropic"


# -- the provider runbooks' signals on these reports -----------------------------------------------------------
def test_a_two_percent_throttle_is_no_rate_limit_incident_though_it_shows_over_five_minutes() -> None:
    report = litellm_report().model_dump()
    scope = {"model": "gpt-4o-mini", "provider": {"backend": "openai"}}
    assert fires("provider-rate-limit", "hosted-backend-failing", report, **scope) == []
    assert fires("provider-rate-limit", "answers-are-429", report, **scope) == []
    assert [b["backend"] for b in fires("provider-rate-limit", "provider-has-throttled", report, **scope)] == ["openai"]
    assert fires("provider-outage", "provider-throttles", report, **scope)  # and counts against an outage


def test_a_provider_failing_behind_envoy_ai_gateway_is_an_outage_not_a_rate_limit() -> None:
    report = envoy_report().model_dump()
    [failing] = fires("provider-outage", "hosted-backend-failing", report, model="llama-70b")
    assert failing["backend"] == "anthropic"
    scope = {"model": "llama-70b", "provider": {"backend": "anthropic"}}
    assert fires("provider-outage", "provider-throttles", report, **scope) == []
    assert fires("provider-rate-limit", "answers-are-429", report, **scope) == []  # no status: never a 429 share
