"""The metrics pages Prometheus scrapes: dcgm-exporter (rendered by `dcgm_page`), node-exporter and cAdvisor per
node, vLLM per pod, the gateway per gateway pod. Readings derive from the world's state at scrape time."""

from __future__ import annotations

from sandbox import dcgm_page
from sandbox.exposition import Registry
from sandbox.world import Host, World


def dcgm(host: Host, utilisation: dict[str, float], containers: dict[str, str], extras: bool = False) -> str:
    """dcgm-exporter's page for one node. `utilisation` is per pod key; `containers` maps pod key -> container;
    `extras`: the operator also enabled the counters default-counters.csv ships commented out."""
    return dcgm_page.render(host.gpus, utilisation, containers, extras)


def node_exporter(host: Host, world: World) -> str:
    """node-exporter's memory view plus cAdvisor's per-container working set, for one node."""
    r = Registry()
    used = host.system_memory_bytes + sum(p.memory_bytes for p in world.processes.values() if p.node == host.name)
    r.gauge("node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.").set(host.memory_bytes)
    r.gauge("node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes.").set(
        max(0.0, host.memory_bytes - used))
    return r.render()


def cadvisor(host: Host, world: World, containers: dict[str, str], limits: dict[str, float]) -> str:
    r = Registry()
    working_set = r.gauge("container_memory_working_set_bytes", "Current working set of the container in bytes")
    limit = r.gauge("container_spec_memory_limit_bytes", "Memory limit for the container.")
    for key, process in world.processes.items():
        if process.node == host.name and key in containers:
            namespace, pod = key.split("/")
            labels = {"namespace": namespace, "pod": pod, "container": containers[key]}
            working_set.set(round(process.memory_bytes), **labels)
            limit.set(limits.get(key, 0.0), **labels)
    return r.render()

