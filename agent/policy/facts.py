"""What the policy gate needs to know about an action's target, read through the MCP tools just before the
decision: replicas and readiness of the deployments it disrupts, and the routes it would change. Each reader
takes (tools, action kind, target name, namespace); the action registry (`agent.act.registry`) says which reads
which kind."""

from __future__ import annotations

from typing import Any

from agent.policy.input import FleetFacts, PodDisruption
from agent.tools import ToolClient

ROLLOUTS = ("restart_deployment", "rollback_deployment")  # they replace pods as the deployment's strategy says


async def _describe(tools: ToolClient, name: str, namespace: str) -> dict[str, Any] | None:
    result = await tools.call("describe_deployment", {"name": name, "namespace": namespace})
    return result.data if result.ok else None


async def _deployment(tools: ToolClient, name: str, namespace: str) -> dict[str, Any] | None:
    detail = await _describe(tools, name, namespace)
    return detail["deployment"] if detail else None


async def deployment_facts(tools: ToolClient, action: str, name: str, namespace: str) -> FleetFacts:
    detail = await _describe(tools, name, namespace)
    if detail is None:
        return FleetFacts()
    row = detail["deployment"]
    # A rollout surges new pods first and takes down at most maxUnavailable of the pods it replaces at a time.
    disrupted = 0
    if action in ROLLOUTS:
        replaced = row["ready"] if action == "restart_deployment" else await _ready_in_current_revision(
            tools, name, namespace, row["ready"])
        disrupted = min(detail.get("max_unavailable") or 0, replaced)
    return FleetFacts(replicas=row["desired"], disruptions=[PodDisruption(
        deployment=name, replicas=row["desired"], ready=row["ready"], disrupted=disrupted)])


async def _ready_in_current_revision(tools: ToolClient, name: str, namespace: str, unknown: int) -> int:
    """The serving pods a rollback replaces: the current revision's (the earlier revision's own pods stay and
    grow). When the history cannot be read, every ready pod, as if all were the current revision's."""
    result = await tools.call("rollout_history", {"deployment": name, "namespace": namespace})
    if not result.ok:
        return unknown
    return next((int(r["ready"]) for r in result.data.get("revisions", []) if r.get("current")), unknown)


async def pod_facts(tools: ToolClient, action: str, pod: str, namespace: str) -> FleetFacts:
    detail = await tools.call("describe_pod", {"name": pod, "namespace": namespace})
    owner = _deployment_of(detail.data.get("owner") or "", pod) if detail.ok else None
    row = await _deployment(tools, owner, namespace) if owner else None
    if not owner or row is None:
        return FleetFacts()
    serving = _ready(detail.data.get("ready", ""))  # deleting a pod that serves nothing disrupts nothing
    return FleetFacts(disruptions=[PodDisruption(deployment=owner, replicas=row["desired"], ready=row["ready"],
                                                 disrupted=1 if serving else 0)])


def _ready(ready: str) -> bool:
    """kubectl's READY column, "1/1": every container ready."""
    done, _, total = ready.partition("/")
    return bool(total) and done == total and total != "0"


def _deployment_of(owner: str, pod: str) -> str | None:
    """A pod's deployment from its owner (Deployment/x, or ReplicaSet/x-<hash> as Kubernetes names them)."""
    kind, _, name = owner.partition("/")
    if kind == "Deployment":
        return name
    if kind == "ReplicaSet" and "-" in name:
        return name.rsplit("-", 1)[0]
    return pod.rsplit("-", 2)[0] if pod.count("-") >= 2 else None


async def drain_facts(tools: ToolClient, action: str, node: str, namespace: str) -> FleetFacts:
    pods = await tools.call("list_pods", {"node": node, "limit": 200})
    if not pods.ok:
        return FleetFacts()
    on_node: dict[tuple[str, str], int] = {}
    for pod in pods.data["pods"]["items"]:
        deployment = _deployment_of("", pod["name"])
        if deployment:
            key = (pod["namespace"], deployment)
            on_node[key] = on_node.get(key, 0) + 1
    disruptions = []
    for (namespace, deployment), count in sorted(on_node.items()):
        row = await _deployment(tools, deployment, namespace)
        if row is not None:
            disruptions.append(PodDisruption(deployment=deployment, replicas=row["desired"], ready=row["ready"],
                                             disrupted=count))
    return FleetFacts(disruptions=disruptions)


async def route_facts(tools: ToolClient, action: str, model: str, namespace: str) -> FleetFacts:
    routes = await tools.call("gateway_routes", {})
    for route in routes.data.get("models", []) if routes.ok else []:
        if route["model"] == model:
            return FleetFacts(route_weights=route["weights"])
    return FleetFacts()
