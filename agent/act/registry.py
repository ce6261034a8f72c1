"""Every action kind the agent may decide, in one registry: the MCP write tool that carries it out, how its
arguments come from the decision, the action that undoes it, and the facts the policy reads about its
target first. A new action kind is one row here (with its Rego rules, a runbook step and a write tool).

Targets are KIND/NAME as the policy reads them; a gateway failover names the backend it moves traffic away
from (`provider/self-hosted`, `provider/openai`) with the model and destination in params. `escalate` has
no write tool: paging people is the notifier's job, recorded as an action like any other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.policy import facts
from agent.policy.input import FleetFacts
from agent.tools import ToolClient
from agent.vocabulary import ActionKind, is_action_kind

Params = dict[str, Any]
Undo = tuple[ActionKind, str, Params]  # the undoing action's kind, target and params
FactsReader = Callable[[ToolClient, ActionKind, str, str], Awaitable[FleetFacts]]  # (tools, kind, name, namespace)


class UnknownAction(ValueError):
    pass


@dataclass(frozen=True)
class ActionSpec:
    tool: str | None  # the MCP write tool; None for escalate
    arguments: Callable[[str, Params], Params]  # the tool's own arguments from the target's name and the params
    namespaced: bool = False  # the tool acts in the decision's namespace
    undo: Callable[[str, Params, Params], Undo | None] | None = None  # (target, params, state before) -> undo
    facts: FactsReader | None = None


def _scale_back(target: str, params: Params, before: Params) -> Undo | None:
    if before.get("replicas") is None:
        return None
    return "scale_deployment", target, {**_namespace(params), "replicas": int(before["replicas"])}


def _roll_forward(target: str, params: Params, before: Params) -> Undo | None:
    if not before.get("revision"):
        return None
    return "rollback_deployment", target, {**_namespace(params), "to_revision": int(before["revision"])}


def _fail_back(target: str, params: Params, before: Params) -> Undo | None:
    return "failover_provider", f"provider/{params['to']}", {"model": params["model"], "to": _target_name(target)}


def _weights_back(target: str, params: Params, before: Params) -> Undo | None:
    weights = before.get(_target_name(target))
    return ("set_route_weights", target, {"weights": weights}) if isinstance(weights, dict) else None


# Not undone: a deleted pod or a drain cannot be, and a cordon is not either: uncordoning is not among the
# agent's action kinds, and a node suspect enough to cordon waits for a person's look before it takes pods again.
ACTIONS: Mapping[ActionKind, ActionSpec] = {
    "scale_deployment": ActionSpec("scale_deployment", lambda name, p: {"deployment": name,
                                                                        "replicas": int(p["replicas"])},
                                   namespaced=True, undo=_scale_back, facts=facts.deployment_facts),
    "restart_deployment": ActionSpec("restart_deployment", lambda name, p: {"deployment": name}, namespaced=True,
                                     facts=facts.deployment_facts),
    "rollback_deployment": ActionSpec("rollback_deployment", lambda name, p: {
        "deployment": name, **({"to_revision": int(p["to_revision"])} if p.get("to_revision") else {})},
        namespaced=True, undo=_roll_forward, facts=facts.deployment_facts),
    "delete_pod": ActionSpec("delete_pod", lambda name, p: {"pod": name}, namespaced=True, facts=facts.pod_facts),
    "cordon_node": ActionSpec("cordon_node", lambda name, p: {"node": name}),
    "drain_node": ActionSpec("drain_node", lambda name, p: {"node": name}, facts=facts.drain_facts),
    "failover_provider": ActionSpec("failover_provider", lambda name, p: {
        "model": p["model"], "from_backend": name, "to_backend": p["to"]}, undo=_fail_back),
    "set_route_weights": ActionSpec("set_route_weights", lambda name, p: {"model": name,
                                                                          "weights": dict(p["weights"])},
                                    undo=_weights_back, facts=facts.route_facts),
    "escalate": ActionSpec(None, lambda name, p: {}),
}


def tool_call(kind: str, target: str, params: Params, key: str, reason: str) -> tuple[str, Params]:
    """The write tool and its arguments that carry out a decided action under its idempotency key."""
    spec = _spec(kind)
    if spec.tool is None:
        raise UnknownAction(f"no MCP tool carries out {kind!r}")
    scope = _namespace(params) if spec.namespaced else {}
    arguments = spec.arguments(_target_name(target), params)
    return spec.tool, {"reason": reason, "idempotency_key": key, **scope, **arguments}


def revert_of(kind: str, target: str, params: Params, result: Params) -> Undo | None:
    """The action that undoes a carried-out one, from the state its write tool reported before changing it;
    None when the action cannot be undone or the state before is unknown."""
    spec = _spec(kind)
    return spec.undo(target, params, result.get("before") or {}) if spec.undo else None


async def facts_for_policy(tools: ToolClient, kind: ActionKind, target: str, namespace: str) -> FleetFacts:
    """What the policy reads about an action's target, through the tools, just before it decides."""
    reader = _spec(kind).facts
    return await reader(tools, kind, _target_name(target), namespace) if reader else FleetFacts()


def _spec(kind: str) -> ActionSpec:
    if not is_action_kind(kind):
        raise UnknownAction(f"{kind!r} is not an action kind")
    return ACTIONS[kind]


def _target_name(target: str) -> str:
    return target.partition("/")[2]


def _namespace(params: Params) -> Params:
    return {"namespace": params["namespace"]} if params.get("namespace") else {}
