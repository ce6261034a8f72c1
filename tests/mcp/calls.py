"""Calling a tool in a test: its structured answer when it must succeed, its error when it must not.

A tool's error reaches the client as `[kind] sentence` (mcp_servers/failures.py): `refusal` gives that whole text,
`failure` the two parts, for a test to say both what kind of failure it expects and what a person reads.
"""

from __future__ import annotations

from typing import Any

from fastmcp import Client

from mcp_servers.failures import ErrorKind, parse


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None, f"{tool} gave no structured answer"
    return dict(result.structured_content)


async def refusal(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool}({args}) should have been refused: {result.structured_content}"
    return str(result.content[0].text)


async def failure(client: Client, tool: str, **args: Any) -> tuple[ErrorKind, str]:
    """(kind, sentence) of a refusal, which must carry its kind: text without one would only read as `internal`."""
    text = await refusal(client, tool, **args)
    kind, message = parse(text)
    assert text == f"[{kind}] {message}", f"{tool}({args}) was refused without a kind: {text!r}"
    return kind, message
