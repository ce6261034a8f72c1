"""The agent's configuration file: the shipped example loads, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import REPO, AgentConfig


def test_the_shipped_example_config_loads() -> None:
    config = AgentConfig.load(REPO / "deploy" / "agent.example.yaml")
    assert config.mcp.transport == "stdio" and config.time_scale == 1
    assert config.wall(300) == 300


def test_a_typo_in_the_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("watch_intervall_s: 5\n")
    with pytest.raises(ValueError, match="watch_intervall_s"):
        AgentConfig.load(path)


def test_the_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("database_url: sqlite:///from-file.db\nwebhook: {port: 9000, host: 0.0.0.0}\n")
    monkeypatch.setenv("FIREBREAK_DATABASE_URL", "postgresql+psycopg://firebreak@db/firebreak")
    monkeypatch.setenv("FIREBREAK_WEBHOOK__PORT", "9100")
    config = AgentConfig.load(path)
    assert config.database_url == "postgresql+psycopg://firebreak@db/firebreak"
    assert (config.webhook.host, config.webhook.port) == ("0.0.0.0", 9100)
    assert AgentConfig().database_url == "sqlite:///firebreak.db", "a config built in code reads no environment"


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("- database_url\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        AgentConfig.load(path)
