"""What the kubernetes server's watch mirror costs: memory held and time to become live, per fleet profile.

The mirror keeps every pod, node, ReplicaSet and event of the cluster as parsed JSON (mcp_servers/kubernetes/mirror.py).
For each profile this starts a sandbox, then a separate process (so that the sandbox's own allocations are not
counted) that starts a mirror on it and reports the objects held, how long the four lists took to make it live,
the growth of the process's resident memory, and the Python heap the objects take (tracemalloc: what a second
mirror allocated and still holds once live).

usage: .venv/bin/python bench/kube_mirror_memory.py [--profile default large]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from harness.sandbox_run import RunningSandbox
from mcp_servers.kubernetes.client import Kube
from mcp_servers.kubernetes.mirror import COLLECTIONS, Mirror
from mcp_servers.settings import Settings


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_here() -> dict[str, float | int]:
    """Runs in the child process, against the cluster that $KUBECONFIG names: one mirror timed and its resident
    memory taken, then one more under tracemalloc (which slows the lists down) for the heap it holds."""
    kube = Kube(Settings.load())
    kube.call(kube.core.get_api_resources)  # the client's own setup is not the mirror's cost
    gc.collect()
    rss_before, started = resident_mib(), time.monotonic()
    timed = live_mirror(kube)
    live_s, rss_growth = time.monotonic() - started, resident_mib() - rss_before
    counts = {name: len(timed.live(name).items()) for name in COLLECTIONS}  # type: ignore[union-attr]
    timed.stop()
    del timed
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    traced = live_mirror(kube)
    gc.collect()
    held = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    traced.stop()
    return {**counts, "held_mib": held / 2**20, "rss_growth_mib": rss_growth, "live_s": live_s}


def live_mirror(kube: Kube) -> Mirror:
    mirror = Mirror(kube)
    if not mirror.wait_live(60):
        raise RuntimeError("the mirror did not become live")
    return mirror


def measure(profile: str) -> dict[str, float | int | str]:
    with RunningSandbox(profile=profile) as sandbox:
        sandbox.wait_for_first_scrapes()
        child = subprocess.run([sys.executable, __file__, "--child"], env={**os.environ, **sandbox.agent_env()},
                               capture_output=True, text=True, check=True)
    return {"profile": profile, **json.loads(child.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", nargs="+", default=["default", "large"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_here()))
        return
    header = (f"{'profile':<9}{'pods':>6}{'nodes':>7}{'replicasets':>13}{'events':>8}{'heap MiB':>10}"
              f"{'RSS +MiB':>10}{'live in s':>11}")
    print(header)
    print("-" * len(header))
    for profile in args.profile:
        row = measure(profile)
        print(f"{row['profile']:<9}{row['pods']:>6}{row['nodes']:>7}{row['replicasets']:>13}{row['events']:>8}"
              f"{row['held_mib']:>10.2f}{row['rss_growth_mib']:>10.1f}{row['live_s']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
