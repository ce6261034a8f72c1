"""Supervisor of the real Prometheus and Alertmanager processes that watch the sandbox.

    async with Monitoring(state_dir, sd_url, rule_files, alertmanager_config) as m:
        m.prometheus_url, m.alertmanager_url

Prometheus discovers the sandbox's targets over HTTP service discovery (`sd_url`), evaluates the given
rule files and sends alerts to its own Alertmanager; the Alertmanager configuration (receivers, routes)
is passed in as text. This module must not import `agent` (a checked boundary): the caller renders the
rules and the configuration and hands over files and text.

Both processes listen on loopback only, keep their data and logs in `state_dir`, and never outlive the
supervisor: they are stopped on exit (SIGTERM, then SIGKILL), and the kernel kills them if the Python
process dies without cleaning up (`PR_SET_PDEATHSIG`, Linux). Finding, starting and stopping one binary is
`processes.py`'s.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from sandbox.processes import (
    ALERTMANAGER_NAMES,
    LOOPBACK,
    PROMETHEUS_NAMES,
    ManagedProcess,
    MonitoringError,
    PortInUseError,
    die_with_parent,
    find_binary,
    free_ports,
    port_is_free,
)


class Monitoring:
    """Starts Prometheus and Alertmanager for a sandbox; an async context manager.

    `sd_url` serves Prometheus HTTP service discovery JSON (target groups whose labels may set `job`,
    `__metrics_path__`, `namespace`, `pod`, `node`...). `rule_files` are paths handed to Prometheus as
    they are. `alertmanager_config` is the full Alertmanager YAML (it may hold a bearer token: it is
    written readable by the owner only). Durations are Prometheus durations (`1s`, `500ms`). Unless
    `keep_data`, the TSDB and Alertmanager data of an earlier run in `state_dir` are deleted at start.
    """

    def __init__(
        self,
        state_dir: str | Path,
        sd_url: str,
        rule_files: Sequence[str | Path],
        alertmanager_config: str,
        *,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        sd_refresh_interval: str = "2s",
        retention: str = "1d",
        honor_labels: bool = True,
        alert_resend_delay: str = "1s",
        keep_data: bool = False,
        prometheus_port: int | None = None,
        alertmanager_port: int | None = None,
        prometheus_bin: str | None = None,
        alertmanager_bin: str | None = None,
        ready_timeout: float = 30.0,
        stop_grace: float = 5.0,
        agent_target: str | None = None,
    ):
        self.state_dir = Path(state_dir).resolve()
        self.sd_url = sd_url
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.alertmanager_config = alertmanager_config
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.sd_refresh_interval = sd_refresh_interval
        self.retention = retention
        self.honor_labels = honor_labels
        self.alert_resend_delay = alert_resend_delay
        self.keep_data = keep_data
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        # host:port of the agent that works this fleet: scraped as job "firebreak" for its heartbeat
        self.agent_target = agent_target
        self._requested_ports = (prometheus_port, alertmanager_port)
        self._bins = (prometheus_bin, alertmanager_bin)
        self.prometheus_port = 0
        self.alertmanager_port = 0
        self.processes: dict[str, ManagedProcess] = {}

    @property
    def prometheus_url(self) -> str:
        return f"http://{LOOPBACK}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{LOOPBACK}:{self.alertmanager_port}"

    @property
    def prometheus_config_path(self) -> Path:
        return self.state_dir / "prometheus.yml"

    @property
    def alertmanager_config_path(self) -> Path:
        return self.state_dir / "alertmanager.yml"

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def exited(self) -> dict[str, int]:
        """Exit status of each process that has stopped: a long sandbox run can watch for a crash."""
        return {
            n: p.process.returncode for n, p in self.processes.items() if p.process.returncode is not None
        }

    async def __aenter__(self) -> Monitoring:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Check binaries and ports, write the configs, start Alertmanager then Prometheus, wait for both."""
        prometheus = find_binary(PROMETHEUS_NAMES, self._bins[0])
        alertmanager = find_binary(ALERTMANAGER_NAMES, self._bins[1])
        self._choose_ports()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.keep_data:
            self._wipe_data()
        self._write_configs()
        try:
            # Alertmanager first, so that Prometheus' first alerts have somewhere to go.
            await self._spawn(
                "alertmanager", [alertmanager, *self._alertmanager_args()], self.alertmanager_url
            )
            await self._spawn("prometheus", [prometheus, *self._prometheus_args()], self.prometheus_url)
            async with httpx.AsyncClient(trust_env=False) as client:
                for proc in self.processes.values():
                    await proc.wait_ready(client, self.ready_timeout)
        except BaseException:
            # Shielded so that a cancelled start still leaves nothing running.
            await asyncio.shield(self.stop())
            raise

    async def stop(self) -> None:
        """Stop everything this supervisor started, Prometheus first (it would keep sending alerts)."""
        for name in ("prometheus", "alertmanager"):
            proc = self.processes.get(name)
            if proc is not None:
                await proc.stop(self.stop_grace)

    async def reload_prometheus(self) -> None:
        """Re-read prometheus.yml and the rule files (after the caller rewrote a rule file)."""
        await self._post(f"{self.prometheus_url}/-/reload")

    async def reload_alertmanager(self, config: str | None = None) -> None:
        """Optionally replace the Alertmanager configuration, then have Alertmanager re-read it."""
        if config is not None:
            self.alertmanager_config = config
            self._write_private(self.alertmanager_config_path, config)
        await self._post(f"{self.alertmanager_url}/-/reload")

    async def _post(self, url: str) -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.post(url, timeout=10.0)
        if response.status_code != 200:
            raise MonitoringError(f"POST {url}: {response.status_code} {response.text.strip()}")

    def _choose_ports(self) -> None:
        wanted = dict(zip(("prometheus", "alertmanager"), self._requested_ports, strict=True))
        for what, port in wanted.items():
            if port is not None and not port_is_free(port):
                raise PortInUseError(port, what)
        spare = iter(free_ports(sum(p is None for p in wanted.values())))
        self.prometheus_port = wanted["prometheus"] or next(spare)
        self.alertmanager_port = wanted["alertmanager"] or next(spare)
        if self.prometheus_port == self.alertmanager_port:
            raise MonitoringError(f"Prometheus and Alertmanager cannot share port {self.prometheus_port}")

    def prometheus_config(self) -> dict[str, Any]:
        """The prometheus.yml written to the state dir."""
        scrape: dict[str, Any] = {
            "job_name": "sandbox",  # targets usually bring their own `job` label, which wins
            # dcgm-exporter reports the `pod`/`namespace` of the workload on the GPU, which must win over
            # the exporter's own target labels (kube-prometheus scrapes it with honorLabels too).
            "honor_labels": self.honor_labels,
            "http_sd_configs": [{"url": self.sd_url, "refresh_interval": self.sd_refresh_interval}],
            "relabel_configs": _instance_relabeling(),
        }
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                # Prometheus rejects a timeout longer than the interval; with 1s scrapes, 1s it is.
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(p) for p in self.rule_files],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{self.alertmanager_port}"]}]}]
            },
            "scrape_configs": [
                scrape,
                _static_job("prometheus", f"{LOOPBACK}:{self.prometheus_port}"),
                _static_job("alertmanager", f"{LOOPBACK}:{self.alertmanager_port}"),
                *([_static_job("firebreak", self.agent_target)] if self.agent_target else []),
            ],
        }

    def _wipe_data(self) -> None:
        # A new sandbox starts its counters from zero: an old TSDB would add counter resets, and
        # Prometheus would restore the old run's alert state (`for`) and fire stale alerts.
        for name in ("prometheus-data", "alertmanager-data"):
            shutil.rmtree(self.state_dir / name, ignore_errors=True)

    def _write_configs(self) -> None:
        self.prometheus_config_path.write_text(yaml.safe_dump(self.prometheus_config(), sort_keys=False))
        self._write_private(self.alertmanager_config_path, self.alertmanager_config)

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        # The Alertmanager config may carry the webhook's bearer token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _prometheus_args(self) -> list[str]:
        return [
            f"--config.file={self.prometheus_config_path}",
            f"--storage.tsdb.path={self.state_dir / 'prometheus-data'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={LOOPBACK}:{self.prometheus_port}",
            f"--web.external-url={self.prometheus_url}/",
            "--web.enable-lifecycle",  # /-/reload after rules change, /-/quit
            # A firing alert sent before Alertmanager is discovered (discovery updates come every 5s) is
            # lost until the next resend, 1m by default: far too long in compressed time.
            f"--rules.alert.resend-delay={self.alert_resend_delay}",
        ]

    def _alertmanager_args(self) -> list[str]:
        return [
            f"--config.file={self.alertmanager_config_path}",
            f"--storage.path={self.state_dir / 'alertmanager-data'}",
            f"--web.listen-address={LOOPBACK}:{self.alertmanager_port}",
            f"--web.external-url={self.alertmanager_url}/",
            "--cluster.listen-address=",  # no gossip: a single instance needs no cluster port
        ]

    async def _spawn(self, name: str, argv: list[str], url: str) -> None:
        log_path = self.state_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.state_dir,
                # Its own process group: a Ctrl-C on the terminal reaches only us, and we stop it in order.
                start_new_session=True,
                preexec_fn=die_with_parent(os.getpid()),
            )
        self.processes[name] = ManagedProcess(name, argv, log_path, process, url)


def _static_job(name: str, target: str) -> dict[str, Any]:
    return {"job_name": name, "static_configs": [{"targets": [target]}]}


def _instance_relabeling() -> list[dict[str, Any]]:
    """Make `instance` tell apart targets that share host:port and differ by metrics path.

    The sandbox serves many pods' metrics from one server under different paths; with the default
    `instance` (host:port) their series could collide. A target whose SD labels set `instance` keeps it.
    """
    labels = ["instance", "__address__", "__metrics_path__"]
    return [
        # The conventional path adds nothing: such a target's instance stays host:port.
        {
            "source_labels": list(labels),
            "regex": ";([^;]+);/metrics",
            "target_label": "instance",
            "replacement": "$1",
        },
        # Any other path is appended. Regexes are anchored; `;` first means no `instance` label yet.
        {
            "source_labels": list(labels),
            "regex": ";([^;]+);(.*)",
            "target_label": "instance",
            "replacement": "$1$2",
        },
    ]
