"""One vLLM replica serving requests: a batching queue whose latency grows with load, and vLLM's own metrics.

The latencies are wall-clock seconds (a time to first token is what a user waits); only the fleet's slow
processes (loads, back-offs, SLO windows) are compressed by the time scale.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sandbox import logtext
from sandbox.exposition import Family, Registry
from sandbox.fleet import ModelSpec
from sandbox.world import GIB, Gpu, Process

HBM_GIB = 79.19  # what torch reports as an H100 80GB's total memory

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
               40.0, 80.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                   240.0, 480.0, 960.0, 1920.0, 7680.0)
# loggers.py build_1_2_5_buckets(max_model_len): 1-2-5 steps up to the fleet's --max-model-len 8192
TOKEN_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
REQUEST_TIMEOUT_S = 30.0  # the gateway gives up on an upstream after this long
THROTTLED_SPEED = 0.55  # a GPU in thermal slowdown runs at roughly this share of its clocks
STATS_EVERY_S = 10.0  # VLLM_LOG_STATS_INTERVAL's default
ACTIVATION_GIB = 4.0  # per GPU, outside weights and KV cache: activations, CUDA graphs, NCCL buffers
LOAD_WINDOW_S = 5.0  # wall seconds over which the engine's load is judged: one tick holds too few requests


@dataclass(frozen=True)
class EngineConfig:
    """The `vllm serve` arguments that decide an engine's capacity, with vLLM's defaults
    (vllm/engine/arg_utils.py; --max-num-seqs 256 on GPUs), and the model name its metrics carry."""

    served_model_name: str
    max_num_seqs: int = 256
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 8192
    tensor_parallel_size: int = 1
    enforce_eager: bool = False

    @classmethod
    def from_args(cls, args: dict[str, str]) -> EngineConfig:
        """From `logtext.vllm_args` of a pod: --served-model-name defaults to the --model value."""
        return cls(served_model_name=args.get("served_model_name") or args.get("model", ""),
                   max_num_seqs=int(args.get("max_num_seqs", cls.max_num_seqs)),
                   gpu_memory_utilization=float(args.get("gpu_memory_utilization", cls.gpu_memory_utilization)),
                   max_model_len=int(args.get("max_model_len", cls.max_model_len)),
                   tensor_parallel_size=int(args.get("tensor_parallel_size", cls.tensor_parallel_size)),
                   enforce_eager=args.get("enforce_eager", "false").lower() in {"true", "1", ""})

    def kv_cache_gib(self, model: ModelSpec) -> float:
        """What is left for the KV cache across the engine's GPUs once weights and activations are in."""
        gpus = self.tensor_parallel_size
        return max(0.0, gpus * (HBM_GIB * self.gpu_memory_utilization - ACTIVATION_GIB) - model.weights_gib)

    def capacity_factor(self, model: ModelSpec) -> float:
        """Throughput relative to the model's reference deployment (its GPUs, 0.9, 256 seqs, CUDA graphs).

        Continuous batching completes more requests per step the more run at once; how many can is bounded by
        --max-num-seqs and by the KV cache. More GPUs per replica also make each step faster; eager mode gives
        up the CUDA graphs that make decode steps cheap.
        """
        reference = EngineConfig(self.served_model_name, tensor_parallel_size=model.gpus_per_replica)
        concurrency = min(self.max_num_seqs / reference.max_num_seqs,
                          self.kv_cache_gib(model) / reference.kv_cache_gib(model))
        step_speed = (self.tensor_parallel_size / model.gpus_per_replica) ** 0.8
        return max(0.02, concurrency) ** 0.7 * step_speed * (0.8 if self.enforce_eager else 1.0)

    def step_slowdown(self, model: ModelSpec) -> float:
        """How much longer each token takes than in the reference deployment."""
        return (model.gpus_per_replica / self.tensor_parallel_size) ** 0.8 * (1.25 if self.enforce_eager else 1.0)


@dataclass
class Outcome:
    """What the gateway sees of one request."""

    code: int
    ttft_s: float = 0.0
    duration_s: float = 0.0


