"""A local server that speaks the Anthropic Messages API wire format, for the Claude path's tests.

`POST /v1/messages` answers with the next scripted reply (a message with text and tool_use blocks, usage and a
stop reason, or an error status with the API's error body) and records every request it got, so a test can
check what the real `anthropic` SDK sent: the tools offered, the tool_result blocks, the tool choice.
A request past the end of the script gets a 500 that says so.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "text": content}


def tool_use(name: str, tool_input: Any, tool_id: str | None = None) -> dict[str, Any]:
    """`tool_input` may be anything, to stand for a model that writes a malformed call."""
    return {"type": "tool_use", "id": tool_id or f"toolu_{next(_ids):04d}", "name": name, "input": tool_input}


def message(*content: dict[str, Any], stop_reason: str | None = None, input_tokens: int = 100,
            output_tokens: int = 20) -> Reply:
    """A Messages API response; the stop reason is `tool_use` when a block calls a tool, else `end_turn`."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(block["type"] == "tool_use" for block in content) else "end_turn"
    return Reply(200, {
        "id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": "claude-test",
        "content": list(content), "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })


def error(status: int, kind: str, text_: str) -> Reply:
    # retry-after-ms 0: should a client retry, it does so at once (the tests build theirs with no retries)
    return Reply(status, {"type": "error", "error": {"type": kind, "message": text_}}, {"retry-after-ms": "0"})


class FakeAnthropic:
    """`with FakeAnthropic([message(...), ...]) as api:` then `AsyncAnthropic(base_url=api.url, ...)`."""

    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []  # JSON bodies of POST /v1/messages, in order
        self.headers: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll so that shutdown does not wait out the default half second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        self.requests.append(body)
        self.headers.append(headers)
        if not self.script:
            return error(500, "api_error", "the fake's script is exhausted")
        return self.script.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] != "/v1/messages":
                    self._send(error(404, "not_found_error", f"no route {self.path}"))
                    return
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(error(400, "invalid_request_error", "the body is not JSON"))
                    return
                self._send(fake._next(body, {k.lower(): v for k, v in self.headers.items()}))

            def _send(self, reply: Reply) -> None:
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass  # keep the test output clean

        return Handler
