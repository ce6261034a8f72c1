"""The default fleet run in-process on a ManualClock (time scale 60, ticks of half a wall second), seen only through
what a real fleet exposes: Kubernetes objects and events, container logs, and the metrics pages Prometheus scrapes
(dcgm-exporter, node-exporter and cAdvisor per node; vLLM per model pod; the gateway per gateway pod), fetched
through the sandbox's own scrape app. The fault-evidence specifications read it."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any

from starlette.testclient import TestClient

from mcp_servers.prometheus.slo_conventions import PAGE_BURN_RATE
from sandbox.clock import ManualClock
from sandbox.faults import FaultSpec
from sandbox.fleet import default_fleet
from sandbox.runtime import Sandbox
from sandbox.telemetry import telemetry_app

Obj = dict[str, Any]
NS = "inference"
TICK_S = 0.5
WARMUP_S = 10.0  # wall seconds of steady state before a fault
MODELS = ("llama-70b", "qwen-7b", "mistral-7b")
FIVE_XX = re.compile(r"5\d\d")
SLO_ERRORS = re.compile(r"5\d\d|408|429")  # the availability SLI's failures (deploy/slo/inference.yaml)
FAILURES = "litellm_deployment_failure_responses_total"
SUCCESSES = "litellm_deployment_success_responses_total"
# The page row of the multi-window alerts against the default fleet's objectives (99.9 % of requests without a
# 5xx, 99 % of them fast, 99 % of them with little gateway overhead).
PAGE_ERROR_RATIO = PAGE_BURN_RATE * (1 - 0.999)
PAGE_SLOW_SHARE = PAGE_BURN_RATE * (1 - 0.99)


# -- reading the exposition format ------------------------------------------------------------------------------
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
LabelMatch = str | re.Pattern[str]


@dataclass
class Samples:
    """The samples of one or more scraped pages."""

    rows: list[tuple[str, dict[str, str], float]]

    @classmethod
    def parse(cls, text: str) -> Samples:
        rows = []
        for line in text.splitlines():
            if line and not line.startswith("#"):
                match = _SAMPLE.match(line)
                assert match, f"not exposition format: {line!r}"
                name, labels, value = match.groups()
                rows.append((name, dict(_LABEL.findall(labels or "")), float(value)))
        return cls(rows)

    def __add__(self, other: Samples) -> Samples:
        return Samples(self.rows + other.rows)

    def select(self, name: str, **labels: LabelMatch) -> list[tuple[dict[str, str], float]]:
        def fits(have: dict[str, str]) -> bool:
            return all(key in have and (want.fullmatch(have[key]) if isinstance(want, re.Pattern)
                                        else have[key] == want) for key, want in labels.items())
        return [(have, value) for n, have, value in self.rows if n == name and fits(have)]

    def value(self, name: str, **labels: LabelMatch) -> float:
        """The sum over every series that matches (0 when none does)."""
        return sum(value for _, value in self.select(name, **labels))

    def one(self, name: str, **labels: LabelMatch) -> float:
        found = self.select(name, **labels)
        assert len(found) == 1, f"expected one {name}{labels}, found {found}"
        return found[0][1]


@dataclass(frozen=True)
class Slis:
    """A model's three SLIs as the SLO rules compute them from the gateway's counters (deploy/slo/inference.yaml)."""

    requests: float
    errors: float
    ttft_count: float
    ttft_fast: float  # first token within 1 s
    overhead_count: float
    overhead_low: float  # at most 0.5 s in the gateway itself

    @classmethod
    def of(cls, gateway: Samples, model: str) -> Slis:
        ttft, overhead = "litellm_llm_api_time_to_first_token_metric", "litellm_overhead_latency_metric"
        return cls(gateway.value("litellm_proxy_total_requests_metric_total", requested_model=model),
                   gateway.value("litellm_proxy_failed_requests_metric_total", requested_model=model,
                                 exception_status=SLO_ERRORS),
                   gateway.value(f"{ttft}_count", requested_model=model),
                   gateway.value(f"{ttft}_bucket", requested_model=model, le="1.0"),
                   gateway.value(f"{overhead}_count", model_group=model),
                   gateway.value(f"{overhead}_bucket", model_group=model, le="0.5"))

    def since(self, earlier: Slis) -> Slis:
        return Slis(*(now - before for now, before in zip(astuple(self), astuple(earlier), strict=True)))

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def slow_share(self) -> float:
        return 1 - self.ttft_fast / self.ttft_count if self.ttft_count else 0.0

    @property
    def overhead_share(self) -> float:
        return 1 - self.overhead_low / self.overhead_count if self.overhead_count else 0.0

    @property
    def pages(self) -> bool:
        return self.error_ratio > PAGE_ERROR_RATIO or max(self.slow_share, self.overhead_share) > PAGE_SLOW_SHARE


# -- the fleet under test ---------------------------------------------------------------------------------------
class Fleet:
    """The default fleet, stepped by hand and observed only through the surfaces a real fleet offers."""

    def __init__(self, seed: int = 7) -> None:
        self.clock = ManualClock(time_scale=60)
        self.sandbox = Sandbox(default_fleet(), clock=self.clock, seed=seed)
        self.sandbox.boot()
        self.http = TestClient(telemetry_app(self.sandbox, "127.0.0.1:1"))
        self.run(TICK_S)  # the gateway pods export their page from their first tick on

    def __enter__(self) -> Fleet:
        self.http.__enter__()  # one event loop for every scrape, rather than one per request
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)

    # time and faults
    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / TICK_S)):
            self.clock.advance(TICK_S)
            self.sandbox.tick(TICK_S)

    def run_until(self, what: str, done: Callable[[], bool], within_s: float) -> None:
        for _ in range(round(within_s / TICK_S)):
            if done():
                return
            self.run(TICK_S)
        assert done(), f"not within {within_s}s: {what}"

    def inject(self, kind: str, target: dict[str, Any], **params: Any) -> str:
        (entry,) = self.sandbox.faults.add([FaultSpec(kind=kind, target=target, params=params)])
        self.run(TICK_S)
        assert entry.fired and not entry.result.startswith("failed"), entry.result
        return entry.result

    # Kubernetes
    def pods(self, app: str, namespace: str = NS) -> list[Obj]:
        """The app's live pods in creation order (how fault targets count replicas)."""
        return [p for p in self.sandbox.store.objects("pods", namespace)
                if p["metadata"].get("labels", {}).get("app") == app and "deletionTimestamp" not in p["metadata"]]

    def pod(self, name: str, namespace: str = NS) -> Obj:
        return self.sandbox.store.get("pods", namespace, name)

    def node(self, name: str) -> Obj:
        return self.sandbox.store.get("nodes", None, name)

    def replicasets(self, deployment: str) -> list[Obj]:
        return [rs for rs in self.sandbox.store.objects("apps/replicasets", NS)
                if rs["metadata"]["labels"].get("app") == deployment]

    def current_replicaset(self, deployment: str) -> Obj:
        return max(self.replicasets(deployment),
                   key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))

    def events(self, involved: str, reason: str | None = None) -> list[Obj]:
        return [e for e in self.sandbox.store.objects("events")
                if e["involvedObject"]["name"] == involved and reason in (None, e["reason"])]

    def logs(self, pod: str, container: str, *, previous: bool = False, namespace: str = NS) -> str:
        return self.sandbox.logs.read(namespace, pod, container, previous=previous, tail_lines=None,
                                      since_seconds=None, timestamps=False)

    # metrics pages, as Prometheus finds and scrapes them
    def targets(self) -> list[Obj]:
        return self.http.get("/sd").json()

    def scrape(self, path: str) -> Samples:
        response = self.http.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        return Samples.parse(response.text)

    def dcgm(self, node: str) -> Samples:
        return self.scrape(f"/metrics/nodes/{node}/dcgm")

    def node_exporter(self, node: str) -> Samples:
        return self.scrape(f"/metrics/nodes/{node}/node")

    def cadvisor(self, node: str) -> Samples:
        return self.scrape(f"/metrics/nodes/{node}/cadvisor")

    def vllm(self, pod: str) -> Samples:
        return self.scrape(f"/metrics/pods/{NS}/{pod}")

    def gateway(self) -> Samples:
        """Every gateway pod's page together, as the SLO rules `sum` them."""
        pages = [self.scrape(t["labels"]["__metrics_path__"]) for t in self.targets()
                 if t["labels"]["job"] == "inference-gateway"]
        assert pages, "no gateway pod to scrape"
        return functools.reduce(Samples.__add__, pages)

    def service(self, app: str) -> Samples:
        """Every pod's page of a shared service (tokenizer-service, auth-service) together."""
        pages = [self.scrape(t["labels"]["__metrics_path__"]) for t in self.targets() if t["labels"]["job"] == app]
        assert pages, f"no {app} pod to scrape"
        return functools.reduce(Samples.__add__, pages)

    def slis(self, model: str) -> Slis:
        return Slis.of(self.gateway(), model)

    def pod_on_gpu(self, node: str, gpu: int) -> str:
        """The pod dcgm-exporter maps to a GPU (its `pod` label)."""
        (labels, _), = self.dcgm(node).select("DCGM_FI_DEV_GPU_UTIL", gpu=str(gpu))
        return labels["pod"]


def container(pod: Obj) -> Obj:
    return pod["status"]["containerStatuses"][0]


def waiting_reason(pod: Obj) -> str | None:
    return container(pod)["state"].get("waiting", {}).get("reason")


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def condition(node: Obj, type_: str) -> Obj:
    return next(c for c in node["status"]["conditions"] if c["type"] == type_)


def mean(samples: Samples, earlier: Samples, histogram: str, **labels: LabelMatch) -> float:
    """A histogram's mean over the time between two scrapes."""
    total = samples.value(histogram + "_sum", **labels) - earlier.value(histogram + "_sum", **labels)
    count = samples.value(histogram + "_count", **labels) - earlier.value(histogram + "_count", **labels)
    assert count > 0, f"no {histogram} observations between the scrapes"
    return total / count
