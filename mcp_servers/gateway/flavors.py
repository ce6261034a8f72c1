"""How each supported gateway exports its evidence, read into one shape (pure: queries out, answers in).

`provider_health` asks Prometheus the flavor's instant queries and gets back, whatever the gateway, the samples
`health.health_report` reads: `requests` {model, provider, code} (provider is the fleet's backend name),
`upstream` {provider, code}, `ttft_p50`/`ttft_p95` {provider} and `dep_rate`/`dep_p50`/`dep_p95` {dependency}.

- LiteLLM proxy (BerriAI/litellm `litellm/integrations/prometheus.py`, `litellm/types/integrations/prometheus.py`):
  per deployment `litellm_deployment_total_requests_total` and `litellm_deployment_failure_responses_total`
  with `exception_status` (the upstream's status: 429 for RateLimitError, 408 for Timeout, 5xx), labelled
  `requested_model` and `api_provider`; TTFT `litellm_llm_api_time_to_first_token_metric` per `model_id`,
  whose provider `litellm_deployment_state` names.
- Envoy AI Gateway (envoyproxy/ai-gateway `internal/metrics/genai.go`, `metrics_impl.go`): the OTel GenAI
  histograms `gen_ai_server_request_duration_seconds` (failed requests carry `error_type="_OTHER"`, with no status
  code) and `gen_ai_server_time_to_first_token_seconds`, labelled `gen_ai_request_model` and
  `gen_ai_provider_name` (the backend's API schema: a self-hosted OpenAI-compatible backend reads `openai`).
  Its failures have no status, so they count as `code="_OTHER"` and no 429 share can be told.

Both read the shared services' own OpenTelemetry `http_server_request_duration_seconds`, by scrape `job`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Literal, Protocol

Samples = list[tuple[dict[str, str], float]]  # (labels, value) of each series of an instant query
FlavorName = Literal["litellm", "envoy-ai-gateway"]
UNKNOWN_FAILURE = "_OTHER"  # OTel's error.type fallback, which Envoy AI Gateway sets on every failure

DEPENDENCY_HISTOGRAM = "http_server_request_duration_seconds"


class Flavor(Protocol):
    name: str

    def queries(self, window: str) -> dict[str, str]: ...

    def normalize(self, answers: dict[str, Samples]) -> dict[str, Samples]: ...


def quantile(q: float, histogram: str, by: str, window: str, selector: str = "") -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({histogram}_bucket{selector}[{window}])))"


def dependency_queries(window: str) -> dict[str, str]:
    return {"dep_rate": f"sum by (job) (rate({DEPENDENCY_HISTOGRAM}_count[{window}]))",
            "dep_p50": quantile(0.5, DEPENDENCY_HISTOGRAM, "job", window),
            "dep_p95": quantile(0.95, DEPENDENCY_HISTOGRAM, "job", window)}


def _dependencies(answers: dict[str, Samples]) -> dict[str, Samples]:
    return {name: [({"dependency": labels.get("job", "")}, v) for labels, v in answers[name]]
            for name in ("dep_rate", "dep_p50", "dep_p95")}


class LiteLLM:
    name = "litellm"

    def __init__(self, backends: Mapping[str, str]) -> None:
        self.backends = backends  # LiteLLM api_provider -> the fleet's backend name

    def queries(self, window: str) -> dict[str, str]:
        return {
            "calls": "sum by (requested_model, api_provider) "
                     f"(rate(litellm_deployment_total_requests_total[{window}]))",
            "failures": "sum by (requested_model, api_provider, exception_status) "
                        f"(rate(litellm_deployment_failure_responses_total[{window}]))",
            "ids": "count by (model_id, api_provider) (litellm_deployment_state)",
            "ttft_p50": quantile(0.5, "litellm_llm_api_time_to_first_token_metric", "model_id", window),
            "ttft_p95": quantile(0.95, "litellm_llm_api_time_to_first_token_metric", "model_id", window),
            **dependency_queries(window),
        }

    def normalize(self, answers: dict[str, Samples]) -> dict[str, Samples]:
        calls: dict[tuple[str, str], float] = defaultdict(float)
        for labels, v in answers["calls"]:
            calls[labels.get("requested_model", ""), self._backend(labels)] += v
        requests: Samples = []
        for labels, v in answers["failures"]:
            key = (labels.get("requested_model", ""), self._backend(labels))
            requests.append(({"model": key[0], "provider": key[1], "code": labels.get("exception_status", "")}, v))
            calls[key] -= v
        requests += [({"model": m, "provider": b, "code": "200"}, max(v, 0.0)) for (m, b), v in calls.items()]
        provider_of = {labels.get("model_id", ""): self._backend(labels) for labels, _ in answers["ids"]}
        return {"requests": requests, "upstream": [],
                "ttft_p50": _worst(answers["ttft_p50"], provider_of),
                "ttft_p95": _worst(answers["ttft_p95"], provider_of), **_dependencies(answers)}

    def _backend(self, labels: dict[str, str]) -> str:
        provider = labels.get("api_provider", "")
        return self.backends.get(provider, provider)


class EnvoyAIGateway:
    name = "envoy-ai-gateway"
    DURATION = "gen_ai_server_request_duration_seconds"
    TTFT = "gen_ai_server_time_to_first_token_seconds"

    def __init__(self, backends: Mapping[str, str]) -> None:
        self.backends = backends  # gen_ai.provider.name -> the fleet's backend name

    def queries(self, window: str) -> dict[str, str]:
        chat = '{gen_ai_operation_name="chat"}'
        return {
            "requests": "sum by (gen_ai_request_model, gen_ai_provider_name, error_type) "
                        f"(rate({self.DURATION}_count{chat}[{window}]))",
            "ttft_p50": quantile(0.5, self.TTFT, "gen_ai_provider_name", window, chat),
            "ttft_p95": quantile(0.95, self.TTFT, "gen_ai_provider_name", window, chat),
            **dependency_queries(window),
        }

    def normalize(self, answers: dict[str, Samples]) -> dict[str, Samples]:
        requests = [({"model": labels.get("gen_ai_request_model", ""), "provider": self._backend(labels),
                      "code": UNKNOWN_FAILURE if labels.get("error_type") else "200"}, v)
                    for labels, v in answers["requests"]]
        return {"requests": requests, "upstream": [],
                "ttft_p50": [({"provider": self._backend(labels)}, v) for labels, v in answers["ttft_p50"]],
                "ttft_p95": [({"provider": self._backend(labels)}, v) for labels, v in answers["ttft_p95"]],
                **_dependencies(answers)}

    def _backend(self, labels: dict[str, str]) -> str:
        provider = labels.get("gen_ai_provider_name", "")
        return self.backends.get(provider, provider)


def _worst(samples: Samples, provider_of: dict[str, str]) -> Samples:
    """Per backend the highest of its deployments' quantiles: quantiles of separate histograms do not add up."""
    worst: dict[str, float] = {}
    for labels, v in samples:
        backend = provider_of.get(labels.get("model_id", ""))
        if backend is not None and math.isfinite(v):
            worst[backend] = max(v, worst.get(backend, v))
    return [({"provider": b}, v) for b, v in worst.items()]


def flavor(name: FlavorName, backends: Mapping[str, str]) -> Flavor:
    return LiteLLM(backends) if name == "litellm" else EnvoyAIGateway(backends)


def samples(result: list[Any]) -> Samples:
    return [(r["metric"], float(r["value"][1])) for r in result]
