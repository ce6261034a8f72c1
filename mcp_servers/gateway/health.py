"""The health of the gateway's backends and shared dependencies from its metrics (pure: a flavor's answers, read
into one shape by `flavors`, in; the report out)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import Capped
from mcp_servers.gateway.flavors import UNKNOWN_FAILURE, Samples

# Status thresholds. The availability objective is 99.9 % non-5xx and the latency objective TTFT <= 1 s.
FAILING_ERROR_RATIO = 0.5  # most requests fail: traffic on this backend is lost
DEGRADED_RATIO = 0.01  # 5xx or 429 share: ten times the availability budget
TTFT_OBJECTIVE_S = 1.0
DEPENDENCY_DEGRADED_S, DEPENDENCY_FAILING_S = 0.1, 0.5  # p95 of one call; healthy is a few milliseconds

TIMEOUT = "408"  # how LiteLLM counts an upstream it gave up waiting for (litellm.Timeout)
TIMEOUT_HELP = ("share of the calls the gateway gave up waiting for (408 Timeout; 0 where the gateway reports no "
                "status)")

Status = Literal["failing", "degraded", "ok", "idle"]
STATUS_ORDER: dict[str, int] = {"failing": 0, "degraded": 1, "ok": 2, "idle": 3}


class BackendHealth(BaseModel):
    backend: str
    status: Status
    reasons: list[str]
    requests_per_s: float
    error_ratio: float = Field(description="share of the backend's calls that failed with a 5xx (or, where the "
                               "gateway reports no status, failed at all)")
    rate_limited_ratio: float = Field(description="share of the backend's answers that were 429")
    timeout_ratio: float = Field(description=TIMEOUT_HELP)
    ttft_p50_s: float | None = Field(description="time to first token of successful requests")
    ttft_p95_s: float | None
    models: list[str] = Field(description="models whose traffic reached this backend in the window")


class DependencyHealth(BaseModel):
    dependency: str
    status: Status
    reasons: list[str]
    calls_per_s: float
    p50_s: float | None
    p95_s: float | None


class ModelTraffic(BaseModel):
    model: str
    backend: str
    requests_per_s: float
    error_ratio: float
    timeout_ratio: float = Field(description=TIMEOUT_HELP)


class ProviderHealthReport(BaseModel):
    summary: str
    window: str
    backends: list[BackendHealth] = Field(description="worst first")
    dependencies: list[DependencyHealth] = Field(description="the gateway's calls to shared services, worst first")
    per_model: Capped[ModelTraffic] | None = Field(default=None, description="with detail: worst first")


def window_of(minutes: float) -> str:
    return f"{round(minutes * 60)}s"


def health_report(results: dict[str, Samples], backends: tuple[str, ...], window: str,
                  detail: bool) -> ProviderHealthReport:
    traffic = _traffic(results["requests"])
    names = list(dict.fromkeys([*backends, *(t[1] for t in traffic)]))
    health = sorted((_backend_health(b, traffic, results) for b in names),
                    key=lambda h: (STATUS_ORDER[h.status], -h.error_ratio, -h.rate_limited_ratio, h.backend))
    dependencies = sorted((_dependency_health(d, results) for d in _label_values(results["dep_rate"], "dependency")),
                          key=lambda d: (STATUS_ORDER[d.status], -(d.p95_s or 0.0), d.dependency))
    per_model = Capped.of(sorted(_per_model(traffic), key=lambda t: (-t.error_ratio, t.model, t.backend))) \
        if detail else None
    return ProviderHealthReport(summary=_health_summary(health, dependencies, traffic), window=window,
                                backends=health, dependencies=dependencies, per_model=per_model)


Traffic = dict[tuple[str, str, str], float]  # (model, backend, code) -> requests per second


def _traffic(samples: Samples) -> Traffic:
    traffic: Traffic = defaultdict(float)
    for labels, value in samples:
        if "provider" in labels and math.isfinite(value):
            traffic[labels.get("model", ""), labels["provider"], labels.get("code", "")] += value
    return traffic


def _label_values(samples: Samples, label: str) -> list[str]:
    return [labels[label] for labels, _ in samples if label in labels]


def _by(samples: Samples, label: str, value: str) -> float | None:
    found = next((v for labels, v in samples if labels.get(label) == value), None)
    return found if found is not None and math.isfinite(found) else None


def _failed(code: str) -> bool:
    return code.startswith("5") or code == UNKNOWN_FAILURE


def _share(counts: dict[str, float], match: Callable[[str], bool]) -> float:
    total = sum(counts.values())
    return sum(v for code, v in counts.items() if match(code)) / total if total > 0 else 0.0


def _backend_health(backend: str, traffic: Traffic, results: dict[str, Samples],
                    ) -> BackendHealth:
    codes: dict[str, float] = defaultdict(float)
    for (_, b, code), rate in traffic.items():
        if b == backend:
            codes[code] += rate
    upstream = {labels.get("code", ""): v for labels, v in results["upstream"] if labels.get("provider") == backend}
    rate = sum(codes.values())
    error_ratio = _share(codes, _failed)
    # Where a gateway counts a provider's answers apart from its own, those say which were throttled.
    limited = _share(upstream, lambda c: c == "429") if upstream else _share(codes, lambda c: c == "429")
    timed_out = _share(codes, lambda c: c == TIMEOUT)
    p50, p95 = _by(results["ttft_p50"], "provider", backend), _by(results["ttft_p95"], "provider", backend)
    status, reasons = _backend_status(rate, error_ratio, limited, timed_out, p95)
    models = sorted({m for (m, b, _), r in traffic.items() if b == backend and r > 0})
    return BackendHealth(backend=backend, status=status, reasons=reasons, requests_per_s=round(rate, 4),
                         error_ratio=round(error_ratio, 4), rate_limited_ratio=round(limited, 4),
                         timeout_ratio=round(timed_out, 4), ttft_p50_s=_rounded(p50), ttft_p95_s=_rounded(p95),
                         models=models)


def _backend_status(rate: float, error_ratio: float, limited: float, timed_out: float, ttft_p95: float | None,
                    ) -> tuple[Status, list[str]]:
    if rate <= 0:
        return "idle", ["no requests in the window"]
    reasons = []
    if error_ratio >= DEGRADED_RATIO:
        reasons.append(f"{error_ratio:.1%} of requests answered 5xx")
    if limited >= DEGRADED_RATIO:
        reasons.append(f"{limited:.1%} of its answers were 429 (rate limited)")
    if timed_out >= DEGRADED_RATIO:
        reasons.append(f"{timed_out:.1%} of requests timed out (408)")
    if ttft_p95 is not None and ttft_p95 > TTFT_OBJECTIVE_S:
        reasons.append(f"TTFT p95 {ttft_p95:.2f} s over the {TTFT_OBJECTIVE_S:g} s latency objective")
    if error_ratio >= FAILING_ERROR_RATIO:
        return "failing", reasons
    return ("degraded" if reasons else "ok"), reasons


def _dependency_health(dependency: str, results: dict[str, Samples],
                       ) -> DependencyHealth:
    rate = _by(results["dep_rate"], "dependency", dependency) or 0.0
    p50, p95 = _by(results["dep_p50"], "dependency", dependency), _by(results["dep_p95"], "dependency", dependency)
    status: Status = "idle" if rate <= 0 else "ok"
    reasons = ["no calls in the window"] if rate <= 0 else []
    if p95 is not None and p95 >= DEPENDENCY_DEGRADED_S:
        status = "failing" if p95 >= DEPENDENCY_FAILING_S else "degraded"
        reasons.append(f"p95 {p95:.3f} s per call, added to every request's latency; no routing change avoids it")
    return DependencyHealth(dependency=dependency, status=status, reasons=reasons, calls_per_s=round(rate, 4),
                            p50_s=_rounded(p50), p95_s=_rounded(p95))


def _per_model(traffic: Traffic) -> list[ModelTraffic]:
    pairs: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (model, backend, code), rate in traffic.items():
        pairs[model, backend][code] += rate
    return [ModelTraffic(model=m, backend=b, requests_per_s=round(sum(codes.values()), 4),
                         error_ratio=round(_share(codes, _failed), 4),
                         timeout_ratio=round(_share(codes, lambda c: c == TIMEOUT), 4))
            for (m, b), codes in pairs.items()]


def _health_summary(backends: list[BackendHealth], dependencies: list[DependencyHealth], traffic: Traffic) -> str:
    if not traffic:
        return ("no gateway traffic in the window: is the gateway scraped by Prometheus, and is the gateway flavor "
                "in the settings (GATEWAY_FLAVOR) the one deployed?")
    return (_summary_part("backends", [(b.backend, b.status, b.reasons) for b in backends]) + ". "
            + _summary_part("dependencies", [(d.dependency, d.status, d.reasons) for d in dependencies]))


def _summary_part(kind: str, items: list[tuple[str, Status, list[str]]]) -> str:
    bad = [f"{name} {status} ({', '.join(reasons)})" for name, status, reasons in items
           if status in ("failing", "degraded")]
    idle = sum(1 for _, status, _ in items if status == "idle")
    rest = f"{len(items) - len(bad) - idle} ok" + (f", {idle} idle" if idle else "")
    return f"{len(items)} {kind}: " + "; ".join([*bad, rest])


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
