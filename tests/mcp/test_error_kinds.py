"""How a Firebreak tool fails, end to end through an MCP client: every error arrives as `[kind] sentence`.

The kind is for a program to route on (retry, ask again, give up, tell a person), the sentence for a person to
read. A tool says its kind itself with `fail(kind, message)`; `KindedErrors`, which every composed server carries,
gives one to any other error a call ends in; `parse` reads the two parts back, and reads text without a kind as
`internal`. See mcp_servers/failures.py and mcp_servers/errors.py.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
import requests
import urllib3
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from mcp_servers.compose import build
from mcp_servers.errors import BackendError, KindedErrors, ToolFailure, backend_error, fail, transport_kind
from mcp_servers.failures import KINDS, ErrorKind, Failure, kind_of_status, parse
from mcp_servers.settings import HttpEndpoint, Settings
from mcp_servers.toolkit import read_tool
from tests.mcp.calls import failure, refusal

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]  # the `mcp` fixtures of conftest.py

OFFLINE = Settings(kubeconfig="/nonexistent/kubeconfig")  # no backend configured: nothing here reaches a fleet


def toy_server(*, kinded: bool = True) -> FastMCP:
    """A server whose tools fail in every way a tool can: with a kind, with a plain exception, with a timeout."""
    server = FastMCP("toy")

    @server.tool
    def find(name: str) -> str:
        """Finds nothing: says so with a kind."""
        raise fail("not_found", f"no thing called {name!r}")

    @server.tool
    def divide(numerator: int, denominator: int) -> float:
        """A bug: a plain exception that no one classified."""
        if denominator == 0:
            raise ValueError("the denominator was zero")
        return numerator / denominator

    @server.tool
    def wait() -> str:
        """A backend that gave no answer in time."""
        raise TimeoutError("no answer within 5 s")

    @server.tool
    def backend(kind: ErrorKind) -> str:
        """A backend client's typed error, as the lowest layer raises it."""
        raise backend_error(kind, f"the backend said {kind}")

    @server.tool
    def legacy() -> str:
        """A plain ToolError without a kind, as a library may raise."""
        raise ToolError("something went wrong")

    if kinded:
        server.add_middleware(KindedErrors())
    return server


# --- (1) a tool's own failure ------------------------------------------------------------------------------------


async def test_a_tools_own_failure_arrives_as_its_kind_and_its_sentence() -> None:
    async with Client(toy_server()) as client:
        text = await refusal(client, "find", name="gpu-node-9")
    assert text == "[not_found] no thing called 'gpu-node-9'"
    assert parse(text) == ("not_found", "no thing called 'gpu-node-9'")


async def test_a_pure_views_failure_arrives_as_its_kind_and_its_sentence_without_the_middleware() -> None:
    server = FastMCP("views")

    @read_tool(server, "Check")
    def check(name: str) -> str:
        """Refused by a view, which raises a plain `Failure` (it imports no FastMCP)."""
        raise Failure("bad_input", f"{name} is not a model")

    async with Client(server) as client:
        text = await refusal(client, "check", name="gpt-9")
    assert text == "[bad_input] gpt-9 is not a model", "no \"Error calling tool\" wrapping: it is a ToolFailure"


async def test_a_real_servers_failure_on_a_real_fleet_arrives_kinded(mcp: ClientFactory) -> None:
    async with mcp("kubernetes") as client:
        assert await failure(client, "describe_node", name="gpu-node-9") == ("not_found", "node gpu-node-9 not found")


async def test_a_composed_server_passes_a_mounted_servers_failure_on_with_one_prefix(mcp: ClientFactory) -> None:
    async with mcp("all") as client:
        text = await refusal(client, "describe_node", name="gpu-node-9")
    assert text == "[not_found] node gpu-node-9 not found", "mounted once more, the kind is not prefixed twice"


async def test_a_backend_that_is_not_configured_is_unreachable() -> None:
    async with Client(build("gpu", OFFLINE)) as client:
        kind, message = await failure(client, "gpu_health")
    assert kind == "unreachable"
    assert message.startswith("the gpu server reads dcgm-exporter metrics from Prometheus: set PROMETHEUS_URL")


async def test_a_refused_connection_is_unreachable_not_a_timeout() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = OFFLINE.model_copy(update={"prometheus": HttpEndpoint(url=url)})
    async with Client(build("prometheus", settings)) as client:
        kind, message = await failure(client, "query", promql="up")
    assert message.startswith(f"Prometheus at {url} is unreachable: ")
    assert kind == "unreachable"


async def test_a_backend_clients_typed_error_arrives_as_its_kind_and_its_own_sentence() -> None:
    async with Client(toy_server()) as client:
        for kind in KINDS:
            assert await failure(client, "backend", kind=kind) == (kind, f"the backend said {kind}"), \
                "no \"Error calling tool\" wrapping: the kind is the class, the sentence the backend's"


def test_each_kind_has_its_backend_error_class() -> None:
    for kind in KINDS:
        error = backend_error(kind, "why")
        assert isinstance(error, BackendError) and error.kind == kind and str(error) == "why"


# --- (2) what a tool did not classify ----------------------------------------------------------------------------


