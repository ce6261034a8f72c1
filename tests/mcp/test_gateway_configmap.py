"""The routes ConfigMap's failures, without a cluster: the Kubernetes client's typed errors come through, a
409 on the write is the conflict the write loop retries on, and a socket error is `unreachable`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mcp_servers.errors import BackendError
from mcp_servers.gateway.adapters import ConfigMapRoutes, RoutesConflict
from mcp_servers.kubernetes.client import Kube
from mcp_servers.settings import Settings

ROUTES = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "gateway-routes", "namespace": "inference", "resourceVersion": "7"},
          "data": {"config.yaml": yaml.safe_dump({"model_list": [  # LiteLLM proxy config
              {"model_name": "qwen-7b", "litellm_params": {"model": "hosted_vllm/qwen-7b", "weight": 95}},
              {"model_name": "qwen-7b", "litellm_params": {"model": "openai/gpt-4o-mini", "weight": 5}}]})}}


class Answer:
    """The raw urllib3 response the client returns with `_preload_content=False`."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


@pytest.fixture
def routes(tmp_path: Path) -> ConfigMapRoutes:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}))
    return ConfigMapRoutes(Kube(Settings(kubeconfig=str(kubeconfig))), "inference", "gateway-routes")


def answering(monkeypatch: pytest.MonkeyPatch, method: str, outcome: Any) -> None:
    def request(self: client.CoreV1Api, *args: Any, **kwargs: Any) -> Answer:
        if isinstance(outcome, BaseException):
            raise outcome
        return Answer(outcome)
    request.__name__ = method  # the client tells writes by their method's name
    monkeypatch.setattr(client.CoreV1Api, method, request)


def test_the_table_is_read_from_the_configmaps_key(routes: ConfigMapRoutes,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, "read_namespaced_config_map", ROUTES)
    table = routes.read_routes()
    assert table.models == {"qwen-7b": {"self-hosted": 95, "openai": 5}} and table.version == "7"


def test_a_socket_error_reading_the_routes_is_unreachable(routes: ConfigMapRoutes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, "read_namespaced_config_map", ConnectionResetError("connection reset by peer"))
    with pytest.raises(BackendError) as raised:
        routes.read_routes()
    assert raised.value.kind == "unreachable" and "connection reset by peer" in str(raised.value)


def test_a_missing_configmap_says_which_settings_name_it(routes: ConfigMapRoutes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, "read_namespaced_config_map", ApiException(status=404, reason="Not Found"))
    with pytest.raises(BackendError) as raised:
        routes.read_routes()
    assert raised.value.kind == "not_found"
    assert str(raised.value) == ("ConfigMap inference/gateway-routes not found: is the gateway's routes ConfigMap "
                                 "named differently (GATEWAY_ROUTES_CONFIGMAP, GATEWAY_NAMESPACE)?")


def test_a_write_the_api_server_finds_stale_is_a_routes_conflict(routes: ConfigMapRoutes,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, "read_namespaced_config_map", ROUTES)
    answering(monkeypatch, "replace_namespaced_config_map", ApiException(status=409, reason="Conflict"))
    table = routes.read_routes()
    with pytest.raises(RoutesConflict):
        routes.write_routes(table, "test", "stale-writer", dry_run=False)
