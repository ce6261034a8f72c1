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
