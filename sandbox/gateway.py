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
from typing import Any

import yaml

from sandbox import logtext
from sandbox.clock import Clock
from sandbox.controllers.pods import is_ready
from sandbox.fleet import PROVIDERS, SELF_HOSTED, FleetSpec, ModelSpec
from sandbox.gateway_metrics import RATE_LIMIT_HEADERS, Call, Deployment, HttpServerMetrics, LiteLLMMetrics
from sandbox.logs import LogStore
from sandbox.names import pod_key
from sandbox.serving import REQUEST_TIMEOUT_S, EngineConfig, Outcome, Replica
from sandbox.store import Store
from sandbox.world import World

ROUTES_CONFIGMAP, ROUTES_KEY = "gateway-routes", "config.yaml"  # LiteLLM's helm chart mounts config.yaml
GATEWAY_APP = "inference-gateway"
BACKENDS = (SELF_HOSTED, *PROVIDERS)
# LiteLLM's provider prefixes (litellm_params.model) for the fleet's backends, and the standby's hosted model.
PROVIDER_PREFIX = {SELF_HOSTED: "hosted_vllm", "anthropic": "anthropic", "openai": "openai", "google": "gemini"}
BACKEND_OF_PREFIX = {prefix: backend for backend, prefix in PROVIDER_PREFIX.items()}
HOSTED = {"anthropic": ("claude-3-5-haiku-20241022", "https://api.anthropic.com/v1/messages"),
          "openai": ("gpt-4o-mini", "https://api.openai.com/v1"),
          "google": ("gemini-2.0-flash", "https://generativelanguage.googleapis.com/v1beta")}
DEPENDENCY_ROUTES = {"tokenizer-service": "/v1/tokenize", "auth-service": "/v1/authorize"}
# No retries, no fallbacks, no cooldowns: a request routed to a failing deployment fails, and only the weights
# move traffic. In LiteLLM that is num_retries: 0, no `fallbacks`, and disable_cooldowns: true (a cooled-down
# deployment would otherwise leave the shuffle, which is a fallback of its own).
ROUTER_SETTINGS = {"routing_strategy": "simple-shuffle", "num_retries": 0, "disable_cooldowns": True}
LITELLM_SETTINGS = {"callbacks": ["prometheus"], "num_retries": 0}

Routes = dict[str, dict[str, float]]  # model group -> backend -> weight


def default_deployments(fleet: FleetSpec) -> list[tuple[Deployment, float]]:
    """Per model its self-hosted deployment and one per hosted provider, all configured so that traffic can move
    to any of them; only the model's standby has a weight (the standby share), the others wait at 0, which
    simple-shuffle never picks."""
    entries = []
    for m in fleet.models:
        entries.append((_deployment(fleet, m.name, SELF_HOSTED), float(100 - fleet.standby_share)))
        entries += [(_deployment(fleet, m.name, p), float(fleet.standby_share if p == m.standby else 0))
                    for p in PROVIDERS]
    return entries


def _deployment(fleet: FleetSpec, model: str, backend: str) -> Deployment:
    if backend == SELF_HOSTED:
        return Deployment(model, backend, f"hosted_vllm/{model}",
                          f"http://{model}.{fleet.namespace}.svc.cluster.local:8000/v1")
    hosted, api_base = HOSTED[backend]
    return Deployment(model, backend, f"{PROVIDER_PREFIX[backend]}/{hosted}", api_base)


def render_routes(entries: list[tuple[Deployment, float]]) -> str:
    """LiteLLM proxy config.yaml (docs/my-website/docs/proxy/configs.md, load_balancing.md): one model_list entry
    per deployment, `weight` in litellm_params for the simple-shuffle strategy."""
    model_list = [{"model_name": d.model_name,
                   "litellm_params": {"model": d.model, "api_base": d.api_base, "weight": _number(weight),
                                      **({} if d.backend == SELF_HOSTED
                                         else {"api_key": f"os.environ/{d.provider.upper()}_API_KEY"})},
                   "model_info": {"id": d.model_id}} for d, weight in entries]
    return yaml.safe_dump({"model_list": model_list, "router_settings": ROUTER_SETTINGS,
                           "litellm_settings": LITELLM_SETTINGS}, sort_keys=False)


