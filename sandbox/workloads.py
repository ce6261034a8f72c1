"""How each kind of container behaves: how long it takes to start, what it prints, and what kills it.

The kill conditions are physics, not fault names: a lost GPU, memory over a limit, a host out of memory,
a memory setting too tight for the batch, a request that crashes the engine.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox import logtext, vllm_start
from sandbox.clock import Clock
from sandbox.fleet import FleetSpec, ModelSpec
from sandbox.names import pod_key
from sandbox.serving import HBM_GIB
from sandbox.world import GIB, Process, World

Obj = dict[str, Any]
CUDA_CONTEXT_GIB = 0.56  # what the worker's own CUDA context takes before vLLM measures free memory
KERNEL_MONITOR = "kernel-monitor"  # node-problem-detector's source (config/kernel-monitor.json)


@dataclass
class Termination:
    exit_code: int
    reason: str  # Completed (exit 0) | Error | OOMKilled
    log_lines: list[str] = field(default_factory=list)
    node_events: list[tuple[str, str, str]] = field(default_factory=list)  # (source component, reason, message)


@dataclass
class StartFailure:
    """A container that exits before it ever serves, `after_s` fleet seconds after it starts."""

    after_s: float
    termination: Termination


class Workload(Protocol):
    def load_seconds(self, rng: random.Random) -> float: ...
    def start_memory(self) -> float: ...
    def startup_lines(self, pod: Obj) -> list[str]: ...
    def ready_lines(self, pod: Obj) -> list[str]: ...
    def shutdown_lines(self, pod: Obj) -> list[str]: ...
    def check(self, pod: Obj, process: Process, clock: Clock, rng: random.Random) -> Termination | None: ...
    def start_failure(self, pod: Obj) -> StartFailure | None: ...


def memory_limit(pod: Obj) -> float:
    return _memory_quantity(pod, "limits")


def memory_request(pod: Obj) -> float:
    return _memory_quantity(pod, "requests")


def _memory_quantity(pod: Obj, kind: str) -> float:
    raw = pod["spec"]["containers"][0].get("resources", {}).get(kind, {}).get("memory", "0")
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": GIB, "Ti": 1024 * GIB}
    for suffix, factor in units.items():
        if raw.endswith(suffix):
            return float(raw[: -len(suffix)]) * factor
    return float(raw or 0)


@dataclass
class SimpleService:
    """The gateway, the platform services and the node daemons: start fast, rarely die."""

    name: str
    lines: list[str]

    def load_seconds(self, rng: random.Random) -> float:
        return rng.uniform(2, 4)

    def start_memory(self) -> float:
        return 0.3 * GIB

    def startup_lines(self, pod: Obj) -> list[str]:
        return list(self.lines)

    def ready_lines(self, pod: Obj) -> list[str]:
        return []

    def shutdown_lines(self, pod: Obj) -> list[str]:
        return logtext.uvicorn_shutdown()

    def check(self, pod: Obj, process: Process, clock: Clock, rng: random.Random) -> Termination | None:
        return None

    def start_failure(self, pod: Obj) -> StartFailure | None:
        return None


@dataclass
class VllmServer:
    world: World
    model: ModelSpec

    def load_seconds(self, rng: random.Random) -> float:
        return self.model.load_s * rng.uniform(0.9, 1.1)

    def start_memory(self) -> float:
        return (6 + self.model.weights_gib * 0.08) * GIB

    def startup_lines(self, pod: Obj) -> list[str]:
        return logtext.vllm_startup(pod, self.model.weights_gib, self.model.load_s)

    def ready_lines(self, pod: Obj) -> list[str]:
        return logtext.vllm_ready()

    def shutdown_lines(self, pod: Obj) -> list[str]:
        return logtext.uvicorn_shutdown(logtext.API_SERVER)

    def check(self, pod: Obj, process: Process, clock: Clock, rng: random.Random) -> Termination | None:
        loaded = clock.now() >= process.ready_at
        return (self._lost_gpu(pod, loaded) or self._too_little_free_memory(pod)
                or self._over_memory_limit(pod, process) or self._host_out_of_memory(pod, process)
                or self._cuda_oom(pod, process, clock, rng) or self._crashing_request(pod, process, rng))

    def start_failure(self, pod: Obj) -> StartFailure | None:
        """Arguments the parser rejects exit at once (after vLLM's imports); a model the node can neither find
        on disk nor fetch fails when the engine's config is built, a `VLLM_PORT` it cannot use when the engine
        starts. Only this deployment's own weights resolve: the
        fleet serves from a pre-staged cache, so any other model reference is unreachable."""
        extras = vllm_start.unrecognized(pod["spec"]["containers"][0].get("args", []))
        if extras:
            return StartFailure(8.0, Termination(vllm_start.ARGPARSE_EXIT, "Error", vllm_start.usage_error(extras)))
        model = logtext.vllm_args(pod).get("model", "")
        if model != self.model.hf_model:
            return StartFailure(20.0, Termination(vllm_start.UNCAUGHT_EXIT, "Error",
                                                  vllm_start.model_not_found(model)))
        env = {e.get("name"): e.get("value", "") for e in pod["spec"]["containers"][0].get("env") or []}
        if "VLLM_PORT" in env and (traceback := vllm_start.bad_vllm_port(env["VLLM_PORT"])):
            return StartFailure(25.0, Termination(vllm_start.UNCAUGHT_EXIT, "Error", traceback))
        return None

    def _lost_gpu(self, pod: Obj, loaded: bool) -> Termination | None:
        lost = [g for g in self.world.gpus_of(pod_key(pod)) if g.lost or g.transient_fault]
        if not lost:
            return None
        for gpu in lost:
            gpu.transient_fault = False
        if loaded:
            return engine_died(pod, logtext.cuda_device_error(pod, lost[0].index))
        return Termination(1, "Error", logtext.cuda_unavailable_at_start(pod))

    @staticmethod
    def _too_little_free_memory(pod: Obj) -> Termination | None:
        """vLLM refuses to start when the GPU has less free memory than --gpu-memory-utilization asks for."""
        utilization = float(logtext.vllm_args(pod).get("gpu_memory_utilization", "0.9"))
        free = HBM_GIB - CUDA_CONTEXT_GIB
        if utilization * HBM_GIB <= free:
            return None
        return Termination(1, "Error", logtext.free_memory_below_utilization(pod, free, HBM_GIB, utilization))

    @staticmethod
    def _over_memory_limit(pod: Obj, process: Process) -> Termination | None:
        """The container's cgroup hits its limit: the kernel kills inside it. Only node-problem-detector's kernel
        monitor turns the kernel line into an event; the kubelet's SystemOOM is for the root cgroup alone."""
        limit = memory_limit(pod)
        if limit and process.memory_bytes > limit:
            line = _oom_kill_line("Memory cgroup out of memory", pod, process, oom_score_adj(pod, limit))
            return Termination(137, "OOMKilled", node_events=[(KERNEL_MONITOR, "OOMKilling", line)])
        return None

    def _host_out_of_memory(self, pod: Obj, process: Process) -> Termination | None:
        """The whole node is out of memory before the kubelet could evict: the kernel kills the process with the
        highest badness (resident memory plus oom_score_adj thousandths of the node). The runaway host daemon is
        protected (-1000) and the pods are all Guaranteed (-997), so the biggest pod process is the pick."""
        host = self.world.hosts[pod["spec"]["nodeName"]]
        on_host = [p for p in self.world.processes.values() if p.node == host.name]
        used = host.system_memory_bytes + sum(p.memory_bytes for p in on_host)
        if used <= host.memory_bytes or process is not max(on_host, key=lambda p: p.memory_bytes):
            return None
        line = _oom_kill_line("Out of memory", pod, process, oom_score_adj(pod, host.memory_bytes))
        # The kubelet's OOM watcher records SystemOOM only for an OOM of the root cgroup "/", as this one is.
        system_oom = f"System OOM encountered, victim process: python3, pid: {_host_pid(pod, process)}"
        return Termination(137, "OOMKilled", node_events=[("kubelet", "SystemOOM", system_oom),
                                                          (KERNEL_MONITOR, "OOMKilling", line)])

    @staticmethod
    def _cuda_oom(pod: Obj, process: Process, clock: Clock, rng: random.Random) -> Termination | None:
        """Too little headroom outside the KV cache: a big batch's activations no longer fit."""
        utilisation = float(logtext.vllm_args(pod).get("gpu_memory_utilization", "0.9"))
        headroom_gib = HBM_GIB * (1 - utilisation)
        if headroom_gib > 2.5 or process.kv_usage < 0.3:
            return None
        per_fleet_second = 0.004 * process.kv_usage
        if rng.random() < per_fleet_second * clock.time_scale * 0.5:
            return engine_died(pod, logtext.cuda_out_of_memory(pod, HBM_GIB, headroom_gib * 0.4))
        return None

    def _crashing_request(self, pod: Obj, process: Process, rng: random.Random) -> Termination | None:
        """A request the engine cannot handle, retried by its client, takes down whichever replica gets it."""
        if self.model.name not in self.world.crashing_request_models or process.served_last_tick <= 0:
            return None
        if rng.random() < 0.5:
            return engine_died(pod, logtext.engine_crash_on_request(pod))
        return None


def engine_died(pod: Obj, lines: list[str]) -> Termination:
    """After EngineDeadError the launcher's watchdog stops uvicorn and `vllm serve` returns normally: the
    container exits 0, `Completed` (vllm/entrypoints/launcher.py `terminate_if_errored`; vllm-project/vllm#48966).
    Kubernetes restarts it all the same (restartPolicy Always)."""
    return Termination(0, "Completed", lines)


def oom_score_adj(pod: Obj, node_memory_bytes: float) -> int:
    """The kubelet's oom_score_adj for a pod's containers (pkg/kubelet/qos/policy.go): Guaranteed -997,
    BestEffort 1000, Burstable 1000 - 1000 * request / node memory, clamped to [2, 999]."""
    resources = pod["spec"]["containers"][0].get("resources", {})
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    if not limits and not requests:
        return 1000
    if all(limits.get(r) and requests.get(r, limits.get(r)) == limits.get(r) for r in ("cpu", "memory")):
        return -997
    return int(min(999, max(2, 1000 - 1000 * memory_request(pod) / node_memory_bytes)))


def _oom_kill_line(cause: str, pod: Obj, process: Process, adj: int) -> str:
    """The kernel's oom-kill line (mm/oom_kill.c __oom_kill_process), which node-problem-detector's kernel monitor
    matches with "Killed process \\d+ (.+) total-vm:\\d+kB, anon-rss:\\d+kB, file-rss:\\d+kB.*" and reports
    whole as the OOMKilling event's message. The PID is the host's, not the container's 1."""
    rss_kb = int(process.memory_bytes / 1024)
    return (f"{cause}: Killed process {_host_pid(pod, process)} (python3) total-vm:{int(rss_kb * 1.6)}kB, "
            f"anon-rss:{rss_kb}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:{rss_kb // 512}kB "
            f"oom_score_adj:{adj}")


def _host_pid(pod: Obj, process: Process) -> int:
    """A stable host PID for one container incarnation (Linux's pid_max is 4194304 on 64-bit hosts)."""
    return 100_000 + zlib.crc32(f"{pod['metadata'].get('uid', '')}/{process.started_at}".encode()) % 4_000_000


def workload_for(pod: Obj, world: World, fleet: FleetSpec) -> Workload:
    labels = pod["metadata"].get("labels", {})
    model = next((m for m in fleet.models if m.name == labels.get("app")), None)
    if model and labels.get("app.kubernetes.io/name") == "vllm":
        return VllmServer(world, model)
    app = labels.get("app", pod["metadata"]["name"])
    if app == "nvidia-device-plugin":
        return SimpleService(app, logtext.device_plugin_startup(8))
    if app == "nvidia-dcgm-exporter":
        return SimpleService(app, logtext.dcgm_exporter_startup())
    return SimpleService(app, logtext.service_startup(app))
