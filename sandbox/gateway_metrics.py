"""The gateway's /metrics as LiteLLM's proxy exports them, and the shared services' own HTTP server histogram.

LiteLLM (BerriAI/litellm, `litellm/integrations/prometheus.py` at 002de3dd and
`litellm/types/integrations/prometheus.py` at ed19250b): the family names, each family's label set
(`PrometheusMetricLabels`), `LATENCY_BUCKETS`, and what a call leaves behind:
- a successful call: `litellm_proxy_total_requests_metric{status_code="200"}`, the deployment's success and
  total counters, `litellm_deployment_state` 0 (`set_deployment_healthy`), the TTFT histogram (streaming calls
  only, timed from the upstream call's start, so the proxy's own pre-call work is not in it), the API-call,
  total and overhead latency histograms, and `litellm_remaining_requests_metric` when the provider sent
  `x-ratelimit-remaining-requests` (OpenAI and Anthropic do; vLLM and Gemini do not);
- a failed call: `litellm_proxy_failed_requests_metric{exception_status, exception_class}` and the total with
  `status_code` set to the same status (`async_post_call_failure_hook`), the deployment's failure and total
  counters, and `litellm_deployment_state` 1 (`set_deployment_partial_outage`, on every failed call);
  `exception_class` is the provider capitalised, a dot and the exception's class (`_get_exception_class_name`).
Labels LiteLLM has no value for render as "None" (prometheus_client's str(None)).

tokenizer-service and auth-service are Go services instrumented with OpenTelemetry's otelhttp: the semantic
conventions' `http.server.request.duration` (unit s, advised buckets), exported to Prometheus as
`http_server_request_duration_seconds` with the attributes' dots turned into underscores and the scope labels,
as the OTel Go Prometheus exporter writes them (the same exporter writes Envoy AI Gateway's `gen_ai_*_seconds`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sandbox.exposition import Registry

LATENCY_BUCKETS = (0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5,
                   6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0, 180.0, 240.0,
                   300.0)  # litellm LATENCY_BUCKETS; +Inf is rendered by the registry
HTTP_SERVER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
OTELHTTP_SCOPE = "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
OTELHTTP_VERSION = "0.60.0"

# The one virtual key the fleet's clients use, as LiteLLM labels it (the key's SHA-256, its alias).
API_KEY_HASH = hashlib.sha256(b"sk-inference-clients").hexdigest()
API_KEY_ALIAS = "inference-clients"
CLIENT_IP = "10.244.0.14"  # the ingress controller: every request reaches the proxy from it
USER_AGENT = "OpenAI/Python 1.82.0"
ROUTE = "/v1/chat/completions"
NONE = "None"

# What the OpenAI-compatible client inside LiteLLM raises for what the sandbox's upstream does, as
# (status LiteLLM reports, exception class): a cut or refused connection is APIConnectionError (500), an
# upstream timeout is litellm.Timeout (408), a provider's 429 is RateLimitError, its 5xx keep their status.
EXCEPTIONS = {400: ("400", "BadRequestError"), 429: ("429", "RateLimitError"), 500: ("500", "InternalServerError"),
              502: ("500", "APIConnectionError"), 503: ("503", "ServiceUnavailableError"), 504: ("408", "Timeout")}
# Providers that send x-ratelimit-remaining-requests, which LiteLLM turns into litellm_remaining_requests_metric.
RATE_LIMIT_HEADERS = {"openai", "anthropic"}


@dataclass(frozen=True)
class Deployment:
    """One entry of LiteLLM's model_list: a model group's route to one backend."""

    model_name: str  # the model group clients ask for
    backend: str  # self-hosted or a hosted provider, as the fleet names them
    model: str  # litellm_params.model: provider/model
    api_base: str

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def litellm_model_name(self) -> str:
        return self.model.split("/", 1)[1]

    @property
    def model_id(self) -> str:
        return f"{self.model_name}-{self.backend}"  # model_info.id, set in the config


@dataclass(frozen=True)
class Call:
    """One request as the proxy saw it: its deployment, the upstream's status, and its timings."""

    deployment: Deployment
    code: int
    ttft_s: float
    api_s: float
    overhead_s: float
    remaining_requests: int | None = None


def exception_of(call: Call) -> tuple[str, str]:
    status, name = EXCEPTIONS.get(call.code, (str(call.code), "APIError"))
    if call.deployment.backend == "self-hosted" and call.code == 503:
        status, name = EXCEPTIONS[502]  # no ready endpoint behind the Service: the connection is refused
    provider = call.deployment.provider
    return status, f"{provider[0].upper()}{provider[1:]}.{name}"