def parse_routes(text: str, models: set[str]) -> list[tuple[Deployment, float]]:
    """The proxy's reading of its config's model_list; raises ValueError with the reason."""
    doc = yaml.safe_load(text) or {}
    entries = doc.get("model_list") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{ROUTES_KEY}: expected a model_list")
    return [_entry(e, models) for e in entries]


def _entry(entry: Any, models: set[str]) -> tuple[Deployment, float]:
    params = entry.get("litellm_params") if isinstance(entry, dict) else None
    if not isinstance(params, dict) or not isinstance(params.get("model"), str):
        raise ValueError(f"{ROUTES_KEY}: every model_list entry needs model_name and litellm_params.model")
    name, model = str(entry.get("model_name")), params["model"]
    backend = BACKEND_OF_PREFIX.get(model.split("/", 1)[0])
    if name not in models or backend is None or "/" not in model:
        raise ValueError(f"{ROUTES_KEY}: {name}: {model} is not a model and provider this fleet serves")
    weight = params.get("weight", 0)
    if not isinstance(weight, int | float) or weight < 0:
        raise ValueError(f"{ROUTES_KEY}: {name}: weight must be a number >= 0")
    return Deployment(name, backend, model, str(params.get("api_base", ""))), float(weight)


def weights_of(entries: list[tuple[Deployment, float]]) -> dict[str, dict[str, float | int]]:
    routes: dict[str, dict[str, float | int]] = {}
    for d, weight in entries:
        routes.setdefault(d.model_name, {})[d.backend] = _number(weight)
    return routes


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class Gateway:
    def __init__(self, store: Store, world: World, fleet: FleetSpec, clock: Clock, logs: LogStore,
                 rng: random.Random) -> None:
        self.store, self.world, self.fleet, self.clock, self.logs, self.rng = store, world, fleet, clock, logs, rng
        self.deployments = default_deployments(fleet)
        self.routes_version = ""
        self.route_error = ""
        self.replicas: dict[str, Replica] = {}
        self.gateway_replicas: dict[str, LiteLLMMetrics] = {}
        self.dependency_servers: dict[str, HttpServerMetrics] = {}  # platform pod -> its own HTTP server metrics
        self._next_endpoint: dict[str, int] = {}  # model -> round-robin position among its endpoints

    # -- each tick ----------------------------------------------------------------------------------------
    def tick(self, dt: float) -> None:
        self._reload_routes()
        frontends = self._frontends()
        for key in [k for k, r in self.replicas.items() if self.world.processes.get(k) is not r.process]:
            self._retire(key)
        for model in self.fleet.models:
            arrivals = poisson(self.rng, self._rate(model) * dt)
            for deployment, count in self._split(model, arrivals).items():
                outcomes = (self._serve_self_hosted(model, count, dt) if deployment.backend == SELF_HOSTED
                            else self._serve_provider(deployment.backend, count))
                for outcome in outcomes:
                    self._record(deployment, outcome, frontends)
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
        deployment = _deployment(self.fleet, m.name, SELF_HOSTED)
        for _ in range(round(replica.process.running)):
            cut_at = self.rng.uniform(0, m.ttft_s + m.output_tokens * m.itl_s)
            self._record(deployment, Outcome(502, duration_s=cut_at), frontends)

    def _rate(self, model: ModelSpec) -> float:
        day = self.clock.fleet_now() / 86400
        shape = 1 + 0.08 * math.sin(2 * math.pi * (day - 0.25))
        return model.base_rps * shape * self.world.traffic_multiplier[model.name] * self.rng.lognormvariate(0, 0.04)

    def _split(self, model: ModelSpec, arrivals: int) -> dict[Deployment, int]:
        """LiteLLM's simple-shuffle: a weighted random pick among the group's deployments (any one when no
        weight is set)."""
        group = [(d, w) for d, w in self.deployments if d.model_name == model.name]
        if not group:
            return {}
        weights = [w for _, w in group] if any(w > 0 for _, w in group) else None
        counts: dict[Deployment, int] = {}
        for d in self.rng.choices([d for d, _ in group], weights=weights, k=arrivals):
            counts[d] = counts.get(d, 0) + 1
        return counts

    # -- backends -----------------------------------------------------------------------------------------
    def _serve_self_hosted(self, model: ModelSpec, count: int, dt: float) -> list[Outcome]:
        endpoints = self._endpoints(model)
        if not endpoints:
            return [Outcome(503, duration_s=0.002)] * count  # the Service has no ready endpoint: refused
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
        """A provider's answers as its API gives them: a failing one answers 500 or 503, a throttling one 429."""
        provider = self.world.providers[name]
        outcomes = []
        for _ in range(count):
            roll = self.rng.random()
            if roll < provider.error_share:
                outcomes.append(Outcome(self.rng.choice((500, 503)), duration_s=self.rng.uniform(0.05, 2.0)))
            elif roll < provider.error_share + provider.rate_limited_share:
                outcomes.append(Outcome(429, duration_s=0.08))
            else:
                ttft = provider.ttft_s * self.rng.lognormvariate(0, 0.25)
                outcomes.append(Outcome(200, ttft_s=ttft, duration_s=ttft + self.rng.uniform(2, 6)))
        return outcomes

    # -- the gateway's own view ---------------------------------------------------------------------------
    def _frontends(self) -> list[LiteLLMMetrics]:
        ready = [pod_key(p) for p in self.store.objects("pods", self.fleet.namespace)
                 if p["metadata"].get("labels", {}).get("app") == GATEWAY_APP and pod_key(p) in self.world.processes]
        for key in list(self.gateway_replicas):
            if key not in ready:
                del self.gateway_replicas[key]
        return [self.gateway_replicas.setdefault(key, LiteLLMMetrics()) for key in ready]

    def dependency_server(self, key: str) -> HttpServerMetrics | None:
        """The HTTP server metrics of a running pod of a shared dependency (tokenizer-service, auth-service)."""
        pod = self.store.find("pods", *key.split("/"))
        app = pod["metadata"].get("labels", {}).get("app", "") if pod else ""
        if pod is None or app not in self.fleet.dependencies or key not in self.world.processes:
            self.dependency_servers.pop(key, None)
            return None
        return self.dependency_servers.setdefault(key, HttpServerMetrics(
            DEPENDENCY_ROUTES.get(app, "/"), f"{app}.{pod['metadata']['namespace']}.svc.cluster.local"))

    def _dependency_calls(self) -> float:
        """The gateway's calls to the shared services before it calls a backend; each service's pod records the
        call in its own histogram. Returns the time they add to the request."""
        added = 0.0
        for dependency, latency_s in self.world.dependency_latency_s.items():
            latency = latency_s * self.rng.lognormvariate(0, 0.3)
            pods = [k for k in self.world.processes if k.split("/")[1].startswith(dependency + "-")]
            server = self.dependency_server(self.rng.choice(pods)) if pods else None
            if server is not None:
                server.observe(latency)
            added += latency
        return added

    def _record(self, deployment: Deployment, outcome: Outcome, frontends: list[LiteLLMMetrics]) -> None:
        if not frontends:
            return
        overhead = self._dependency_calls()
        remaining = None
        if outcome.code < 400 and deployment.provider in RATE_LIMIT_HEADERS:
            throttled = self.world.providers[deployment.backend].rate_limited_share > 0
            remaining = 0 if throttled else self.rng.randint(9000, 10000)  # x-ratelimit-remaining-requests
        # LiteLLM times TTFT and the API call from the upstream call's start: the dependency calls before it show
        # in the total and overhead latency only.
        self.rng.choice(frontends).record(Call(deployment, outcome.code, outcome.ttft_s, outcome.duration_s,
                                               overhead, remaining))

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
            self.deployments = parse_routes(cm.get("data", {}).get(ROUTES_KEY, ""),
                                            {m.name for m in self.fleet.models})
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
        return {"routes": weights_of(self.deployments), "configmap_resource_version": self.routes_version,
                "reload_error": self.route_error or None}
