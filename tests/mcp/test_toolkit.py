"""A tool written as a module-level function gets its own server's client, alone or mounted, and the client
never shows in its input schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastmcp import Client, FastMCP

from mcp_servers.toolkit import held, holding, reads, register, writes

pytestmark = pytest.mark.anyio


class Greeter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False


class LoudGreeter(Greeter):
    """A server may hold a subclass: a tool asking for the base class gets it."""


def greet(who: str, greeter: Greeter = held(Greeter)) -> str:
    """Says hello."""
    return f"{greeter.name} greets {who}"


def forget(who: str) -> str:
    """Forgets someone."""
    return f"forgot {who}"


OPENED: list[Greeter] = []


def server(name: str) -> FastMCP:
    @contextmanager
    def open_clients() -> Iterator[list[object]]:
        greeter = LoudGreeter(name) if name == "b" else Greeter(name)
        OPENED.append(greeter)
        yield [greeter]
        greeter.closed = True

    mcp = FastMCP(name, lifespan=holding(open_clients))
    return register(mcp, [reads(greet, "Greet"), writes(forget, "Forget", destructive=True, idempotent=False)])


async def test_each_mounted_server_hands_its_tools_its_own_client() -> None:
    parent = FastMCP("all")
    parent.mount(server("a"), namespace="a")
    parent.mount(server("b"), namespace="b")
    async with Client(parent) as client:
        assert (await client.call_tool("a_greet", {"who": "x"})).data == "a greets x"
        assert (await client.call_tool("b_greet", {"who": "x"})).data == "b greets x"
    assert OPENED[-1].closed and OPENED[-2].closed


async def test_the_client_is_not_an_argument_and_the_table_sets_the_hints() -> None:
    async with Client(server("alone")) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert tools["greet"].input_schema["properties"].keys() == {"who"}
    assert tools["greet"].annotations is not None and tools["greet"].annotations.read_only_hint
    hints = tools["forget"].annotations
    assert hints is not None and not hints.read_only_hint and hints.destructive_hint and not hints.idempotent_hint


async def test_a_tool_function_can_be_called_with_a_client_of_ones_own() -> None:
    assert greet("y", Greeter("test")) == "test greets y"
