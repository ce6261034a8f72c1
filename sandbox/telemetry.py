"""The fleet's scrape endpoints and their HTTP service discovery, on one port.

Prometheus learns the targets from `/sd` (http_sd) as pods come and go: one vLLM target per model pod, one
gateway target per gateway pod, one per pod of the shared services, and per node a dcgm-exporter, a
node-exporter and a kubelet cAdvisor target.
A pod whose process is down answers 503, so Prometheus sees it down, as it would see a crashed container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox import exporters
from sandbox.gateway import GATEWAY_APP
from sandbox.names import pod_key
from sandbox.workloads import memory_limit

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


def telemetry_app(sandbox: Sandbox, address: str) -> Starlette:
    """`address` is host:port of this app, as Prometheus should reach it."""

    async def service_discovery(request: Request) -> Response:
        return JSONResponse(targets(sandbox, address))

    async def pod_metrics(request: Request) -> Response:
        key = f"{request.path_params['namespace']}/{request.path_params['pod']}"
        process = sandbox.world.processes.get(key)
        if process is None or sandbox.clock.now() < process.ready_at or not sandbox.world.hosts[process.node].reachable:
            return PlainTextResponse("upstream connect error or disconnect/reset before headers\n", status_code=503)
        replica = sandbox.gateway.replica(key)
        if replica is not None:
            return PlainTextResponse(replica.registry.render(), media_type=EXPOSITION)
        server = sandbox.gateway.gateway_replicas.get(key) or sandbox.gateway.dependency_server(key)
        if server is not None:
            return PlainTextResponse(server.registry.render(), media_type=EXPOSITION)
        return PlainTextResponse("not found\n", status_code=404)

    async def node_metrics(request: Request) -> Response:
        host = sandbox.world.hosts.get(request.path_params["node"])
        if host is None:
            return PlainTextResponse("no such node\n", status_code=404)
        if not host.reachable:
            return PlainTextResponse("context deadline exceeded\n", status_code=504)
        exporter = request.path_params["exporter"]
        if exporter == "dcgm":
            page = exporters.dcgm(host, _gpu_busy(sandbox), _containers(sandbox), sandbox.fleet.dcgm_extra_counters)
        elif exporter == "node":
            page = exporters.node_exporter(host, sandbox.world)
        else:
            page = exporters.cadvisor(host, sandbox.world, _containers(sandbox), _limits(sandbox))
        return PlainTextResponse(page, media_type=EXPOSITION)

    return Starlette(routes=[
        Route("/sd", service_discovery),
        Route("/metrics/pods/{namespace}/{pod}", pod_metrics),
        Route("/metrics/nodes/{node}/{exporter:str}", node_metrics),
    ])


def targets(sandbox: Sandbox, address: str) -> list[dict[str, Any]]:
    groups = []
    for pod in sandbox.store.objects("pods"):
        app = pod["metadata"].get("labels", {}).get("app", "")
        node = pod["spec"].get("nodeName")
        # A terminal pod (an evicted one keeps its IP) is no target: its Endpoints address is gone, and pod-role
        # discovery configs drop phases Succeeded and Failed.
        if not node or not pod["status"].get("podIP") or pod["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        if app in {m.name for m in sandbox.fleet.models} or app == GATEWAY_APP:
            groups.append({"targets": [address], "labels": {
                "__metrics_path__": f"/metrics/pods/{pod_key(pod)}", "job": "vllm" if app != GATEWAY_APP else app,
                "namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"], "app": app, "node": node,
                "instance": f"{pod['status']['podIP']}:{8000 if app != GATEWAY_APP else 8080}"}})
        elif app in sandbox.fleet.dependencies:  # the shared services' own HTTP server metrics
            groups.append({"targets": [address], "labels": {
                "__metrics_path__": f"/metrics/pods/{pod_key(pod)}", "job": app,
                "namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"], "app": app, "node": node,
                "instance": f"{pod['status']['podIP']}:8080"}})
    for name in sandbox.world.hosts:
        for exporter, job, port in (("dcgm", "dcgm-exporter", 9400), ("node", "node-exporter", 9100),
                                    ("cadvisor", "kubelet-cadvisor", 10250)):
            groups.append({"targets": [address], "labels": {
                "__metrics_path__": f"/metrics/nodes/{name}/{exporter}", "job": job, "node": name,
                "instance": f"{name}:{port}"}})
    return groups


def _gpu_busy(sandbox: Sandbox) -> dict[str, float]:
    """How busy each pod keeps its GPUs, as DCGM_FI_DEV_GPU_UTIL counts it: the share of time some kernel runs.
    An engine with requests in its batch steps without pause, so near all of it; a wedged collective spins."""
    busy = {}
    for key, process in sandbox.world.processes.items():
        busy[key] = 1.0 if process.hung else (min(0.99, 0.86 + 0.01 * process.running) if process.running >= 1
                                              else 0.02)
    return busy


def _containers(sandbox: Sandbox) -> dict[str, str]:
    return {key: c.name for key, c in sandbox.kubelets.containers.items()}


def _limits(sandbox: Sandbox) -> dict[str, float]:
    return {pod_key(p): memory_limit(p) for p in sandbox.store.objects("pods")}
