"""The supervisor against the real Prometheus and Alertmanager binaries (no mocks).

A tiny HTTP server in the test plays the sandbox (HTTP service discovery and metrics pages that share one
host:port) and the agent (the Alertmanager webhook).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.slo import load_spec, render_alertmanager_config, render_rules
from sandbox.processes import MissingBinaryError, PortInUseError, StartupError
from sandbox.supervisor import Monitoring

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 3600  # one SLO hour per wall second: the page's windows clamp to 4 scrapes
TOKEN = "test-token"


class FakeFleet:
    """HTTP SD + metrics (gateway at 50 % 5xx for llama-70b) + webhook receiver, on one port."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.webhooks: list[tuple[dict[str, Any], str | None]] = []
        fleet = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                pages = {"/sd": fleet.sd_json, "/pods/gateway/metrics": fleet.gateway_metrics}
                pages["/pods/other/metrics"] = lambda: "up_and_about 1\n"
                page = pages.get(self.path)
                if page is None:
                    self.send_error(404)
                    return
                ctype = "application/json" if self.path == "/sd" else "text/plain; version=0.0.4"
                self._reply(page().encode(), ctype)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fleet.webhooks.append((json.loads(body), self.headers.get("Authorization")))
                self._reply(b"ok", "text/plain")

            def _reply(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def sd_json(self) -> str:
        address = self.url.removeprefix("http://")
        pod = {"namespace": "inference", "node": "cpu-node"}
        return json.dumps(
            [
                {
                    "targets": [address],
                    "labels": {
                        **pod,
                        "job": "gateway",
                        "pod": "gw-0",
                        "__metrics_path__": "/pods/gateway/metrics",
                    },
                },
                {
                    "targets": [address],
                    "labels": {
                        **pod,
                        "job": "other",
                        "pod": "other-0",
                        "__metrics_path__": "/pods/other/metrics",
                    },
                },
            ]
        )

    def gateway_metrics(self) -> str:
        # 100 requests per second, half of them failed with 500 (LiteLLM's series): far above the 14.4x page threshold.
        n = int((time.monotonic() - self.started) * 100)
        total, failed = "litellm_proxy_total_requests_metric_total", "litellm_proxy_failed_requests_metric_total"
        lines = [f"# TYPE {total} counter", f"# TYPE {failed} counter"]
        for code, count in (("200", n - n // 2), ("500", n // 2)):
            lines.append(f'{total}{{requested_model="llama-70b",status_code="{code}"}} {count}')
        lines.append(f'{failed}{{requested_model="llama-70b",exception_status="500",'
                     f'exception_class="Hosted_vllm.APIConnectionError"}} {n // 2}')
        return "\n".join(lines) + "\n"


@pytest.fixture
def fleet() -> Iterator[FakeFleet]:
    fake = FakeFleet()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that a container may not have counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def write_rules(tmp_path: Path) -> Path:
    path = tmp_path / "slo-rules.yml"
    path.write_text(render_rules(load_spec(REPO / "deploy/slo/inference.yaml"), TIME_SCALE))
    return path


def page_payload(fleet: FakeFleet) -> tuple[dict[str, Any], str | None] | None:
    for payload, auth in fleet.webhooks:
        for alert in payload["alerts"]:
            labels = alert["labels"]
            if (
                alert["status"] == "firing"
                and labels.get("severity") == "page"
                and labels.get("model") == "llama-70b"
            ):
                return payload, auth
    return None


async def wait_for_page(fleet: FakeFleet, timeout: float) -> tuple[dict[str, Any], str | None]:
    deadline = time.monotonic() + timeout
    while (found := page_payload(fleet)) is None:
        assert time.monotonic() < deadline, f"no page reached the webhook in {timeout}s: {fleet.webhooks}"
        await asyncio.sleep(0.25)
    return found


async def targets(prometheus_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"{prometheus_url}/api/v1/targets", params={"state": "active"})
    return response.json()["data"]["activeTargets"]


@pytest.mark.slow
def test_page_alert_reaches_the_webhook_and_processes_stop(tmp_path: Path, fleet: FakeFleet) -> None:
    am_config = render_alertmanager_config(f"{fleet.url}/webhook", TOKEN, TIME_SCALE)
    rules = write_rules(tmp_path)
    state = tmp_path / "state"

    async def scenario() -> dict[str, int]:
        async with Monitoring(state, f"{fleet.url}/sd", [rules], am_config) as m:
            pids = m.pids
            assert all(alive(pid) for pid in pids.values())
            payload, auth = await wait_for_page(fleet, timeout=30)
            assert auth == f"Bearer {TOKEN}"
            assert payload["version"] == "4"
            assert payload["groupLabels"] == {"slo": "availability", "model": "llama-70b"}
            page = next(a for a in payload["alerts"] if a["labels"]["severity"] == "page")
            assert page["labels"]["alertname"] == "ModelAvailabilityBudgetBurn"
            assert page["labels"]["slo"] == "availability" and page["labels"]["time_scale"] == str(TIME_SCALE)
            assert "error budget burning at" in page["annotations"]["summary"]
            assert page["annotations"]["runbook_url"]
            # Both pages share host:port; their target labels and instance tell them apart.
            sandbox = [
                t for t in await targets(m.prometheus_url) if t["labels"]["job"] in ("gateway", "other")
            ]
            assert sorted(t["labels"]["pod"] for t in sandbox) == ["gw-0", "other-0"]
            assert len({t["labels"]["instance"] for t in sandbox}) == 2
            assert all(t["health"] == "up" for t in sandbox)
        return pids

    started = time.monotonic()
    pids = asyncio.run(scenario())
    assert time.monotonic() - started < 40
    assert set(pids) == {"prometheus", "alertmanager"}
    assert not [name for name, pid in pids.items() if alive(pid)]
    assert (state / "prometheus.log").stat().st_size > 0 and (state / "alertmanager.log").stat().st_size > 0
    assert oct((state / "alertmanager.yml").stat().st_mode & 0o777) == "0o600"  # it holds the token


CHILD = """
import asyncio, json, sys, time
from sandbox.supervisor import Monitoring

async def main():
    async with Monitoring(sys.argv[1], sys.argv[2], [], sys.argv[3]) as m:
        print(json.dumps(m.pids), flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


@pytest.mark.slow
def test_children_die_when_the_parent_is_killed(tmp_path: Path, fleet: FakeFleet) -> None:
    am_config = render_alertmanager_config(f"{fleet.url}/webhook", None, TIME_SCALE)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "state"), f"{fleet.url}/sd", am_config],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        pids: dict[str, int] = json.loads(child.stdout.readline())
        assert pids and all(alive(pid) for pid in pids.values())
        child.send_signal(signal.SIGKILL)  # no cleanup code runs: only the kernel can stop the children
        child.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [name for name, pid in pids.items() if alive(pid)]
    finally:
        child.kill()
        child.wait()


def test_taken_port_gives_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monitoring = Monitoring(
            tmp_path, "http://127.0.0.1:1/sd", [], "route: {receiver: x}\n", prometheus_port=port
        )
        with pytest.raises(PortInUseError, match=f"port {port} .*already in use.*prometheus"):
            asyncio.run(monitoring.start())
    assert monitoring.processes == {}


def test_missing_binaries_name_the_debian_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monitoring = Monitoring(tmp_path / "state", "http://127.0.0.1:1/sd", [], "")
    with pytest.raises(
        MissingBinaryError, match="apt-get install prometheus prometheus-alertmanager"
    ) as info:
        asyncio.run(monitoring.start())
    assert "prometheus" in str(info.value)
    # Prometheus alone is not enough: the error then names Alertmanager under both its names.
    prometheus = shutil.which("prometheus", path="/usr/bin:/usr/local/bin:/bin")
    assert prometheus, "prometheus is installed in this environment"
    os.symlink(prometheus, empty / "prometheus")
    with pytest.raises(MissingBinaryError, match="prometheus-alertmanager or alertmanager not found"):
        asyncio.run(monitoring.start())


def test_a_process_that_dies_while_starting_reports_its_log(tmp_path: Path) -> None:
    monitoring = Monitoring(
        tmp_path, "http://127.0.0.1:1/sd", [], "route: [not, a, mapping]\n", ready_timeout=15
    )
    with pytest.raises(StartupError, match="alertmanager exited with status") as info:
        asyncio.run(monitoring.start())
    assert "alertmanager.log" in str(info.value)
    assert not [pid for pid in monitoring.pids.values() if alive(pid)]
