"""A running sandbox API server for the apiserver tests: real uvicorn, a hand-built mini fleet, a kubeconfig.

The server runs on its own event loop in a background thread; every store access from a test goes through
`ApiServer.call`, which runs it on that loop (the store, like the sandbox, is single-loop and lock-free).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import queue
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
import yaml

from sandbox.apiserver import build_app
from sandbox.errors import ApiError
from sandbox.store import Store
from sandbox.tls import issue

T = TypeVar("T")
Obj = dict[str, Any]
TOKEN = "test-token-3f9a"
NS = "inference"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- a tiny in-memory log source ------------------------------------------------------------------------------
@dataclass
class MemoryLogs:
    """Lines per (namespace, pod, container, previous), each with the time it was written."""

    lines: dict[tuple[str, str, str, bool], list[tuple[datetime, str]]] = field(default_factory=dict)
    followers: dict[tuple[str, str, str], list[asyncio.Queue[str]]] = field(default_factory=dict)

    def add(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False,
            age_s: float = 0.0) -> None:
        at = datetime.now(UTC) - timedelta(seconds=age_s)
        self.lines.setdefault((namespace, pod, container, previous), []).append((at, text))
        if not previous:
            for queue in self.followers.get((namespace, pod, container), []):
                queue.put_nowait(text + "\n")

    def read(self, namespace: str, pod: str, container: str | None, *, previous: bool, tail_lines: int | None,
             since_seconds: int | None, timestamps: bool) -> str:
        key = (namespace, pod, container or "", previous)
        if previous and key not in self.lines:
            raise ApiError(400, "BadRequest", f'previous terminated container "{container}" in pod "{pod}" not found')
        entries = self.lines.get(key, [])
        if since_seconds is not None:
            entries = [e for e in entries if e[0] >= datetime.now(UTC) - timedelta(seconds=since_seconds)]
        if tail_lines is not None:
            entries = entries[-tail_lines:] if tail_lines > 0 else []
        return "".join((f"{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} " if timestamps else "") + text + "\n"
                       for at, text in entries)

    async def follow(self, namespace: str, pod: str, container: str | None) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        queues = self.followers.setdefault((namespace, pod, container or ""), [])
        queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            queues.remove(queue)


# -- the mini fleet ------------------------------------------------------------------------------------------
def node(name: str, ip: str) -> Obj:
    capacity = {"cpu": "96", "memory": "1056Gi", "nvidia.com/gpu": "8", "pods": "110",
                "ephemeral-storage": "3844Gi"}
    conditions = [{"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m,
                   "lastHeartbeatTime": ago(10), "lastTransitionTime": ago(86400)}
                  for t, r, m in (("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                                  ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                                  ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status", "lastHeartbeatTime": ago(10),
                       "lastTransitionTime": ago(86400)})
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                                              "node-role.kubernetes.io/gpu": ""},
                     "creationTimestamp": ago(86400 * 3)},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {"capacity": capacity, "allocatable": dict(capacity), "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.31.4", "kubeProxyVersion": "v1.31.4",
                                "osImage": "Ubuntu 22.04.4 LTS", "kernelVersion": "5.15.0-119-generic",
                                "containerRuntimeVersion": "containerd://1.7.13", "architecture": "amd64",
                                "operatingSystem": "linux", "machineID": "m-" + name, "systemUUID": "u-" + name,
                                "bootID": "b-" + name}},
    }


def pod_template(image: str, hash_label: str | None = None) -> Obj:
    labels = {"app": "qwen-7b"} | ({"pod-template-hash": hash_label} if hash_label else {})
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{
            "name": "vllm", "image": image, "args": ["--model", "Qwen/Qwen2.5-7B-Instruct", "--port", "8000"],
            "ports": [{"containerPort": 8000, "name": "http", "protocol": "TCP"}],
            "env": [{"name": "VLLM_LOGGING_LEVEL", "value": "INFO"}],
            "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1", "cpu": "4"}},
            "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "securityContext": {}},
    }


def owner(kind: str, obj: Obj) -> list[Obj]:
    return [{"apiVersion": "apps/v1", "kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
             "controller": True, "blockOwnerDeletion": True}]


def container_status(state: Obj, ready: bool, restarts: int = 0, last: Obj | None = None) -> Obj:
    return {"name": "vllm", "image": "vllm/vllm-openai:v0.6.3", "imageID": "docker.io/vllm/vllm-openai@sha256:ab12",
            "containerID": "containerd://" + "c" * 64, "ready": ready, "started": ready, "restartCount": restarts,
            "state": state, "lastState": last or {}}


def pod(name: str, rs: Obj, node_name: str, ip: str, status: Obj) -> Obj:
    template = copy.deepcopy(rs["spec"]["template"])
    return {"metadata": {"name": name, "namespace": NS, "labels": template["metadata"]["labels"],
                         "generateName": rs["metadata"]["name"] + "-", "ownerReferences": owner("ReplicaSet", rs),
                         "creationTimestamp": ago(3600)},
            "spec": template["spec"] | {"nodeName": node_name, "serviceAccountName": "default"},
            "status": {"hostIP": "10.0.0.11" if node_name == "gpu-node-1" else "10.0.0.12", "podIP": ip,
                       "podIPs": [{"ip": ip}], "startTime": ago(3600), "qosClass": "Burstable", **status}}


def conditions(ready: bool) -> list[Obj]:
    flag = "True" if ready else "False"
    return [{"type": "Initialized", "status": "True", "lastTransitionTime": ago(3600)},
            {"type": "Ready", "status": flag, "lastTransitionTime": ago(600)},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": ago(600)},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(3600)}]


def event(name: str, involved: Obj, reason: str, message: str, kind: str = "Normal", count: int = 1) -> Obj:
    meta = involved["metadata"]
    return {"metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": involved["kind"], "namespace": NS, "name": meta["name"], "uid": meta["uid"],
                               "apiVersion": involved["apiVersion"], "resourceVersion": meta["resourceVersion"]},
            "reason": reason, "message": message, "type": kind, "count": count,
            "source": {"component": "kubelet", "host": involved.get("spec", {}).get("nodeName", "")},
            "firstTimestamp": ago(900), "lastTimestamp": ago(30)}


def populate(store: Store, logs: MemoryLogs) -> None:
    """namespace inference, two GPU nodes, deployment qwen-7b with revisions 1 and 2, three pods (one crashing)."""
    for name in (NS, "default", "kube-system"):
        store.create("namespaces", {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    store.create("nodes", node("gpu-node-1", "10.0.0.11"))
    store.create("nodes", node("gpu-node-2", "10.0.0.12"))
    deploy = store.create("apps/deployments", {
        "metadata": {"name": "qwen-7b", "namespace": NS, "labels": {"app": "qwen-7b"},
                     "annotations": {"deployment.kubernetes.io/revision": "2"}, "creationTimestamp": ago(7200)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "qwen-7b"}},
                 "template": pod_template("vllm/vllm-openai:v0.6.3"),
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2,
                   "availableReplicas": 2, "unavailableReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability.",
                                   "lastUpdateTime": ago(600), "lastTransitionTime": ago(600)}]},
    })
    store.create("apps/replicasets", {
        "metadata": {"name": "qwen-7b-5d9c7b8f6", "namespace": NS, "creationTimestamp": ago(7200),
                     "labels": {"app": "qwen-7b", "pod-template-hash": "5d9c7b8f6"},
                     "annotations": {"deployment.kubernetes.io/revision": "1",
                                     "deployment.kubernetes.io/desired-replicas": "3"},
                     "ownerReferences": owner("Deployment", deploy)},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "qwen-7b", "pod-template-hash": "5d9c7b8f6"}},
                 "template": pod_template("vllm/vllm-openai:v0.6.2", "5d9c7b8f6")},
        "status": {"replicas": 0, "observedGeneration": 2},
    })
    rs = store.create("apps/replicasets", {
        "metadata": {"name": "qwen-7b-7f8d9c6b5", "namespace": NS, "creationTimestamp": ago(3600),
                     "labels": {"app": "qwen-7b", "pod-template-hash": "7f8d9c6b5"},
                     "annotations": {"deployment.kubernetes.io/revision": "2",
                                     "deployment.kubernetes.io/desired-replicas": "3"},
                     "ownerReferences": owner("Deployment", deploy)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "qwen-7b", "pod-template-hash": "7f8d9c6b5"}},
                 "template": pod_template("vllm/vllm-openai:v0.6.3", "7f8d9c6b5")},
        "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
                   "observedGeneration": 1},
    })
    running = {"phase": "Running", "conditions": conditions(True),
               "containerStatuses": [container_status({"running": {"startedAt": ago(3500)}}, True)]}
    crashing = {"phase": "Running", "conditions": conditions(False), "containerStatuses": [container_status(
        {"waiting": {"reason": "CrashLoopBackOff",
                     "message": "back-off 2m40s restarting failed container=vllm pod=qwen-7b-7f8d9c6b5-x2k4p"}},
        False, restarts=4,
        last={"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": ago(200),
                             "finishedAt": ago(95), "containerID": "containerd://" + "d" * 64}})]}
    pods = [pod("qwen-7b-7f8d9c6b5-a1b2c", rs, "gpu-node-1", "10.244.1.5", running),
            pod("qwen-7b-7f8d9c6b5-d3e4f", rs, "gpu-node-2", "10.244.2.7", running),
            pod("qwen-7b-7f8d9c6b5-x2k4p", rs, "gpu-node-2", "10.244.2.9", crashing)]
    stored = [store.create("pods", p) for p in pods]
    store.create("events", event("qwen-7b-7f8d9c6b5-x2k4p.17f1", stored[2], "BackOff",
                                 "Back-off restarting failed container vllm in pod qwen-7b-7f8d9c6b5-x2k4p",
                                 kind="Warning", count=12))
    store.create("events", event("qwen-7b-7f8d9c6b5-x2k4p.17f0", stored[2], "Pulled",
                                 'Container image "vllm/vllm-openai:v0.6.3" already present on machine'))
    store.create("configmaps", {"metadata": {"name": "gateway-routes", "namespace": NS},
                                "data": {"routes.yaml": "qwen-7b:\n  self: 95\n  openai: 5\n"}})
    store.create("services", {"metadata": {"name": "qwen-7b", "namespace": NS},
                              "spec": {"type": "ClusterIP", "clusterIP": "10.96.12.7", "selector": {"app": "qwen-7b"},
                                       "ports": [{"name": "http", "port": 8000, "targetPort": 8000,
                                                  "protocol": "TCP"}]}})
    for text in ("INFO 11-20 10:00:01 api_server.py:528] vLLM API server version 0.6.3",
                 "INFO 11-20 10:00:09 model_runner.py:1072] Loading model weights took 14.99 GB",
                 'INFO:     10.244.0.12:51334 - "POST /v1/chat/completions HTTP/1.1" 200 OK'):
        logs.add(NS, "qwen-7b-7f8d9c6b5-a1b2c", "vllm", text, age_s=1800)
    logs.add(NS, "qwen-7b-7f8d9c6b5-a1b2c", "vllm", 'INFO:     10.244.0.12:51390 - "GET /health HTTP/1.1" 200 OK')
    logs.add(NS, "qwen-7b-7f8d9c6b5-x2k4p", "vllm", "torch.OutOfMemoryError: CUDA out of memory. Tried to "
             "allocate 2.00 GiB", previous=True)
    logs.add(NS, "qwen-7b-7f8d9c6b5-x2k4p", "vllm", "INFO 11-20 10:31:02 api_server.py:528] starting")


# -- the server ----------------------------------------------------------------------------------------------
class ApiServer:
    def __init__(self, tmp: Path):
        self.store, self.logs = Store(), MemoryLogs()
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        # HTTPS because client-go sends a kubeconfig's token to https:// servers only.
        self.cert = issue(tmp / "pki")
        ca_data = base64.b64encode(self.cert.ca_pem).decode()
        self.ca_file = tmp / "pki" / "ca.crt"
        self.ca_file.write_bytes(self.cert.ca_pem)
        config = uvicorn.Config(build_app(self.store, TOKEN, self.logs), log_level="warning", lifespan="off",
                                access_log=False, ssl_certfile=str(self.cert.cert_file),
                                ssl_keyfile=str(self.cert.key_file))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.kubeconfig = tmp / "kubeconfig"
        self.cache = tmp / "kube-cache"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url,
                                                          "certificate-authority-data": ca_data}}],
            "users": [{"name": "sre", "user": {"token": TOKEN}}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sre", "namespace": NS}}],
            "current-context": "sandbox"}))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()
        self.call(lambda: populate(self.store, self.logs))
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not self.server.started:
            assert datetime.now(UTC) < deadline, "the API server did not start"
            threading.Event().wait(0.02)

    def stop(self) -> None:
        # Don't wait for clients' idle keep-alive (TLS) connections: the test is over.
        self.server.should_exit = self.server.force_exit = True
        self.thread.join(timeout=10)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop (where the store lives) and return its result."""
        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def get(self, key: str, name: str, namespace: str | None = NS) -> Obj:
        return self.call(lambda: self.store.get(key, namespace, name))

    def find(self, key: str, name: str, namespace: str | None = NS) -> Obj | None:
        return self.call(lambda: copy.deepcopy(self.store.find(key, namespace, name)))

    def mutate(self, key: str, name: str, change: Callable[[Obj], None], namespace: str | None = NS) -> Obj:
        return self.call(lambda: self.store.mutate(key, namespace, name, change))

    def http(self, token: str | None = TOKEN) -> httpx.Client:
        """A plain HTTP client for wire-level checks (trusting the server's CA, with the token by default)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=ssl.create_default_context(cafile=str(self.ca_file)),
                            headers=headers, timeout=10)

    @property
    def kubectl_env(self) -> dict[str, str]:
        return os.environ | {"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache),
                             "HOME": str(self.cache.parent)}

    def kubectl_background(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (`get -w`, `logs -f`, `rollout status`); the caller stops it."""
        return subprocess.Popen([KUBECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.kubectl_env)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=timeout,
                                env=self.kubectl_env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Lines:
    """Reads a background process's stdout line by line, so a test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10) -> str:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while (left := (deadline - datetime.now(UTC)).total_seconds()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no matching line within {timeout}s; saw {self.seen}")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err or ""