@dataclass
class Replica:
    """The engine of one running vLLM process and the metrics it exports (reset when the process restarts)."""

    model: ModelSpec
    process: Process
    config: EngineConfig
    registry: Registry = field(default_factory=Registry)
    log_due: float = 0.0
    load_rps: float = 0.0  # arrivals per wall second, smoothed over LOAD_WINDOW_S; a new engine starts idle
    _logged: tuple[float, float] = (0.0, 0.0)
    _last_throughput: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        r, m = self.registry, "vllm:"
        self.running = r.gauge(m + "num_requests_running", "Number of requests in model execution batches.")
        self.waiting = r.gauge(m + "num_requests_waiting", "Number of requests waiting to be processed.")
        self.kv = r.gauge(m + "kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
        self.prompt_tokens = r.counter(m + "prompt_tokens", "Number of prefill tokens processed.")
        self.generation_tokens = r.counter(m + "generation_tokens", "Number of generation tokens processed.")
        self.success = r.counter(m + "request_success", "Count of successfully processed requests.")
        self.preemptions = r.counter(m + "num_preemptions", "Cumulative number of preemption from the engine.")
        self.prefix_queries = r.counter(m + "prefix_cache_queries", "Prefix cache queries, in terms of tokens.")
        self.prefix_hits = r.counter(m + "prefix_cache_hits", "Prefix cache hits, in terms of tokens.")
        self.ttft = r.histogram(m + "time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                                TTFT_BUCKETS)
        self.itl = r.histogram(m + "inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                               ITL_BUCKETS)
        self.e2e = r.histogram(m + "e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                               LATENCY_BUCKETS)
        self.queue_time = r.histogram(m + "request_queue_time_seconds",
                                      "Histogram of time spent in WAITING phase for request.", LATENCY_BUCKETS)
        self.prompt_hist = r.histogram(m + "request_prompt_tokens", "Number of prefill tokens processed.",
                                       TOKEN_BUCKETS)
        self.generation_hist = r.histogram(m + "request_generation_tokens", "Number of generation tokens processed.",
                                           TOKEN_BUCKETS)
        # vllm/v1/metrics/loggers.py: labelnames ["model_name", "engine"], model_name = served_model_name
        self.labels = {"model_name": self.config.served_model_name, "engine": "0"}
        self.start_memory = self.process.memory_bytes
        for gauge in (self.running, self.waiting, self.kv):
            gauge.set(0.0, **self.labels)
        # vLLM creates each engine's labelled counters up front (loggers.py create_metric_per_engine, one
        # request_success child per FinishReason), so they show at 0 before anything happened
        for counter in (self.prompt_tokens, self.generation_tokens, self.preemptions, self.prefix_queries,
                        self.prefix_hits):
            counter.inc(0.0, **self.labels)
        for reason in ("stop", "length", "abort", "error"):
            self.success.inc(0.0, finished_reason=reason, **self.labels)

    def serve(self, arrivals: int, dt: float, gpus: list[Gpu], broken_share: float, leak_bytes: float,
              rng: random.Random) -> list[Outcome]:
        """Admit `arrivals` requests over `dt` wall seconds and return what became of them."""
        p = self.process
        p.served_last_tick = arrivals
        if p.hung:
            # A wedged engine core sends no outputs, and the gauges and counters are set only from the scheduler
            # and iteration stats that come back with outputs (loggers.py `record`): they all freeze.
            return [Outcome(504, duration_s=REQUEST_TIMEOUT_S)] * arrivals
        speed = THROTTLED_SPEED if any(g.thermal_slowdown for g in gpus) else 1.0
        speed *= max(0.35, 1.0 - leak_bytes / (200 * GIB))  # a bloated process spends its time in the allocator
        capacity = self.model.capacity_rps * speed * self.config.capacity_factor(self.model)
        speed /= self.config.step_slowdown(self.model)
        load = self._smooth_load(arrivals, dt)
        rho = load / capacity
        # Continuous batching absorbs a tick's burst; only load above capacity for a while builds a backlog.
        p.backlog = max(0.0, p.backlog + (load - capacity) * dt)
        wait_mean = 0.03 * min(rho, 0.97) ** 3 / (1 - min(rho, 0.97)) + p.backlog / capacity
        outcomes = [self._one(rng, speed, wait_mean, broken_share) for _ in range(arrivals)]
        kv = min(1.0, 0.04 + 0.85 * min(rho, 1.2))
        if kv >= 0.98:
            self.preemptions.inc(rng.randint(0, 3), **self.labels)
        m = self.model
        p.running = min(self.config.max_num_seqs, load * (m.ttft_s + m.output_tokens * m.itl_s / speed))
        p.kv_usage = kv
        self._set_gauges(p.running, p.backlog, kv)
        return outcomes

    def _smooth_load(self, arrivals: int, dt: float) -> float:
        """The arrival rate as the engine's queue feels it: a tick's few requests are noise, not load."""
        observed = arrivals / dt if dt else 0.0
        self.load_rps += (observed - self.load_rps) * (1 - math.exp(-dt / LOAD_WINDOW_S))
        return self.load_rps

    def _one(self, rng: random.Random, speed: float, wait_mean: float, broken_share: float) -> Outcome:
        m, labels = self.model, self.labels
        queue = rng.expovariate(1 / wait_mean) if wait_mean > 0 else 0.0
        if queue > REQUEST_TIMEOUT_S:
            return Outcome(504, duration_s=REQUEST_TIMEOUT_S)
        prompt = max(16, int(rng.lognormvariate(0, 0.6) * m.prompt_tokens))
        if prompt >= self.config.max_model_len:
            return Outcome(400, duration_s=0.01)  # rejected before the engine: the prompt exceeds the context
        if rng.random() < broken_share:
            # The engine finished it with finish_reason "error": the server answers 500 (GenerationError)
            self.prompt_tokens.inc(prompt, **labels)
            self.success.inc(1.0, finished_reason="error", **labels)
            return Outcome(500, duration_s=0.05)
        output = max(1, int(rng.lognormvariate(0, 0.5) * m.output_tokens))
        ttft = queue + rng.lognormvariate(0, 0.3) * m.ttft_s / speed
        itl = m.itl_s / speed * rng.uniform(0.9, 1.2)
        e2e = ttft + output * itl
        self.prompt_tokens.inc(prompt, **labels)
        self.generation_tokens.inc(output, **labels)
        self.prefix_queries.inc(prompt, **labels)
        self.prefix_hits.inc(int(prompt * 0.38), **labels)
        self.success.inc(1.0, finished_reason="length" if output >= 4 * m.output_tokens else "stop", **labels)
        self.ttft.observe(ttft, **labels)
        self.itl.observe(itl, **labels)
        self.e2e.observe(e2e, **labels)
        self.queue_time.observe(queue, **labels)
        self.prompt_hist.observe(prompt, **labels)
        self.generation_hist.observe(output, **labels)
        return Outcome(200, ttft_s=ttft, duration_s=e2e)

    def _set_gauges(self, running: float, waiting: float, kv: float) -> None:
        self.running.set(round(running), **self.labels)
        self.waiting.set(round(waiting), **self.labels)
        self.kv.set(round(kv, 4), **self.labels)

    def stats_line(self, now: float) -> str | None:
        """vLLM's periodic engine-stats line. `LoggingStatLogger.log` logs it at DEBUG, so not at all at the
        default level, when prompt and generation throughput were zero in this interval and the one before
        ("Avoid log noise on an idle production system"): an idle or wedged engine falls silent."""
        if now < self.log_due:
            return None
        elapsed = max(1e-6, now - (self.log_due - STATS_EVERY_S) if self.log_due else STATS_EVERY_S)
        prompt, generated = _total(self.prompt_tokens), _total(self.generation_tokens)
        throughput = ((prompt - self._logged[0]) / elapsed, (generated - self._logged[1]) / elapsed)
        quiet = not any((*throughput, *self._last_throughput))
        self._logged, self._last_throughput, self.log_due = (prompt, generated), throughput, now + STATS_EVERY_S
        if quiet:
            return None
        return logtext.engine_stats(*throughput, int(self.process.running), int(self.process.backlog),
                                    self.process.kv_usage)


def _total(family: Family) -> float:
    return sum(v for v in family.series.values() if isinstance(v, float))
