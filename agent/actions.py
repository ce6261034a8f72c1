"""From a decided action (kind, target, params) to the MCP write tool that carries it out.

`escalate` has no tool: paging a person is the service's job (Slack, the incident's status), recorded as an
action like any other. Targets are KIND/NAME as the policy reads them; a gateway failover names the backend
it moves traffic away from (`provider/self-hosted`, `provider/openai`) with the model and destination in params.
"""

from __future__ import annotations

from typing import Any


class UnknownAction(ValueError):
    pass


def tool_call(kind: str, target: str, params: dict[str, Any], key: str, reason: str) -> tuple[str, dict[str, Any]]:
    _, _, name = target.partition("/")
    namespace = params.get("namespace")
    common: dict[str, Any] = {"reason": reason, "idempotency_key": key}
    scoped = {**common, **({"namespace": namespace} if namespace else {})}
    if kind == "scale_deployment":
        return kind, {**scoped, "deployment": name, "replicas": int(params["replicas"])}
    if kind == "restart_deployment":
        return kind, {**scoped, "deployment": name}
    if kind == "rollback_deployment":
        revision = params.get("to_revision")
        return kind, {**scoped, "deployment": name, **({"to_revision": int(revision)} if revision else {})}
    if kind == "delete_pod":
        return kind, {**scoped, "pod": name}
    if kind in ("cordon_node", "drain_node"):
        return kind, {**common, "node": name}
    if kind == "failover_provider":
        return kind, {**common, "model": params["model"], "from_backend": name, "to_backend": params["to"]}
    if kind == "set_route_weights":
        return kind, {**common, "model": name, "weights": dict(params["weights"])}
    raise UnknownAction(f"no MCP tool carries out {kind!r}")


def revert_of(kind: str, target: str, params: dict[str, Any],
              result: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """The action that undoes a carried-out one, from the state its write tool reported before changing it;
    None when the action cannot be undone (a deleted pod, a drain) or the state before is unknown. A cordon is
    not undone either: uncordoning is not among the agent's action kinds, and a node that
    was suspect enough to cordon waits for a person's look before it takes pods again."""
    before = result.get("before") or {}
    name = target.partition("/")[2]
    namespace = {"namespace": params["namespace"]} if params.get("namespace") else {}
    if kind == "failover_provider":
        return kind, f"provider/{params['to']}", {"model": params["model"], "to": name}
    if kind == "scale_deployment" and before.get("replicas") is not None:
        return kind, target, {**namespace, "replicas": int(before["replicas"])}
    if kind == "rollback_deployment" and before.get("revision"):
        return kind, target, {**namespace, "to_revision": int(before["revision"])}
    if kind == "set_route_weights" and isinstance(before.get(name), dict):
        return kind, target, {"weights": before[name]}
    return None
