"""The five servers compose into one without name clashes, every tool says whether it writes, and
`--read-only` leaves nothing that can change the fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastmcp import Client
from jsonschema import Draft202012Validator

from mcp_servers.compose import SERVERS, build
from mcp_servers.settings import Settings
from mcp_servers.toolkit import compact_types

pytestmark = pytest.mark.anyio

OFFLINE = Settings(kubeconfig="/nonexistent/kubeconfig")  # building a server must not touch the fleet


async def _tools(name: str, settings: Settings = OFFLINE) -> list:
    async with Client(build(name, settings)) as client:
        return await client.list_tools()


async def test_all_is_the_union_of_the_five_servers_with_unique_names() -> None:
    per_server = {name: [tool.name for tool in await _tools(name)] for name in SERVERS}
    names = [name for tools in per_server.values() for name in tools]
    assert len(names) == len(set(names)), "a tool name is used by two servers"
    assert sorted(tool.name for tool in await _tools("all")) == sorted(names)
    assert all(len(tools) >= 3 for tools in per_server.values()), per_server


async def test_every_tool_is_annotated_read_only_or_as_a_write() -> None:
    for tool in await _tools("all"):
        hints = tool.annotations
        assert hints is not None, tool.name
        if hints.read_only_hint:
            assert hints.destructive_hint is False, tool.name
        else:
            assert hints.destructive_hint is not None and hints.idempotent_hint is not None, tool.name


async def test_read_only_removes_every_write_tool_and_refuses_calls_to_them() -> None:
    writes = {tool.name for tool in await _tools("all") if not tool.annotations.read_only_hint}
    assert {"scale_deployment", "cordon_node", "set_route_weights"} <= writes
    read_only = Settings(kubeconfig="/nonexistent/kubeconfig", read_only=True)
    async with Client(build("all", read_only)) as client:
        remaining = {tool.name for tool in await client.list_tools()}
        assert not remaining & writes
        refused = await client.call_tool("cordon_node", {"node": "gpu-node-1", "reason": "test",
                                                         "idempotency_key": "k1"}, raise_on_error=False)
    assert refused.is_error


def test_a_union_of_plain_types_is_written_as_one_type_list_meaning_the_same() -> None:
    schema = {"type": "object", "properties": {
        "value": {"anyOf": [{"type": "number"}, {"type": "string"}], "description": "a number or NaN"},
        "node": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "window": {"anyOf": [{"type": "string", "pattern": "^[0-9]+m$"}, {"type": "null"}]},
        "twice": {"anyOf": [{"type": "integer"}, {"type": "integer"}]},
        "shape": {"const": {"anyOf": [{"type": "string"}]}}}}

    compacted = compact_types(schema)

    assert compacted["properties"]["value"] == {"type": ["number", "string"], "description": "a number or NaN"}
    assert compacted["properties"]["node"] == {"type": ["string", "null"], "default": None}
    assert compacted["properties"]["window"] == schema["properties"]["window"], "a branch with a constraint stays"
    assert compacted["properties"]["twice"] == {"type": ["integer"]}
    assert compacted["properties"]["shape"] == schema["properties"]["shape"], "a const is data, not a schema"
    instances = [{"value": 1.5, "node": None}, {"value": "NaN", "node": "gpu-node-1"}, {"value": None},
                 {"value": True}, {"node": 3}, {"window": "5m"}, {"window": "5s"}, {"window": None}, {"twice": 2},
                 {"twice": 2.5}, {"shape": {"anyOf": [{"type": "string"}]}}, {"shape": {"type": ["string"]}}]
    assert [Draft202012Validator(compacted).is_valid(i) for i in instances] == \
        [Draft202012Validator(schema).is_valid(i) for i in instances]


async def test_every_output_schema_writes_its_unions_of_plain_types_as_type_lists() -> None:
    def plain_unions(node: object) -> int:
        if isinstance(node, list):
            return sum(plain_unions(item) for item in node)
        if not isinstance(node, dict):
            return 0
        own = isinstance(node.get("anyOf"), list) and all(
            isinstance(b, dict) and b.keys() == {"type"} for b in node["anyOf"])
        return own + sum(plain_unions(value) for value in node.values())

    schemas = {tool.name: tool.output_schema for tool in await _tools("all")}
    assert all(schemas.values()), "every tool answers with structured content"
    assert '"type": ["string", "null"]' in json.dumps(schemas["query"]), "query's optional metric name"
    assert {name: plain_unions(schema) for name, schema in schemas.items() if plain_unions(schema)} == {}


def test_unknown_server_names_the_choices() -> None:
    with pytest.raises(ValueError, match="prometheus, kubernetes, gpu, logs, gateway or all"):
        build("grafana", OFFLINE)


def test_settings_come_from_the_environment_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("namespace: serving\nprometheus: {url: 'http://prom:9090'}\nmax_replicas: 8\n")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    env = {"PROMETHEUS_URL": "https://prom.internal", "PROMETHEUS_BEARER_TOKEN_FILE": str(token_file),
           "ALERTMANAGER_URL": "http://am:9093", "ALERTMANAGER_USERNAME": "ops", "ALERTMANAGER_PASSWORD": "pw",
           "FIREBREAK_MCP_READ_ONLY": "true"}
    settings = Settings.load(env=env, config_file=config)
    assert settings.namespace == "serving" and settings.max_replicas == 8 and settings.read_only
    assert settings.prometheus is not None and settings.prometheus.base == "https://prom.internal"
    assert settings.prometheus.headers() == {"Authorization": "Bearer s3cret", "Accept-Encoding": "identity"}
    assert settings.alertmanager is not None and settings.alertmanager.auth() == ("ops", "pw")
    assert "s3cret" not in repr(settings) and "pw'" not in repr(settings)


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        Settings.load(env={}, config_file=config)
