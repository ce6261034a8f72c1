"""Calling a tool in a test: its structured answer when it must succeed, its error text when it must not."""

from __future__ import annotations

from typing import Any

from fastmcp import Client


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None, f"{tool} gave no structured answer"
    return dict(result.structured_content)


async def refusal(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool}({args}) should have been refused: {result.structured_content}"
    return str(result.content[0].text)
