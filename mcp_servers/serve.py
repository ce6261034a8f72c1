"""Runs a server over stdio, or over streamable HTTP behind a bearer token.

HTTP binds to 127.0.0.1 unless told otherwise and refuses to start without a token: a server that can cordon
nodes is never open to whoever can reach the port. It answers each call with one JSON body rather than an event
stream: no tool sends progress or log notifications, and the stream's framing cost about half a millisecond a call.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path
from typing import Literal

from fastmcp import FastMCP
from fastmcp.server.auth import AccessToken, TokenVerifier

from mcp_servers.stdio_transport import run_stdio

log = logging.getLogger("firebreak.mcp")

TOKEN_ENV = "FIREBREAK_MCP_TOKEN"


class SharedTokenVerifier(TokenVerifier):
    """Accepts exactly one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return AccessToken(token=token, client_id="firebreak", scopes=[])
        return None


def read_token(token_file: Path | None, env: dict[str, str] | None = None) -> str | None:
    env = dict(os.environ) if env is None else env
    if token_file is not None:
        token = token_file.read_text().strip()
        if not token:
            raise ValueError(f"{token_file} is empty")
        return token
    return env.get(TOKEN_ENV) or None


def serve(server: FastMCP, transport: Literal["stdio", "http"], *, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None) -> None:
    if transport == "stdio":
        run_stdio(server)
        return
    if not token:
        raise ValueError(f"streamable HTTP needs a bearer token: set ${TOKEN_ENV} or pass --token-file")
    server.auth = SharedTokenVerifier(token)
    log.info("serving MCP %s over streamable HTTP on http://%s:%d/mcp (bearer token required)",
             server.name, host, port)
    server.run("http", show_banner=False, host=host, port=port, path="/mcp", json_response=True)
