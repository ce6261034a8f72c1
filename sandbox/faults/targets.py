"""Resolving a fault's target keys (deployment, replica, node, gpu, provider, dependency) to fleet objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.fleet import ModelSpec
from sandbox.names import pod_key
from sandbox.world import Gpu, Host, Process, Provider

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def model(sandbox: Sandbox, target: dict[str, Any]) -> ModelSpec:
    name = target.get("deployment") or target.get("model")
    for spec in sandbox.fleet.models:
        if spec.name == name:
            return spec
    raise ValueError(f"target deployment {name!r} is not a model deployment of this fleet")


def live_pods(sandbox: Sandbox, deployment: str) -> list[dict[str, Any]]:
    """The deployment's pods in creation order, as `replica` indexes them."""
    return [p for p in sandbox.store.objects("pods", sandbox.fleet.namespace)
            if p["metadata"].get("labels", {}).get("app") == deployment and "deletionTimestamp" not in p["metadata"]]


def replica_process(sandbox: Sandbox, target: dict[str, Any]) -> tuple[str, Process]:
    name = model(sandbox, target).name
    pods = live_pods(sandbox, name)
    index = int(target.get("replica", 0))
    if not 0 <= index < len(pods):
        raise ValueError(f"{name} has {len(pods)} pods; replica {index} does not exist")
    key = pod_key(pods[index])
    if key not in sandbox.world.processes:
        raise ValueError(f"pod {key} has no running process")
    return key, sandbox.world.processes[key]


def host(sandbox: Sandbox, target: dict[str, Any]) -> Host:
    name = target.get("node")
    if name not in sandbox.world.hosts:
        raise ValueError(f"target node {name!r} is not in this fleet")
    return sandbox.world.hosts[name]


def gpu(sandbox: Sandbox, target: dict[str, Any]) -> Gpu:
    """`{node, gpu}`, or `{deployment, replica}` for the first GPU under that pod wherever it runs now (after a
    rollout the scheduler, not the scenario, decides where new pods land)."""
    if "node" not in target and ("deployment" in target or "model" in target):
        name = model(sandbox, target).name
        pods = live_pods(sandbox, name)
        index = int(target.get("replica", 0))
        if not 0 <= index < len(pods):
            raise ValueError(f"{name} has {len(pods)} pods; replica {index} does not exist")
        under = sandbox.world.gpus_of(pod_key(pods[index]))
        if not under:
            raise ValueError(f"pod {pod_key(pods[index])} holds no GPU")
        return under[0]
    return sandbox.world.gpu(host(sandbox, target).name, int(target.get("gpu", 0)))


def provider(sandbox: Sandbox, target: dict[str, Any]) -> Provider:
    name = target.get("provider")
    if name not in sandbox.world.providers:
        raise ValueError(f"target provider {name!r} is unknown; known: {', '.join(sandbox.world.providers)}")
    return sandbox.world.providers[name]


def dependency(sandbox: Sandbox, target: dict[str, Any]) -> str:
    name = target.get("dependency")
    if name not in sandbox.world.dependency_latency_s:
        known = ", ".join(sandbox.world.dependency_latency_s)
        raise ValueError(f"target dependency {name!r} is unknown; known: {known}")
    return str(name)
