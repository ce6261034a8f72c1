"""`firebreak serve` as it runs against a real cluster: its own process, `firebreak mcp all` over stdio with
the cluster's kubeconfig and endpoints, Alertmanager's webhook with a token, and the store on disk. Here the
cluster is the sandbox; the agent process knows nothing else about it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.store import Store
from harness.sandbox_run import RunningSandbox
from sandbox.processes import free_ports
from tests.polling import eventually

pytestmark = pytest.mark.slow

FIREBREAK = str(Path(sys.executable).with_name("firebreak"))
TOKEN = "serve-test-token"


def test_serve_heals_a_bad_rollout_through_stdio_mcp_and_the_webhook(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    database = f"sqlite:///{tmp_path / 'firebreak.db'}"
    with RunningSandbox(webhook_url=f"http://127.0.0.1:{port}/webhook/alertmanager", webhook_token=TOKEN,
                        agent_metrics=f"127.0.0.1:{port}") as fleet:
        fleet.wait_for_first_scrapes()
        config = tmp_path / "agent.yaml"
        config.write_text(yaml.safe_dump({
            "database_url": database, "time_scale": fleet.time_scale, "watch_interval_s": 1,
            "verify_window_s": 300, "webhook": {"port": port},
            "notify": {"alertmanager": {"url": fleet.endpoints["alertmanager"]}},
            "mcp": {"command": [FIREBREAK, "mcp", "all", "--transport", "stdio"], "env": fleet.agent_env()}}))
        agent = subprocess.Popen([FIREBREAK, "serve", "--config", str(config)], cwd=tmp_path,
                                 env={**os.environ, "FIREBREAK_WEBHOOK_TOKEN": TOKEN},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            fleet.inject([{"kind": "bad_rollout", "at_s": 3, "target": {"deployment": "qwen-7b"},
                           "params": {"error_share": 0.4}}])
            with Store.open(database) as store:
                resolved = eventually(lambda: store.list_incidents(status="resolved"), 150, interval_s=1)
                assert resolved, "timed out waiting for a resolved incident"
                detail = store.get_incident(resolved[0].id)
                alerts = eventually(lambda: [alert for i in store.list_incidents()
                                             for alert in store.get_incident(i.id).alerts], 60, interval_s=1)
                assert alerts, "timed out waiting for Alertmanager's page to reach the webhook"
        finally:
            agent.send_signal(signal.SIGTERM)
            output = agent.communicate(timeout=30)[0]
    assert agent.returncode == 0, output
    assert detail.incident.diagnosis is not None and detail.incident.diagnosis.root_cause == "bad_rollout"
    assert [(a.kind, a.target, a.status) for a in detail.actions] == [
        ("rollback_deployment", "deployment/qwen-7b", "succeeded")]
    assert alerts[0].labels["model"] == "qwen-7b"
