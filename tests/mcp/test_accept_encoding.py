"""The servers ask Prometheus and Alertmanager for uncompressed answers unless told otherwise: next to them, the
server's gzip costs more than the bytes it saves. Both HTTP clients are covered: prometheus-api-client's
requests session (`query`) and httpx (`firing_alerts`)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastmcp import Client

from mcp_servers.compose import build
from mcp_servers.settings import Settings
from tests.mcp.calls import call

ANSWERS: dict[str, Any] = {
    "/api/v1/query": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "vllm"}, "value": [1700000000, "1"]}]}},
    "/api/v1/alerts": {"status": "success", "data": {"alerts": []}},
    "/api/v2/alerts": [],
}


class RecordingApi(ThreadingHTTPServer):
    """Answers as Prometheus and Alertmanager do, gzip-compressed when the client accepts it, and records each
    request's path and Accept-Encoding."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: RecordingApi

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        accepted = self.headers.get("Accept-Encoding")
        self.server.asked.append((path, accepted))
        body = json.dumps(ANSWERS[path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "gzip" in (accepted or ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        pass


@pytest.fixture
def api() -> Iterator[RecordingApi]:
    server = RecordingApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def ask_both_clients(settings: Settings) -> None:
    async with Client(build("prometheus", settings)) as client:
        answer = await call(client, "query", promql="up")
        assert answer["series"]["items"] == [{"metric": "up", "labels": {"job": "vllm"}, "value": 1}]
        alerts = await call(client, "firing_alerts")
        assert alerts["summary"].startswith("0 firing") and not alerts["warnings"]


@pytest.mark.anyio
async def test_prometheus_and_alertmanager_are_asked_for_uncompressed_answers(api: RecordingApi) -> None:
    await ask_both_clients(Settings.load(env={"PROMETHEUS_URL": api.url, "ALERTMANAGER_URL": api.url}))

    assert {path for path, _ in api.asked} == set(ANSWERS)
    assert {encoding for _, encoding in api.asked} == {"identity"}


@pytest.mark.anyio
async def test_gzip_is_asked_for_where_configured_and_decoded(api: RecordingApi) -> None:
    await ask_both_clients(Settings.load(env={"PROMETHEUS_URL": api.url, "PROMETHEUS_GZIP": "true",
                                              "ALERTMANAGER_URL": api.url}))

    assert sorted(set(api.asked)) == [("/api/v1/alerts", "gzip"), ("/api/v1/query", "gzip"),
                                      ("/api/v2/alerts", "identity")]
