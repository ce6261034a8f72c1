"""Where the servers' settings come from: the prefixed environment over the well-known names over the file,
secrets from files, and nothing from the environment for settings built in code."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.settings import Settings
from mcp_servers.settings_sources import InvalidSettings


def test_a_prefixed_variable_wins_over_the_well_known_name_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("namespace: serving\nmax_replicas: 8\nkube_watch: true\n")
    env = {"FIREBREAK_MAX_REPLICAS": "4", "FIREBREAK_KUBE_WATCH": "false", "GATEWAY_URL": "http://gw:8000",
           "FIREBREAK_GATEWAY_URL": "http://gateway.internal:8000", "FIREBREAK_LOKI__URL": "http://loki:3100"}
    settings = Settings.load(env=env, config_file=config)
    assert (settings.namespace, settings.max_replicas, settings.kube_watch) == ("serving", 4, False)
    assert settings.gateway_url == "http://gateway.internal:8000"
    assert settings.loki is not None and settings.loki.base == "http://loki:3100"


def test_secrets_come_from_files_and_the_variable_itself_wins(tmp_path: Path) -> None:
    token, password = tmp_path / "token", tmp_path / "password"
    token.write_text("from-file\n")
    password.write_text("pw-from-file\n")
    env = {"LOKI_URL": "http://loki:3100", "LOKI_USERNAME": "ops", "LOKI_PASSWORD_FILE": str(password),
           "FIREBREAK_PROMETHEUS__URL": "http://prom:9090", "FIREBREAK_PROMETHEUS__BEARER_TOKEN_FILE": str(token),
           "ALERTMANAGER_URL": "http://am:9093", "ALERTMANAGER_BEARER_TOKEN": "direct",
           "ALERTMANAGER_BEARER_TOKEN_FILE": str(token)}
    settings = Settings.load(env=env)
    assert settings.loki is not None and settings.loki.auth() == ("ops", "pw-from-file")
    assert settings.prometheus is not None
    assert settings.prometheus.headers()["Authorization"] == "Bearer from-file"
    assert settings.alertmanager is not None
    assert settings.alertmanager.headers()["Authorization"] == "Bearer direct"


def test_a_ca_file_variable_stays_a_path(tmp_path: Path) -> None:
    settings = Settings.load(env={"FIREBREAK_PROMETHEUS__URL": "https://prom:9090",
                                  "FIREBREAK_PROMETHEUS__CA_FILE": str(tmp_path)})  # a directory: never read
    assert settings.prometheus is not None and settings.prometheus.ca_file == str(tmp_path)


def test_an_endpoint_from_a_well_known_name_replaces_the_files_whole(tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("prometheus: {url: 'http://prom:9090', bearer_token: for-prom-only}\n")
    settings = Settings.load(env={"PROMETHEUS_URL": "http://elsewhere:9090"}, config_file=config)
    assert settings.prometheus is not None and settings.prometheus.bearer_token is None, \
        "the file's token must not go to another server"


def test_settings_built_in_code_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_URL", "http://prom:9090")
    monkeypatch.setenv("FIREBREAK_MAX_REPLICAS", "4")
    assert Settings().prometheus is None and Settings().max_replicas == 32
    assert Settings.load(env={}).prometheus is None
    assert Settings.load().max_replicas == 4


def test_bad_values_and_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings, match="max_replicas"):
        Settings.load(env={"FIREBREAK_MAX_REPLICAS": "0"})
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        Settings.load(env={}, config_file=tmp_path / "nowhere.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("namespace: [unclosed\n")
    with pytest.raises(InvalidSettings, match="not YAML"):
        Settings.load(env={}, config_file=broken)


def test_served_model_names_map_deployments_from_the_file_or_json_and_default_to_the_deployments_name(
        tmp_path: Path) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text("served_model_names: {llama-70b: meta-llama/Llama-3.3-70B-Instruct}\n")
    from_file = Settings.load(env={}, config_file=config)
    from_env = Settings.load(env={"FIREBREAK_SERVED_MODEL_NAMES": '{"qwen-7b": "Qwen/Qwen2.5-7B-Instruct"}'})
    assert from_file.served_model_name("llama-70b") == "meta-llama/Llama-3.3-70B-Instruct"
    assert from_file.served_model_name("qwen-7b") == "qwen-7b"
    assert from_env.served_model_name("qwen-7b") == "Qwen/Qwen2.5-7B-Instruct"
