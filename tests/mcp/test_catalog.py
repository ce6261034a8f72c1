"""The README's tool table is the servers' own: every tool a host sees is documented, with its kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_servers.catalog import catalog

pytestmark = pytest.mark.anyio


async def test_the_readme_lists_every_tool_as_the_servers_describe_it() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = (await catalog()).splitlines()[2:]
    missing = [row for row in rows if row not in readme]
    assert rows and not missing, "regenerate the table with `firebreak catalog`:\n" + "\n".join(missing)
