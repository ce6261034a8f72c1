"""The five servers compose into one without name clashes, every tool says whether it writes, and
`--read-only` leaves nothing that can change the fleet."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastmcp import Client

from mcp_servers.compose import SERVERS, build
from mcp_servers.settings import Settings

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
    assert settings.prometheus.headers() == {"Authorization": "Bearer s3cret"}
    assert settings.alertmanager is not None and settings.alertmanager.auth() == ("ops", "pw")
    assert "s3cret" not in repr(settings) and "pw'" not in repr(settings)


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        Settings.load(env={}, config_file=config)
