"""The shared Prometheus client and the pooled HTTP client fail with the `BackendError` of the right kind, chosen by
the type of what went wrong (an error status, a refused connection, no answer in time), never by its wording."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mcp_servers.errors import BackendError, BadInput, NotFound, TimedOut, Unauthorized, Unreachable
from mcp_servers.prometheus import client
from mcp_servers.prometheus.client import HttpApi, PrometheusApi, prometheus_api
from mcp_servers.settings import HttpEndpoint
from tests.json_server import json_server


class Answers:
    """What the fake API answers next: (status, JSON body) per call, the last one repeated; and what it was asked."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, Any]] = []
        self.paths: list[str] = []
        self.delay_s = 0.0

    def next(self, path: str) -> tuple[int, Any]:
        self.paths.append(path)
        time.sleep(self.delay_s)
        return self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]


@pytest.fixture
def api() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    with json_server(answers.next) as url:
        yield url, answers


def dead_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_a_query_returns_the_result(api: tuple[str, Answers]) -> None:
    url, answers = api
    answers.queue = [(200, {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up"}, "value": [1, "1"]}]}})]
    assert PrometheusApi(HttpEndpoint(url=url)).query("up") == [{"metric": {"__name__": "up"}, "value": [1, "1"]}]


@pytest.mark.parametrize(("status", "error", "kind"), [
    (400, BadInput, "bad_input"), (401, Unauthorized, "unauthorized"), (403, Unauthorized, "unauthorized"),
    (404, NotFound, "not_found"), (422, BadInput, "bad_input")])
def test_an_error_status_is_its_kind_with_prometheus_own_words(api: tuple[str, Answers], status: int,
                                                              error: type[BackendError], kind: str) -> None:
    url, answers = api
    answers.queue = [(status, {"status": "error", "errorType": "bad_data",
                               "error": 'invalid parameter "query": 1:7: parse error: unclosed left parenthesis'})]
    with pytest.raises(error) as raised:
        PrometheusApi(HttpEndpoint(url=url)).query("sum(up")
    assert raised.value.kind == kind
    assert str(raised.value) == "bad PromQL: 1:7: parse error: unclosed left parenthesis"
    assert len(answers.paths) == 1, "a refusal is not retried"


def test_a_query_that_fails_in_prometheus_says_so(api: tuple[str, Answers]) -> None:
    url, answers = api
    answers.queue = [(422, {"status": "error", "errorType": "execution", "error": "query timed out"})]
    with pytest.raises(BadInput, match="^the query failed in Prometheus: query timed out$"):
        PrometheusApi(HttpEndpoint(url=url)).query("up")


def test_a_restarting_prometheus_is_asked_once_more(api: tuple[str, Answers]) -> None:
    url, answers = api
    answers.queue = [(503, {"status": "error", "error": "starting"}),
                     (200, {"status": "success", "data": {"resultType": "vector", "result": []}})]
    assert PrometheusApi(HttpEndpoint(url=url)).query("up") == []
    assert len(answers.paths) == 2


def test_a_prometheus_that_stays_unavailable_is_unreachable_after_one_retry(api: tuple[str, Answers]) -> None:
    url, answers = api
    answers.queue = [(503, {"status": "error", "error": "starting"})]
    with pytest.raises(Unreachable, match="^Prometheus answered HTTP 503: starting$"):
        PrometheusApi(HttpEndpoint(url=url)).query("up")
    assert len(answers.paths) == 2


def test_a_refused_connection_is_unreachable() -> None:
    url = dead_url()
    with pytest.raises(Unreachable, match=f"^Prometheus at {url} is unreachable: "):
        PrometheusApi(HttpEndpoint(url=url)).targets(state="active")


def test_no_answer_in_time_is_a_timeout(api: tuple[str, Answers], monkeypatch: pytest.MonkeyPatch) -> None:
    url, answers = api
    answers.queue, answers.delay_s = [(200, {"status": "success", "data": {"result": []}})], 0.5
    monkeypatch.setattr(client, "TIMEOUT_S", 0.1)
    with pytest.raises(TimedOut, match=f"^Prometheus at {url} is unreachable: "):
        PrometheusApi(HttpEndpoint(url=url)).query("up")


def test_an_endpoint_that_is_not_configured_names_the_variable() -> None:
    with pytest.raises(Unreachable, match="^Prometheus is not configured: set PROMETHEUS_URL"):
        PrometheusApi(None).query("up")
    with pytest.raises(Unreachable, match="^Alertmanager is not configured: set ALERTMANAGER_URL"):
        HttpApi("Alertmanager", "ALERTMANAGER_URL", None).request("GET", "/api/v2/alerts")


def test_every_reader_of_an_endpoint_shares_one_client() -> None:
    endpoint = HttpEndpoint(url="http://prometheus.internal:9090")
    assert prometheus_api(endpoint) is prometheus_api(HttpEndpoint(url="http://prometheus.internal:9090"))
    assert prometheus_api(endpoint) is not prometheus_api(HttpEndpoint(url="http://other.internal:9090"))


def test_the_http_client_maps_statuses_and_transport_failures_alike(api: tuple[str, Answers]) -> None:
    url, answers = api
    answers.queue = [(404, {"code": 404, "message": "silence not found"})]
    alertmanager = HttpApi("Alertmanager", "ALERTMANAGER_URL", HttpEndpoint(url=url))
    with pytest.raises(NotFound, match="^Alertmanager answered HTTP 404: silence not found$"):
        alertmanager.request("GET", "/api/v2/silence/x")
    alertmanager.close()
    dead = dead_url()
    with pytest.raises(Unreachable, match=f"^Alertmanager at {dead} is unreachable: "):
        HttpApi("Alertmanager", "ALERTMANAGER_URL", HttpEndpoint(url=dead)).request("GET", "/api/v2/alerts")


def test_concurrent_queries_reuse_pooled_connections(api: tuple[str, Answers],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    url, answers = api
    answers.queue, answers.delay_s = [(200, {"status": "success", "data": {"resultType": "vector", "result": []}})], 0.2
    prometheus = PrometheusApi(HttpEndpoint(url=url))
    with ThreadPoolExecutor(max_workers=20) as pool:
        assert list(pool.map(lambda _: prometheus.query("up"), range(20))) == [[]] * 20
    assert not [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
