"""The physical side of the fleet that no Kubernetes object holds: GPUs, hosts, processes, providers, traffic.

Faults change this state; the controllers, the serving model and the exporters turn it into evidence.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sandbox.fleet import PROVIDERS, FleetSpec

GIB = 1024**3


@dataclass
class Gpu:
    node: str
    index: int
    uuid: str
    pci_bus_id: str
    model_name: str
    pod: str | None = None  # "namespace/name" of the pod the device plugin allocated it to
    xid: int = 0  # the last Xid the driver raised (what NVML events, so the device plugin, see)
    dcgm_xid: int = 0  # the last Xid DCGM learned of: its sticky XID_ERRORS gauge
    lost: bool = False  # hardware failure: no process can use it until the node is serviced
    off_bus: bool = False  # fell off the bus (Xid 79): NVML cannot reach it, so DCGM reads nothing from it
    transient_fault: bool = False  # a one-off error that kills the process using it
    plugin_unhealthy: bool = False  # the device plugin marked it unhealthy: the kubelet no longer counts or gives it
    ecc_dbe_total: int = 0
    thermal_slowdown: bool = False
    thermal_slowdown_s: float = 0.0  # wall seconds spent in thermal slowdown
    stray_utilisation: float = 0.0  # load from a process outside Kubernetes


@dataclass
class Host:
    name: str
    gpus: list[Gpu]
    memory_bytes: float
    reachable: bool = True  # False: kubelet and pods stop answering (the node went dark)
    system_memory_bytes: float = 24 * GIB  # used by everything that is not a pod
    system_memory_growth: float = 0.0  # bytes per fleet second, from a runaway host process


@dataclass
class Process:
    """The main process of one container incarnation; it dies with the container."""

    node: str
    started_at: float  # wall seconds
    ready_at: float  # wall seconds when the model is loaded and /health answers
    memory_bytes: float
    leak_bytes_per_s: float = 0.0  # fleet seconds
    hung: bool = False
    backlog: float = 0.0  # queued requests
    running: float = 0.0  # requests in the running batch
    kv_usage: float = 0.0
    served_last_tick: float = 0.0
    killed: bool = False  # ended by a crash or the OOM killer, not a graceful stop: its requests are cut off


@dataclass
class Provider:
    name: str
    error_share: float = 0.0  # share of requests failing with 5xx or connection errors
    rate_limited_share: float = 0.0  # share answered 429
    ttft_s: float = 0.45


@dataclass
class World:
    hosts: dict[str, Host]
    providers: dict[str, Provider]
    dependency_latency_s: dict[str, float]
    traffic_multiplier: dict[str, float]
    broken_images: dict[str, float] = field(default_factory=dict)  # image -> share of requests it fails
    crashing_request_models: set[str] = field(default_factory=set)  # a client keeps sending an engine-killing request
    processes: dict[str, Process] = field(default_factory=dict)  # "namespace/pod" -> running process

    def gpu(self, node: str, index: int) -> Gpu:
        try:
            return self.hosts[node].gpus[index]
        except (KeyError, IndexError):
            raise ValueError(f"no GPU {index} on node {node}") from None

    def gpus_of(self, pod_key: str) -> list[Gpu]:
        return [g for h in self.hosts.values() for g in h.gpus if g.pod == pod_key]


def build_world(fleet: FleetSpec, rng: random.Random) -> World:
    hosts = {}
    for node in fleet.nodes:
        gpus = [Gpu(node=node.name, index=i, uuid=_gpu_uuid(rng), pci_bus_id=f"00000000:{0x18 + 0x10 * i:02X}:00.0",
                    model_name=node.gpu_model) for i in range(node.gpus)]
        hosts[node.name] = Host(name=node.name, gpus=gpus, memory_bytes=node.memory_gib * GIB)
    return World(hosts=hosts, providers={p: Provider(p) for p in PROVIDERS},
                 dependency_latency_s={d: 0.004 for d in fleet.dependencies},
                 traffic_multiplier={m.name: 1.0 for m in fleet.models})


def _gpu_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
