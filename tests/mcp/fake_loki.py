"""A small Loki for tests: `GET /loki/api/v1/query_range` over real HTTP, answering in Loki's wire format.

It understands the LogQL the logs server sends: a stream selector (`=`, `!=`, `=~`, `!~`, regexes anchored as
in Loki) and line filters (`|=`, `!=`, `|~`, `!~`) with Go-quoted or backquoted strings; `start`, `end`,
`limit` and `direction`. Bad input gets a 400 with a plain-text message, as Loki answers.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlparse

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_FILTER = re.compile(r'\s*(\|=|\|~|!=|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)')


@dataclass(frozen=True)
class Entry:
    labels: dict[str, str]
    ns: int
    line: str


class LogQLError(ValueError):
    pass


def _string(token: str) -> str:
    return token[1:-1] if token.startswith("`") else str(json.loads(token))


def _regex(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as error:
        raise LogQLError(f"parse error : error parsing regexp: {error}: `{value}`") from None


def parse(query: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(label matchers, line filters) of `{...} |~ "..."`."""
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise LogQLError("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {")
    selector, rest = query[1:].split("}", 1)
    matchers = [(m[1], m[2], str(json.loads(m[3]))) for m in _MATCHER.finditer(selector)]
    if not matchers or _MATCHER.sub("", selector).strip():
        raise LogQLError("parse error : queries require at least one regexp or equality matcher")
    filters = []
    while rest.strip():
        found = _FILTER.match(rest)
        if found is None:
            raise LogQLError(f"parse error at line 1: syntax error near {rest.strip()[:20]!r}")
        filters.append((found.group(1), _string(found.group(2))))
        rest = rest[found.end():]
    return matchers, filters


def _label_matches(actual: str, op: str, value: str) -> bool:
    if op in ("=", "!="):
        return (actual == value) == (op == "=")
    return (_regex(value).fullmatch(actual) is not None) == (op == "=~")


def _filter_matches(line: str, op: str, value: str) -> bool:
    if op in ("|=", "!="):
        return (value in line) == (op == "|=")
    return (_regex(value).search(line) is not None) == (op == "|~")


def _selected(entry: Entry, matchers: list[tuple[str, str, str]], filters: list[tuple[str, str]]) -> bool:
    return (all(_label_matches(entry.labels.get(name, ""), op, value) for name, op, value in matchers)
            and all(_filter_matches(entry.line, op, value) for op, value in filters))


def query_range(entries: list[Entry], params: dict[str, str]) -> dict[str, Any]:
    matchers, filters = parse(params["query"])
    start, end = int(params.get("start", "0")), int(params.get("end", str(2**63)))
    limit, backward = int(params.get("limit", "100")), params.get("direction", "backward") == "backward"
    selected = [e for e in entries if start <= e.ns <= end and _selected(e, matchers, filters)]
    selected = sorted(selected, key=lambda e: e.ns, reverse=backward)[:limit]
    streams: dict[str, dict[str, Any]] = {}
    for entry in selected:
        key = json.dumps(entry.labels, sort_keys=True)
        streams.setdefault(key, {"stream": entry.labels, "values": []})["values"].append([str(entry.ns), entry.line])
    return {"status": "success", "data": {"resultType": "streams", "result": list(streams.values()),
                                          "stats": {"summary": {"totalEntriesReturned": len(selected)}}}}


@dataclass
class FakeLoki:
    """`with FakeLoki(entries, token="t") as loki:` then point the logs server at `loki.url`."""

    entries: list[Entry]
    token: str | None = None
    queries: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                if url.path != "/loki/api/v1/query_range":
                    return self._answer(404, "404 page not found\n")
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._answer(401, "no org id\n")
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.queries.append(params)
                try:
                    self._answer(200, json.dumps(query_range(fake.entries, params)), "application/json")
                except (LogQLError, KeyError, ValueError) as error:
                    self._answer(400, f"{error}\n")

            def _answer(self, status: int, body: str, kind: str = "text/plain; charset=utf-8") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeLoki:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
