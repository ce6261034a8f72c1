"""How a Firebreak tool fails across FastMCP: with a kind that a program routes on, and a sentence that a person
reads (the kinds and their `[kind] sentence` text: `failures.py`).

Backend clients raise a `BackendError` subclass at the lowest layer (the class is the kind); tools raise
`ToolFailure` for what they decide themselves (a pure view raises a plain `Failure`, which `toolkit.register`
passes on as a `ToolFailure`); `KindedErrors` turns both, and every other error a tool call ends in (a library's,
a validation error of the arguments), into `[kind] sentence` on the way out; clients read it back with `parse`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import mcp.types as mt
import urllib3.exceptions
from fastmcp.exceptions import DisabledError, NotFoundError, ToolError, ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import ToolResult

from mcp_servers.failures import ErrorKind, Failure, parse


class ToolFailure(Failure, ToolError):
    """A tool's `Failure`; a `ToolError`, so that FastMCP passes it on as it is (see `BackendError`)."""


class BackendError(ToolError):
    """A backend (Prometheus, the Kubernetes API, Loki, a gateway) did not give what was asked; the subclass
    says why, so a caller routes on the type and a person reads the message. A `ToolError`, so that FastMCP
    passes it on as it is: any other exception it wraps in "Error calling tool ...: " and logs with a traceback,
    as it would a bug."""

    kind: ClassVar[ErrorKind] = "internal"


class Unreachable(BackendError):
    kind = "unreachable"


class TimedOut(BackendError):
    kind = "timeout"


class Unauthorized(BackendError):
    kind = "unauthorized"


class NotFound(BackendError):
    kind = "not_found"


class BadInput(BackendError):
    kind = "bad_input"


class Conflict(BackendError):
    kind = "conflict"


_BY_KIND: dict[ErrorKind, type[BackendError]] = {
    cls.kind: cls for cls in (Unreachable, TimedOut, Unauthorized, NotFound, BadInput, Conflict)}


def backend_error(kind: ErrorKind, message: str) -> BackendError:
    """The `BackendError` of a kind (`internal` is the base class)."""
    return _BY_KIND.get(kind, BackendError)(message)


def fail(kind: ErrorKind, message: str) -> ToolFailure:
    """The error a tool raises; its text reaches the caller as `[kind] message`."""
    return ToolFailure(kind, message)


def transport_kind(error: BaseException) -> ErrorKind:
    """The kind of a failure to get an answer at all: no answer in time, or no connection."""
    chain = _chain(error)
    # urllib3 derives a refused connection from its connect timeout: a refusal is checked first
    refused = (ConnectionError, urllib3.exceptions.NewConnectionError, httpx.ConnectError)
    if any(isinstance(cause, refused) for cause in chain):
        return "unreachable"
    timeouts = (TimeoutError, httpx.TimeoutException, urllib3.exceptions.TimeoutError)
    return "timeout" if any(isinstance(cause, timeouts) for cause in chain) else "unreachable"


class KindedErrors(Middleware):
    """Every tool error leaves the server with a kind: a failure of the arguments' validation is `bad_input`,
    a timeout `timeout`, anything a tool did not classify itself `internal`."""

    async def on_call_tool(self, context: MiddlewareContext[mt.CallToolRequestParams],
                           call_next: CallNext[mt.CallToolRequestParams, ToolResult]) -> ToolResult:
        try:
            return await call_next(context)
        except ToolFailure:
            raise
        except Exception as error:
            raise ToolFailure(_kind_of(error), _unprefixed(error)) from error


def _kind_of(error: BaseException) -> ErrorKind:
    for cause in _chain(error):
        if isinstance(cause, (Failure, BackendError)):
            return cause.kind
        if isinstance(cause, (ValidationError, NotFoundError, DisabledError)):  # bad arguments, or no such tool
            return "bad_input"
        if isinstance(cause, TimeoutError):
            return "timeout"
    return "internal"


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _unprefixed(error: Any) -> str:
    return parse(str(error))[1]