@dataclass
class LiteLLMMetrics:
    registry: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.total = r.counter("litellm_proxy_total_requests_metric", "Total number of requests made to the proxy "
                               "server - track number of client side requests")
        self.failed = r.counter("litellm_proxy_failed_requests_metric", "Total number of failed responses from "
                                "proxy - the client did not get a success response from litellm proxy")
        self.deployment_success = r.counter("litellm_deployment_success_responses", "LLM Deployment Analytics - "
                                            "Total number of successful LLM API calls via litellm")
        self.deployment_failure = r.counter("litellm_deployment_failure_responses", "LLM Deployment Analytics - "
                                            "Total number of failed LLM API calls for a specific LLM deploymeny. "
                                            "exception_status is the status of the exception from the llm api")
        self.deployment_total = r.counter("litellm_deployment_total_requests", "LLM Deployment Analytics - Total "
                                          "number of LLM API calls via litellm - success + failure")
        self.state = r.gauge("litellm_deployment_state", "LLM Deployment Analytics - The state of the deployment: "
                             "0 = healthy, 1 = partial outage, 2 = complete outage")
        self.ttft = r.histogram("litellm_llm_api_time_to_first_token_metric",
                                "Time to first token for a models LLM API call", LATENCY_BUCKETS)
        self.api_latency = r.histogram("litellm_llm_api_latency_metric",
                                       "Total latency (seconds) for a models LLM API call", LATENCY_BUCKETS)
        self.total_latency = r.histogram("litellm_request_total_latency_metric",
                                         "Total latency (seconds) for a request to LiteLLM", LATENCY_BUCKETS)
        self.overhead = r.histogram("litellm_overhead_latency_metric",
                                    "Latency overhead (milliseconds) added by LiteLLM processing", LATENCY_BUCKETS)
        self.remaining = r.gauge("litellm_remaining_requests_metric", "LLM Deployment Analytics - remaining "
                                 "requests for model, returned from LLM API Provider")

    def record(self, call: Call) -> None:
        d = call.deployment
        deployment = {"requested_model": d.model_name, "litellm_model_name": d.litellm_model_name,
                      "model_id": d.model_id, "api_base": d.api_base, "api_provider": d.provider,
                      "hashed_api_key": API_KEY_HASH, "api_key_alias": API_KEY_ALIAS, "team": NONE,
                      "team_alias": NONE, "client_ip": CLIENT_IP, "user_agent": USER_AGENT}
        state = {"litellm_model_name": d.litellm_model_name, "model_id": d.model_id, "api_base": d.api_base,
                 "api_provider": d.provider}
        if call.code < 400:
            self._success(call, deployment, state)
        else:
            self._failure(call, deployment, state)

    def _success(self, call: Call, deployment: dict[str, str], state: dict[str, str]) -> None:
        d = call.deployment
        self.total.inc(1.0, **_proxy(d, status_code="200"))
        self.deployment_success.inc(1.0, **deployment)
        self.deployment_total.inc(1.0, **deployment)
        self.state.set(0, **state)
        latency = {"model": d.litellm_model_name, "hashed_api_key": API_KEY_HASH, "api_key_alias": API_KEY_ALIAS,
                   "team": NONE, "team_alias": NONE, "requested_model": d.model_name, "end_user": NONE,
                   "user": NONE, "model_id": d.model_id}
        self.ttft.observe(call.ttft_s, **latency)
        self.api_latency.observe(call.api_s, **latency)
        self.total_latency.observe(call.api_s + call.overhead_s, **{
            "end_user": NONE, "hashed_api_key": API_KEY_HASH, "api_key_alias": API_KEY_ALIAS,
            "requested_model": d.model_name, "team": NONE, "team_alias": NONE, "user": NONE,
            "model": d.litellm_model_name, "model_id": d.model_id})
        deployment_group = {"model_group": d.model_name, "api_provider": d.provider, "api_base": d.api_base,
                            "litellm_model_name": d.litellm_model_name, "hashed_api_key": API_KEY_HASH,
                            "api_key_alias": API_KEY_ALIAS, "model_id": d.model_id}
        self.overhead.observe(call.overhead_s, **deployment_group)
        if call.remaining_requests is not None:
            self.remaining.set(call.remaining_requests, **deployment_group)

    def _failure(self, call: Call, deployment: dict[str, str], state: dict[str, str]) -> None:
        d = call.deployment
        status, exception_class = exception_of(call)
        self.failed.inc(1.0, **_proxy(d, exception_status=status, exception_class=exception_class))
        self.total.inc(1.0, **_proxy(d, status_code=status))
        labels = {**deployment, "exception_status": status, "exception_class": exception_class}
        self.deployment_failure.inc(1.0, **_ordered(labels, FAILURE_ORDER))
        self.deployment_total.inc(1.0, **deployment)
        self.state.set(1, **state)


FAILURE_ORDER = ("requested_model", "litellm_model_name", "model_id", "api_base", "api_provider", "exception_status",
                 "exception_class", "hashed_api_key", "api_key_alias", "team", "team_alias", "client_ip",
                 "user_agent")


def _ordered(labels: dict[str, str], order: tuple[str, ...]) -> dict[str, str]:
    return {k: labels[k] for k in order}


def _proxy(d: Deployment, **outcome: str) -> dict[str, str]:
    """The proxy-level labels (litellm_proxy_total/failed_requests_metric), in LiteLLM's order."""
    labels = {"end_user": NONE, "hashed_api_key": API_KEY_HASH, "api_key_alias": API_KEY_ALIAS,
              "requested_model": d.model_name, "team": NONE, "team_alias": NONE, "user": NONE}
    if "status_code" in outcome:
        labels["status_code"] = outcome["status_code"]
    labels["user_email"] = NONE
    if "exception_status" in outcome:
        labels["exception_status"] = outcome["exception_status"]
        labels["exception_class"] = outcome["exception_class"]
    return {**labels, "route": ROUTE, "client_ip": CLIENT_IP, "user_agent": USER_AGENT, "model_id": d.model_id}


@dataclass
class HttpServerMetrics:
    """One pod of a shared service: OTel's http.server.request.duration for the one route the gateway calls."""

    route: str
    address: str
    registry: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        self.duration = self.registry.histogram("http_server_request_duration_seconds",
                                                "Duration of HTTP server requests.", HTTP_SERVER_BUCKETS)

    def observe(self, seconds: float, status: int = 200) -> None:
        self.duration.observe(seconds, http_request_method="POST", http_response_status_code=str(status),
                              http_route=self.route, network_protocol_name="http", network_protocol_version="1.1",
                              server_address=self.address, server_port="8080", url_scheme="http",
                              otel_scope_name=OTELHTTP_SCOPE, otel_scope_version=OTELHTTP_VERSION)
