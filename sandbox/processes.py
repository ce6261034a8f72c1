"""Starting and stopping the monitoring binaries: finding them, choosing free loopback ports, and one
managed child process that is ready when its `/-/ready` answers and never outlives the sandbox (SIGTERM, then
SIGKILL, and `PR_SET_PDEATHSIG` on Linux if the Python process dies without cleaning up)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"
APT_HINT = "apt-get install prometheus prometheus-alertmanager"
PROMETHEUS_NAMES = ("prometheus",)
# Debian and Ubuntu ship Alertmanager as `prometheus-alertmanager`; upstream calls it `alertmanager`.
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
PR_SET_PDEATHSIG = 1
LOG_TAIL_BYTES = 3000


class MonitoringError(RuntimeError):
    """Prometheus or Alertmanager could not be started or stopped."""


class MissingBinaryError(MonitoringError):
    pass


class PortInUseError(MonitoringError):
    def __init__(self, port: int, what: str):
        super().__init__(f"port {port} on {LOOPBACK} is already in use (wanted for {what})")
        self.port = port


class StartupError(MonitoringError):
    pass


def find_binary(names: Sequence[str], explicit: str | None = None) -> str:
    """The first of `names` on PATH (or `explicit`, a path or name); a clear error naming the package."""
    candidates = [explicit] if explicit else list(names)
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise MissingBinaryError(
        f"{' or '.join(candidates)} not found on PATH; install it with `{APT_HINT}` (Debian/Ubuntu)"
    )


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Ports the kernel considers free now; all sockets are held until the end so the ports differ."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]


def _load_libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


# Loaded in the parent: after fork, only async-signal-safe work should happen in the child.
_LIBC = _load_libc()


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGKILL the child when its parent dies, even by SIGKILL.

    The death signal fires when the *thread* that forked the child exits, so start Monitoring from a
    thread that lives as long as the monitoring should (normally the main thread running asyncio).
    """

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would ever signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace").strip()


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    process: asyncio.subprocess.Process
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def failure(self, headline: str) -> MonitoringError:
        """An error with the log's tail, recognising a port taken after we checked it."""
        tail = _tail(self.log_path)
        port = int(self.url.rsplit(":", 1)[1])
        if "address already in use" in tail:
            return PortInUseError(port, self.name)
        return StartupError(f"{headline}; last lines of {self.log_path}:\n{tail}")

    async def wait_ready(self, client: httpx.AsyncClient, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.returncode is not None:
                raise self.failure(f"{self.name} exited with status {self.process.returncode} while starting")
            with contextlib.suppress(httpx.TransportError):
                response = await client.get(f"{self.url}/-/ready", timeout=1.0)
                if response.status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise self.failure(f"{self.name} not ready at {self.url}/-/ready after {timeout:g}s")
            await asyncio.sleep(0.1)

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; the whole process group, in case of helpers."""
        if self.process.returncode is None:
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self._signal(signal.SIGKILL)
        await self.process.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
