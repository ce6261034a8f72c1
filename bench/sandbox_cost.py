"""The sandbox's own cost with Prometheus scraping every second: CPU (cores) and memory (RSS) of the
`firebreak sandbox up` process alone, Prometheus and Alertmanager excluded.

usage: .venv/bin/python bench/sandbox_cost.py [--profile default|large] [--seconds 60]
Prints one table row per profile; numbers come from /proc of the running process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import HttpEndpoint

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(profile: str, seconds: float) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmp:
        firebreak = Path(sys.executable).with_name("firebreak")
        process = subprocess.Popen([str(firebreak), "sandbox", "up", "--profile", profile, "--state-dir", tmp],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            endpoints = Path(tmp) / "endpoints.json"
            deadline = time.monotonic() + 120
            while not endpoints.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sandbox ({profile}) did not come up")
                time.sleep(0.5)
            time.sleep(10)  # let Prometheus discover every target and settle
            cpu0, wall0 = cpu_seconds(process.pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - wall0 < seconds:
                time.sleep(1)
                peak = max(peak, rss_mib(process.pid))
            cores = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - wall0)
            prometheus = json.loads(endpoints.read_text())["prometheus"]
            targets = prometheus_api(HttpEndpoint(url=prometheus)).targets(state="active")["activeTargets"]
            up = sum(t["health"] == "up" for t in targets)
            return {"profile": profile, "cores": cores, "rss_mib": peak, "targets": len(targets), "up": up}
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", help="default and large unless given")
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window (default 60)")
    args = parser.parse_args()
    print(f"{'profile':<10}{'CPU (cores)':>12}{'peak RSS (MiB)':>16}{'targets up':>12}")
    for profile in args.profile or ["default", "large"]:
        r = measure(profile, args.seconds)
        print(f"{r['profile']:<10}{r['cores']:>12.3f}{r['rss_mib']:>16.0f}{r['up']:>6}/{r['targets']:<5}", flush=True)


if __name__ == "__main__":
    main()
