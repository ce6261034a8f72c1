"""MCP over stdio with the pipes read and written by the event loop itself.

The `mcp` SDK's stdio transport reads stdin and writes stdout through anyio's file wrappers, which hop to a worker
thread for every line read, every write and every flush: three thread hops a round trip, about a third of a
ping. Here the SDK's transport gets the same two pipes as asyncio streams instead. When stdin or stdout is not a
pipe, a socket or a terminal (a regular file, say), asyncio cannot watch it and FastMCP's own stdio runs instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from typing import BinaryIO

import anyio
from fastmcp import FastMCP
from fastmcp.server.context import reset_transport, set_transport
from mcp.server.stdio import stdio_server

log = logging.getLogger("firebreak.mcp")

MAX_LINE = 128 * 2**20  # one JSON-RPC message per line; asyncio's default cap (64 KiB) is below some requests


def run_stdio(server: FastMCP) -> None:
    """Serves `server` until stdin closes."""
    if not all(_loop_can_watch(fd) for fd in (0, 1)):
        server.run("stdio", show_banner=False)
        return
    anyio.run(_serve, server, *_take_wire())


def _loop_can_watch(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _take_wire() -> tuple[BinaryIO, BinaryIO]:
    """The protocol's own copies of stdin and stdout. Fds 0 and 1 then read /dev/null and write to stderr for
    the rest of the process, so a stray print or a child process cannot corrupt the wire."""
    wire_in, wire_out = os.fdopen(os.dup(0), "rb", buffering=0), os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return wire_in, wire_out


async def _serve(server: FastMCP, wire_in: BinaryIO, wire_out: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), wire_in)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wire_out)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    token = set_transport("stdio")  # what FastMCP's own stdio run sets: tools see Context.transport == "stdio"
    try:
        # The SDK annotates both pipes as anyio.AsyncFile, but only iterates stdin and writes and flushes stdout.
        wire = stdio_server(_Lines(reader), _Output(writer))  # type: ignore[arg-type]
        async with server._lifespan_manager(), wire as (read, write):
            log.info("serving MCP %s over stdio", server.name)
            await server._mcp_server.run(read, write, server._mcp_server.create_initialization_options())
    finally:
        reset_transport(token)
        writer.close()


class _Lines:
    """stdin as the SDK's transport iterates it: one decoded line at a time, until end of file."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", errors="replace")


class _Output:
    """stdout as the SDK's transport writes it: `write`, then `flush` waits until the pipe has taken it."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()
