"""The servers' TLS contexts follow each endpoint's verification setting, and tool calls do not load a CA bundle
again once the first call has: loading one costs about 20 ms, which each call to Prometheus, Alertmanager, the
gateway or Loki paid when it built its own client."""

from __future__ import annotations

import os
import ssl
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from mcp_servers.settings import HttpEndpoint
from sandbox.tls import issue
from tests.mcp.calls import call
from tests.mcp.conftest import ClientFactory

# A call of each tool that makes its own httpx client: Prometheus and Alertmanager (alerts), the dcgm
# queries, the gateway's admin endpoint and its metrics in Prometheus.
HTTP_CALLS = ("firing_alerts", "gpu_health", "gateway_routes", "provider_health")


def test_each_endpoint_gets_the_context_of_its_tls_settings(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(issue(tmp_path).ca_pem)
    prometheus = HttpEndpoint(url="https://prometheus.internal:9090")
    own_ca = HttpEndpoint(url="https://prometheus.internal:9090", ca_file=str(ca_file))
    unverified = HttpEndpoint(url="https://prometheus.internal:9090", insecure_skip_verify=True, ca_file="x")

    assert prometheus.tls().verify_mode == ssl.CERT_REQUIRED and prometheus.tls().get_ca_certs() != \
        own_ca.tls().get_ca_certs(), "without a CA file an endpoint trusts the system's bundle"
    assert [cert["subject"] for cert in own_ca.tls().get_ca_certs()] == [
        cert["subject"] for cert in ssl.create_default_context(cafile=str(ca_file)).get_ca_certs()], \
        "an endpoint with its own CA trusts that CA alone"
    assert own_ca.tls().verify_mode == ssl.CERT_REQUIRED and own_ca.tls().check_hostname
    assert unverified.tls().verify_mode == ssl.CERT_NONE and not unverified.tls().check_hostname


def test_a_rotated_ca_file_is_loaded_again(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(issue(tmp_path / "old").ca_pem)
    endpoint = HttpEndpoint(url="https://prometheus.internal:9090", ca_file=str(ca_file))
    before = endpoint.tls()

    ca_file.write_bytes(issue(tmp_path / "new").ca_pem)
    os.utime(ca_file, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))  # a new mtime, however coarse the clock

    assert endpoint.tls() is not before
    assert endpoint.tls().get_ca_certs() == ssl.create_default_context(cafile=str(ca_file)).get_ca_certs()


@pytest.mark.anyio
async def test_tool_calls_load_no_ca_bundle_once_the_first_call_has(mcp: ClientFactory,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Any] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        if any("/httpx/" in frame.filename for frame in traceback.extract_stack()):
            loads.append(args or kwargs)  # the Kubernetes client's urllib3 loads it for each new connection
        load(context, *args, **kwargs)

    async with mcp("all") as client:
        for tool in HTTP_CALLS:
            await call(client, tool)
        monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
        for _ in range(3):
            for tool in HTTP_CALLS:
                await call(client, tool)

    assert loads == []