async def test_a_plain_exception_in_a_tool_arrives_as_internal_with_its_words() -> None:
    async with Client(toy_server()) as client:
        kind, message = await failure(client, "divide", numerator=1, denominator=0)
    assert kind == "internal"
    assert "the denominator was zero" in message


async def test_a_timeout_in_a_tool_arrives_as_timeout() -> None:
    async with Client(toy_server()) as client:
        kind, message = await failure(client, "wait")
    assert kind == "timeout" and "no answer within 5 s" in message


async def test_a_tool_error_without_a_kind_arrives_as_internal() -> None:
    async with Client(toy_server()) as client:
        assert await failure(client, "legacy") == ("internal", "something went wrong")


async def test_a_server_without_the_middleware_gives_text_that_reads_as_internal() -> None:
    async with Client(toy_server(kinded=False)) as client:
        text = await refusal(client, "divide", numerator=1, denominator=0)
    assert parse(text) == ("internal", text)


# --- (3) and (4) what the caller got wrong -----------------------------------------------------------------------


async def test_arguments_that_fail_validation_arrive_as_bad_input() -> None:
    async with Client(toy_server()) as client:
        wrong_type = await failure(client, "divide", numerator="one", denominator=2)
        missing = await failure(client, "divide", numerator=1)
    assert wrong_type[0] == missing[0] == "bad_input"
    assert "numerator" in wrong_type[1] and "denominator" in missing[1], "the sentence names the argument"


async def test_a_real_servers_validation_failure_arrives_as_bad_input() -> None:
    async with Client(build("gpu", OFFLINE)) as client:
        below_range = await failure(client, "explain_xid", code=-1)
        not_a_number = await failure(client, "explain_xid", code="seventy-nine")
    assert below_range[0] == not_a_number[0] == "bad_input"
    assert "code" in below_range[1] and "code" in not_a_number[1]


async def test_an_unknown_tool_arrives_as_bad_input() -> None:
    async with Client(toy_server()) as client:
        toy = await failure(client, "no_such_tool")
    async with Client(build("all", OFFLINE)) as client:
        composed = await failure(client, "no_such_tool")
    assert toy[0] == composed[0] == "bad_input"
    assert "no_such_tool" in toy[1] and "no_such_tool" in composed[1]


async def test_a_write_tool_of_a_read_only_server_arrives_as_bad_input() -> None:
    async with Client(build("kubernetes", OFFLINE.model_copy(update={"read_only": True}))) as client:
        kind, message = await failure(client, "scale_deployment", deployment="qwen-7b", replicas=1, reason="test",
                                      idempotency_key="k")
    assert kind == "bad_input" and "scale_deployment" in message


# --- (5) reading an error text -----------------------------------------------------------------------------------


def test_every_kind_survives_the_round_trip_through_text() -> None:
    for kind in KINDS:
        raised = fail(kind, "what happened")
        assert isinstance(raised, ToolFailure) and (raised.kind, raised.message) == (kind, "what happened")
        assert str(raised) == f"[{kind}] what happened"
        assert parse(str(raised)) == (kind, "what happened")


def test_text_without_a_kind_reads_as_internal_with_the_whole_text() -> None:
    for text in ("connection reset by peer",
                 "[oops] not one of the kinds",
                 "[not_found]no space after the kind",
                 "the kind must lead: [not_found] x",
                 "[NOT_FOUND] kinds are lower case",
                 ""):
        assert parse(text) == ("internal", text), text


def test_only_the_leading_kind_is_read() -> None:
    assert parse("[conflict] [timeout] quoted") == ("conflict", "[timeout] quoted")


# --- (6) HTTP statuses and transport failures of backends ---------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (401, "unauthorized"), (403, "unauthorized"),
    (404, "not_found"), (410, "not_found"),
    (409, "conflict"), (429, "conflict"),  # refused for now: a disruption budget, a rate limit
    (400, "bad_input"), (422, "bad_input"),
    (502, "unreachable"), (503, "unreachable"),
    (504, "timeout"), (408, "timeout"),
    (500, "internal"), (501, "internal"),
])
def test_an_http_status_of_a_backend_has_its_kind(status: int, kind: str) -> None:
    assert kind_of_status(status) == kind


def test_a_transport_failure_is_a_timeout_only_when_no_answer_came_in_time() -> None:
    request = httpx.Request("GET", "http://prometheus:9090/api/v1/query")
    assert transport_kind(httpx.ReadTimeout("read timed out", request=request)) == "timeout"
    assert transport_kind(TimeoutError("timed out")) == "timeout"
    assert transport_kind(urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")) == "timeout"
    assert transport_kind(httpx.ConnectError("All connection attempts failed", request=request)) == "unreachable"
    assert transport_kind(ConnectionRefusedError(111, "Connection refused")) == "unreachable"


def test_a_refused_connection_through_urllib3_or_requests_is_unreachable() -> None:
    """urllib3 makes NewConnectionError a subclass of ConnectTimeoutError, though no time ran out."""
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: "
                                                    "[Errno 111] Connection refused")
    try:
        try:
            raise urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", refused) from refused
        except urllib3.exceptions.MaxRetryError as retried:
            raise requests.ConnectionError(retried) from retried
    except requests.ConnectionError as error:
        through_requests = error
    assert transport_kind(refused) == "unreachable"
    assert transport_kind(through_requests) == "unreachable"
