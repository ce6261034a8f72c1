"""The kinds of a Firebreak tool's failure, kept free of any server or client library so that the views, the
agent and the tests can name them (the errors that cross FastMCP and the transports' kinds: `errors.py`).

An MCP tool error is text on the wire, so the kind travels as a documented prefix, `[kind] sentence`:
`[unreachable] Prometheus at http://prometheus:9090 is unreachable: [Errno 111] Connection refused`.
Text without the prefix, such as another server's error, reads as `internal`.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

ErrorKind = Literal["unreachable", "timeout", "unauthorized", "not_found", "bad_input", "conflict", "internal"]
KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)
_PREFIX = re.compile(r"^\[(" + "|".join(KINDS) + r")\] ")


class Failure(Exception):
    """A failure with a kind: `kind` says what went wrong for a program, the message says it for a person. A pure
    view raises it as it is; a registered tool passes it on as the `ToolFailure` it stands for."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(f"[{kind}] {message}")
        self.kind: ErrorKind = kind
        self.message = message


def parse(text: str) -> tuple[ErrorKind, str]:
    """(kind, message) of an error text; `internal` with the whole text when it carries no kind."""
    found = _PREFIX.match(text)
    if found is None:
        return "internal", text
    return found.group(1), text[found.end():]  # type: ignore[return-value]  # the pattern admits only KINDS


def kind_of_status(status: int) -> ErrorKind:
    """The kind of an HTTP error status from a backend (Prometheus, the Kubernetes API, Loki, a gateway)."""
    if status in (401, 403):
        return "unauthorized"
    if status in (404, 410):
        return "not_found"
    if status in (409, 429):  # 429: refused for now (a disruption budget, a rate limit), as a conflict is
        return "conflict"
    if status in (408, 504):
        return "timeout"
    if status in (502, 503):
        return "unreachable"
    return "bad_input" if 400 <= status < 500 else "internal"
