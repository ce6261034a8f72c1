"""The inference gateway and the traffic it carries.

Each tick, every model's clients send requests (a seeded daily shape with noise); the gateway splits them by
the weights in ConfigMap `gateway-routes`, sends self-hosted ones to the Ready pods of the model's
deployment and the rest to the hosted providers, and calls the tokenizer and auth services on every request.
It neither retries nor falls back: a request routed to a failing backend fails.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandbox import logtext
from sandbox.clock import Clock
from sandbox.controllers.pods import is_ready
from sandbox.exposition import Registry
from sandbox.fleet import PROVIDERS, SELF_HOSTED, FleetSpec, ModelSpec
from sandbox.logs import LogStore
from sandbox.names import pod_key
from sandbox.serving import REQUEST_TIMEOUT_S, TTFT_BUCKETS, EngineConfig, Outcome, Replica
from sandbox.store import Store
from sandbox.world import World

ROUTES_CONFIGMAP, ROUTES_KEY = "gateway-routes", "routes.yaml"
GATEWAY_APP = "inference-gateway"
DEPENDENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BACKENDS = (SELF_HOSTED, *PROVIDERS)


def default_routes(fleet: FleetSpec) -> dict[str, dict[str, int]]:
    return {m.name: {SELF_HOSTED: 100 - fleet.standby_share, m.standby: fleet.standby_share} for m in fleet.models}


def render_routes(routes: dict[str, dict[str, int]]) -> str:
    return yaml.safe_dump({"models": routes}, sort_keys=False)


def parse_routes(text: str, models: set[str]) -> dict[str, dict[str, int]]:
    """The gateway's validation of its routing table; raises ValueError with the reason."""
    doc = yaml.safe_load(text) or {}
    routes = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(routes, dict):
        raise ValueError(f"{ROUTES_KEY}: expected a 'models' mapping")
    for model, weights in routes.items():
        if model not in models:
            raise ValueError(f"{ROUTES_KEY}: unknown model {model!r}")
        if not isinstance(weights, dict) or any(b not in BACKENDS for b in weights):
            raise ValueError(f"{ROUTES_KEY}: {model}: backends must be among {', '.join(BACKENDS)}")
        if any(not isinstance(w, int) or w < 0 for w in weights.values()) or sum(weights.values()) != 100:
            raise ValueError(f"{ROUTES_KEY}: {model}: weights must be whole percentages summing to 100")
    return routes


def poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass
class GatewayReplica:
    registry: Registry = field(default_factory=Registry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = r.counter("gateway_requests", "Requests answered by the gateway, by model, backend "
                                  "provider and HTTP status code.")
        self.ttft = r.histogram("gateway_time_to_first_token_seconds",
                                "Time to first token seen by the gateway for successful requests.",
                                tuple(b for b in TTFT_BUCKETS if 0.05 <= b <= 40.0))
        self.duration = r.histogram("gateway_request_duration_seconds", "Gateway request duration.",
                                    (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0))
        self.upstream = r.histogram("gateway_upstream_request_duration_seconds",
                                    "Latency of the gateway's calls to shared dependencies.", DEPENDENCY_BUCKETS)
        self.provider_responses = r.counter("gateway_provider_responses",
                                            "Responses from hosted providers by upstream status code.")


class Gateway:
    def __init__(self, store: Store, world: World, fleet: FleetSpec, clock: Clock, logs: LogStore,
                 rng: random.Random) -> None:
        self.store, self.world, self.fleet, self.clock, self.logs, self.rng = store, world, fleet, clock, logs, rng
        self.routes = default_routes(fleet)
        self.routes_version = ""
        self.route_error = ""
        self.replicas: dict[str, Replica] = {}
        self.gateway_replicas: dict[str, GatewayReplica] = {}
        self._next_endpoint: dict[str, int] = {}  # model -> round-robin position among its endpoints

    # -- each tick ----------------------------------------------------------------------------------------
    def tick(self, dt: float) -> None:
        self._reload_routes()
        frontends = self._frontends()
        for key in [k for k, r in self.replicas.items() if self.world.processes.get(k) is not r.process]:
            self._retire(key)
        for model in self.fleet.models:
            arrivals = poisson(self.rng, self._rate(model) * dt)
            for backend, count in self._split(model, arrivals).items():
                outcomes = (self._serve_self_hosted(model, count, dt) if backend == SELF_HOSTED
                            else self._serve_provider(backend, count))
                for outcome in outcomes:
                    self._record(model, backend, outcome, frontends)
        now = self.clock.now()
        for key, replica in self.replicas.items():
            line = replica.stats_line(now)
            if line:
                ns, name = key.split("/")
                self.logs.write(ns, name, "vllm", line)

    def replica(self, key: str) -> Replica | None:
        """The running vLLM engine of a pod, if its process is up."""
        process = self.world.processes.get(key)
        model = next((m for m in self.fleet.models if key.split("/")[1].startswith(m.name + "-")), None)
        if process is None or model is None:
            return None
        replica = self.replicas.get(key)
        if replica is None or replica.process is not process:
            if replica is not None:
                self._retire(key)
            pod = self.store.find("pods", *key.split("/"))
            config = EngineConfig.from_args(logtext.vllm_args(pod) if pod else {"model": model.name})
            replica = self.replicas[key] = Replica(model, process, config)
        return replica

    def _retire(self, key: str) -> None:
        """Forget an engine whose process ended. One that died mid-batch takes its running requests with it:
        their streams break and the gateway answers them 502, as a proxy does when its upstream resets."""
        replica = self.replicas.pop(key)
        if not replica.process.killed:
            return  # a graceful stop drains its requests first
        m, frontends = replica.model, list(self.gateway_replicas.values())
        for _ in range(round(replica.process.running)):
            cut_at = self.rng.uniform(0, m.ttft_s + m.output_tokens * m.itl_s)
            self._record(m, SELF_HOSTED, Outcome(502, duration_s=cut_at), frontends)

    def _rate(self, model: ModelSpec) -> float:
        day = self.clock.fleet_now() / 86400
        shape = 1 + 0.08 * math.sin(2 * math.pi * (day - 0.25))
        return model.base_rps * shape * self.world.traffic_multiplier[model.name] * self.rng.lognormvariate(0, 0.04)

    def _split(self, model: ModelSpec, arrivals: int) -> dict[str, int]:
        weights = self.routes.get(model.name, {SELF_HOSTED: 100})
        backends = [b for b, w in weights.items() if w > 0]
        counts = dict.fromkeys(backends, 0)
        for backend in self.rng.choices(backends, weights=[weights[b] for b in backends], k=arrivals):
            counts[backend] += 1
        return counts

    # -- backends -----------------------------------------------------------------------------------------
    def _serve_self_hosted(self, model: ModelSpec, count: int, dt: float) -> list[Outcome]:
        endpoints = self._endpoints(model)
        if not endpoints:
            return [Outcome(503, duration_s=0.002)] * count
        # Round robin, as Envoy-based gateways balance by default: every endpoint gets its turn in order.
        start = self._next_endpoint.get(model.name, 0)
        per_pod = dict.fromkeys(endpoints, 0)
        for i in range(count):
            per_pod[endpoints[(start + i) % len(endpoints)]] += 1
        self._next_endpoint[model.name] = (start + count) % len(endpoints)
        outcomes: list[Outcome] = []
        for key, arrivals in per_pod.items():
            outcomes += self._serve_pod(key, arrivals, dt)
        return outcomes

    def _serve_pod(self, key: str, arrivals: int, dt: float) -> list[Outcome]:
        process, replica = self.world.processes.get(key), self.replica(key)
        if process is None or replica is None:
            return [Outcome(502, duration_s=0.01)] * arrivals
        if not self.world.hosts[process.node].reachable:
            return [Outcome(504, duration_s=REQUEST_TIMEOUT_S)] * arrivals
        if self.clock.now() < process.ready_at:
            return [Outcome(502, duration_s=0.01)] * arrivals
        pod = self.store.find("pods", *key.split("/"))
        image = pod["spec"]["containers"][0]["image"] if pod else ""
        outcomes = replica.serve(arrivals, dt, self.world.gpus_of(key), self.world.broken_images.get(image, 0.0),
                                 process.memory_bytes - replica.start_memory, self.rng)
        self._access_logs(key, outcomes)
        return outcomes

    def _endpoints(self, model: ModelSpec) -> list[str]:
        """Like a Service's ready endpoints: Ready pods of the model that are not terminating."""
        return [pod_key(p) for p in self.store.objects("pods", self.fleet.namespace)
                if p["metadata"].get("labels", {}).get("app") == model.name and is_ready(p)
                and "deletionTimestamp" not in p["metadata"]]

    def _serve_provider(self, name: str, count: int) -> list[Outcome]:
        provider = self.world.providers[name]
        outcomes = []
        for _ in range(count):
            roll = self.rng.random()
            if roll < provider.error_share:
                outcomes.append(Outcome(502, duration_s=self.rng.uniform(0.05, 2.0)))
                code = "503"
            elif roll < provider.error_share + provider.rate_limited_share:
                outcomes.append(Outcome(503, duration_s=0.08))
                code = "429"
            else:
                ttft = provider.ttft_s * self.rng.lognormvariate(0, 0.25)
                outcomes.append(Outcome(200, ttft_s=ttft, duration_s=ttft + self.rng.uniform(2, 6)))
                code = "200"
            self._provider_response(name, code)
        return outcomes

    # -- the gateway's own view ---------------------------------------------------------------------------
    def _frontends(self) -> list[GatewayReplica]:
        ready = [pod_key(p) for p in self.store.objects("pods", self.fleet.namespace)
                 if p["metadata"].get("labels", {}).get("app") == GATEWAY_APP and pod_key(p) in self.world.processes]
        for key in list(self.gateway_replicas):
            if key not in ready:
                del self.gateway_replicas[key]
        return [self.gateway_replicas.setdefault(key, GatewayReplica()) for key in ready]

    def _record(self, model: ModelSpec, backend: str, outcome: Outcome, frontends: list[GatewayReplica]) -> None:
        if not frontends:
            return
        gateway = self.rng.choice(frontends)
        overhead = 0.0
        for dependency, extra in self.world.dependency_latency_s.items():
            latency = extra * self.rng.lognormvariate(0, 0.3)
            gateway.upstream.observe(latency, dependency=dependency)
            overhead += latency
        code = str(outcome.code)
        gateway.requests.inc(model=model.name, provider=backend, code=code)
        gateway.duration.observe(outcome.duration_s + overhead, model=model.name, provider=backend)
        if outcome.code < 500:
            gateway.ttft.observe(outcome.ttft_s + overhead, model=model.name, provider=backend)

    def _provider_response(self, provider: str, code: str) -> None:
        frontends = list(self.gateway_replicas.values())
        if frontends:
            self.rng.choice(frontends).provider_responses.inc(provider=provider, code=code)

    def _access_logs(self, key: str, outcomes: list[Outcome]) -> None:
        ns, name = key.split("/")
        for outcome in outcomes:
            if outcome.code == 504:
                continue  # the gateway gave up on it: vLLM never answered, so uvicorn logged nothing
            if outcome.code == 500:
                self.logs.write(ns, name, "vllm", logtext.generation_error(f"chatcmpl-{self.rng.getrandbits(64):032x}"))
            client = f"10.244.{self.rng.randint(1, 4)}.{self.rng.randint(2, 30)}:{self.rng.randint(32768, 60999)}"
            self.logs.write(ns, name, "vllm", logtext.access(client, "POST", "/v1/chat/completions", outcome.code))

    def _reload_routes(self) -> None:
        cm = self.store.find("configmaps", self.fleet.namespace, ROUTES_CONFIGMAP)
        if cm is None or cm["metadata"]["resourceVersion"] == self.routes_version:
            return
        self.routes_version = cm["metadata"]["resourceVersion"]
        try:
            self.routes = parse_routes(cm.get("data", {}).get(ROUTES_KEY, ""), {m.name for m in self.fleet.models})
            self.route_error = ""
            message = json.dumps({"level": "info", "msg": "routes reloaded", "resourceVersion": self.routes_version})
        except (ValueError, yaml.YAMLError) as error:
            self.route_error = str(error)
            message = json.dumps({"level": "error", "msg": "routes reload failed, keeping previous routes",
                                  "error": str(error)})
        for key in self.gateway_replicas:
            ns, name = key.split("/")
            self.logs.write(ns, name, "gateway", message)

    def snapshot(self) -> dict[str, Any]:
        """What the gateway's admin endpoint shows: the routes in force and the last reload error."""
        return {"routes": self.routes, "configmap_resource_version": self.routes_version,
                "reload_error": self.route_error or None}
