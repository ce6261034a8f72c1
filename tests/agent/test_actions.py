"""The action registry and the idempotency keys: every action kind has one row, every row's write tool is a
tool the servers really offer and takes exactly the arguments the registry gives it, and keys read back as
they were made."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastmcp import Client

from agent.act.idempotency import escalation_key, step_key, step_of, undo_key
from agent.act.registry import ACTIONS, revert_of, tool_call
from agent.vocabulary import ActionKind
from mcp_servers.catalog import OFFLINE
from mcp_servers.compose import build

pytestmark = pytest.mark.anyio

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {  # a target and params per kind, as runbooks plan them
    "scale_deployment": ("deployment/qwen-7b", {"namespace": "inference", "replicas": 4}),
    "restart_deployment": ("deployment/qwen-7b", {"namespace": "inference"}),
    "rollback_deployment": ("deployment/qwen-7b", {"namespace": "inference", "to_revision": 3}),
    "delete_pod": ("pod/qwen-7b-abc-1", {"namespace": "inference"}),
    "cordon_node": ("node/gpu-node-2", {}),
    "drain_node": ("node/gpu-node-2", {}),
    "failover_provider": ("provider/self-hosted", {"model": "qwen-7b", "to": "openai"}),
    "set_route_weights": ("model/qwen-7b", {"weights": {"self-hosted": 50, "openai": 50}}),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_every_action_kind_has_one_row() -> None:
    assert set(ACTIONS) == set(get_args(ActionKind))
    assert set(EXAMPLES) == {kind for kind, spec in ACTIONS.items() if spec.tool}


async def test_every_write_tool_exists_and_takes_exactly_what_the_registry_gives_it() -> None:
    async with Client(build("all", OFFLINE)) as client:
        schemas = {tool.name: tool.input_schema for tool in await client.list_tools()}
    for kind, (target, params) in EXAMPLES.items():
        tool, args = tool_call(kind, target, params, step_key("INC-0001", 0, 0), "why")
        assert tool in schemas, kind
        properties, required = schemas[tool]["properties"], set(schemas[tool].get("required", []))
        assert set(args) <= set(properties), (kind, set(args) - set(properties))
        assert required <= set(args), (kind, required - set(args))


def test_what_can_be_undone_is_undone_from_the_state_before() -> None:
    assert revert_of("scale_deployment", "deployment/qwen-7b", {"namespace": "inference", "replicas": 6},
                     {"before": {"replicas": 3}}) == ("scale_deployment", "deployment/qwen-7b",
                                                      {"namespace": "inference", "replicas": 3})
    assert revert_of("failover_provider", "provider/self-hosted", {"model": "qwen-7b", "to": "openai"}, {}) == (
        "failover_provider", "provider/openai", {"model": "qwen-7b", "to": "self-hosted"})
    assert revert_of("scale_deployment", "deployment/qwen-7b", {"replicas": 6}, {}) is None  # before unknown
    for kind in ("delete_pod", "drain_node", "cordon_node", "restart_deployment", "escalate"):
        assert revert_of(kind, "x/y", {}, {"before": {"replicas": 1}}) is None, kind


def test_keys_read_back_as_they_were_made() -> None:
    key = step_key("INC-0007", 1, 12)
    assert key == "INC-0007/h1/s12"
    assert step_of(key, "INC-0007", 1) == 12
    assert step_of(key, "INC-0007", 0) is None and step_of(key, "INC-0070", 1) is None
    assert step_of(undo_key(key), "INC-0007", 1) is None
    assert step_of(escalation_key("INC-0007"), "INC-0007", 1) is None
