"""The kubelets: run the containers of the pods bound to each node, restart them with back-off, report status.

A kubelet whose host is unreachable does nothing at all, as a dead node's kubelet would: its pods keep their
last reported status until the node lifecycle controller marks them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from sandbox import vllm_start
from sandbox.clock import Clock
from sandbox.events import EventRecorder
from sandbox.fleet import FleetSpec
from sandbox.kubetime import now_rfc3339
from sandbox.logs import LogStore
from sandbox.names import pod_key
from sandbox.registry import Registry
from sandbox.store import Store
from sandbox.workloads import Termination, Workload, workload_for
from sandbox.world import Process, World

Obj = dict[str, Any]
BACKOFF_START_S, BACKOFF_MAX_S, BACKOFF_RESET_S = 10.0, 300.0, 600.0  # fleet seconds, as the kubelet's
IMAGE_PULL_S, FAILED_PULL_S, STOP_S = 20.0, 1.5, 5.0
PULL_STATES = ("ContainerCreating", "ErrImagePull", "ImagePullBackOff")


@dataclass
class Container:
    """The kubelet's record of a pod's main container."""

    name: str
    image: str
    workload: Workload
    landed_at: float
    state: str = "waiting"  # waiting | running
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    pulling: bool = False
    pull_failures: int = 0  # consecutive, for the image back-off
    started_at: str = ""
    started_wall: float = 0.0
    restarts: int = 0
    crashes: int = 0  # consecutive crashes, for the back-off; reset after a long enough run
    last_terminated: dict[str, Any] | None = None
    resume_at: float = 0.0  # when ContainerCreating or CrashLoopBackOff ends
    stopping_since: float | None = None
    ready_reported: bool = False
    exits_at: float | None = None  # a start that fails: when the process exits, and how
    exit_with: Termination | None = None
    liveness_failures: int = 0



class Kubelets:
    def __init__(self, store: Store, world: World, fleet: FleetSpec, clock: Clock, logs: LogStore,
                 events: EventRecorder, rng: random.Random, registry: Registry) -> None:
        self.store, self.world, self.fleet, self.clock = store, world, fleet, clock
        self.registry = registry
        self.logs, self.events, self.rng = logs, events, rng
        self.containers: dict[str, Container] = {}
        self._pulled: set[tuple[str, str]] = set()  # (node, image) already on the node

    def sync(self) -> None:
        for pod in list(self.store.objects("pods")):
            node = pod["spec"].get("nodeName")
            if node and node in self.world.hosts and self.world.hosts[node].reachable:
                self._sync_pod(pod, node)

    def start_warm(self) -> None:
        """Bring every bound pod straight to Running and Ready: the fleet has been up for a while."""
        for pod in list(self.store.objects("pods")):
            if pod["spec"].get("nodeName"):
                container = self._container(pod)
                self._pulled.add((pod["spec"]["nodeName"], container.image))
                self._start(pod, container, warm=True)
                self._write_status(pod, container)

    # -- one pod ------------------------------------------------------------------------------------------
    def _container(self, pod: Obj) -> Container:
        key = pod_key(pod)
        if key not in self.containers:
            spec = pod["spec"]["containers"][0]
            self.containers[key] = Container(spec["name"], spec["image"], workload_for(pod, self.world, self.fleet),
                                             landed_at=self.clock.now())
        return self.containers[key]

    def _sync_pod(self, pod: Obj, node: str) -> None:
        container = self._container(pod)
        now = self.clock.now()
        if "deletionTimestamp" in pod["metadata"]:
            self._stop(pod, container, now)
            return
        if pod.get("status", {}).get("phase") in ("Failed", "Succeeded"):
            return  # a terminal pod (an evicted one) keeps its last status until it is deleted
        if container.state == "waiting":
            self._sync_waiting(pod, node, container, now)
        elif container.state == "running":
            self._check_running(pod, container, now)
        self._write_status(pod, container)

    def _sync_waiting(self, pod: Obj, node: str, container: Container, now: float) -> None:
        if container.waiting_reason == "ErrImagePull":
            self._back_off_pull(pod, node, container)
        elif now < container.resume_at:
            return
        elif container.waiting_reason in PULL_STATES:
            self._pull(pod, node, container)
        else:
            self._start(pod, container)

    def _pull(self, pod: Obj, node: str, container: Container) -> None:
        """pkg/kubelet/images/image_manager.go EnsureImageExists: present, or Pulling then Pulled or Failed."""
        if (node, container.image) in self._pulled:
            self.events.emit(pod, "Normal", "Pulled",
                             f'Container image "{container.image}" already present on machine', "kubelet", node)
            self._start(pod, container)
            return
        error = self.registry.pull_error(container.image)
        if not container.pulling:
            container.pulling = True
            took = FAILED_PULL_S if error else IMAGE_PULL_S * self.rng.uniform(0.7, 1.3)
            container.resume_at = self.clock.now() + self.clock.wall(took)
            self.events.emit(pod, "Normal", "Pulling", f'Pulling image "{container.image}"', "kubelet", node)
            return
        container.pulling = False
        if error:
            self._pull_failed(pod, node, container, error)
            return
        self._pulled.add((node, container.image))
        took = (self.clock.now() - container.landed_at) * self.clock.time_scale
        self.events.emit(pod, "Normal", "Pulled", f'Successfully pulled image "{container.image}" in '
                         f"{took:.3f}s ({took:.3f}s including waiting)", "kubelet", node)
        self._start(pod, container)

    def _pull_failed(self, pod: Obj, node: str, container: Container, error: str) -> None:
        """The pull's own event, then kuberuntime's `Error: <reason>` (startContainer), and the image back-off."""
        self.events.emit(pod, "Warning", "Failed", f'Failed to pull image "{container.image}": {error}', "kubelet",
                         node)
        self.events.emit(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", node)
        container.pull_failures += 1
        container.waiting_reason, container.waiting_message = "ErrImagePull", error
        container.resume_at = self.clock.now() + self.clock.wall(_backoff(container.pull_failures))

    def _back_off_pull(self, pod: Obj, node: str, container: Container) -> None:
        """The next sync finds the image in back-off: a Normal `BackOff` and `Error: ImagePullBackOff`."""
        message = f'Back-off pulling image "{container.image}"'
        self.events.emit(pod, "Normal", "BackOff", message, "kubelet", node)
        self.events.emit(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", node)
        container.waiting_reason, container.waiting_message = "ImagePullBackOff", message

    def _start(self, pod: Obj, container: Container, warm: bool = False) -> None:
        key, node = pod_key(pod), pod["spec"]["nodeName"]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        now = self.clock.now()
        load = 0.0 if warm else self.clock.wall(container.workload.load_seconds(self.rng))
        self.world.processes[key] = Process(node=node, started_at=now, ready_at=now + load,
                                            memory_bytes=container.workload.start_memory())
        container.state, container.started_at, container.started_wall = "running", now_rfc3339(), now
        container.ready_reported, container.waiting_message, container.liveness_failures = warm, "", 0
        if self._fails_to_start(pod, container, now):
            self.world.processes[key].ready_at = float("inf")
        else:
            for line in container.workload.startup_lines(pod):
                self.logs.write(ns, name, container.name, line)
        if warm:
            for line in container.workload.ready_lines(pod):
                self.logs.write(ns, name, container.name, line)
            return
        self.events.emit(pod, "Normal", "Created", f"Created container {container.name}", "kubelet", node)
        self.events.emit(pod, "Normal", "Started", f"Started container {container.name}", "kubelet", node)

    def _fails_to_start(self, pod: Obj, container: Container, now: float) -> bool:
        failure = container.workload.start_failure(pod)
        container.exits_at = now + self.clock.wall(failure.after_s) if failure else None
        container.exit_with = failure.termination if failure else None
        return failure is not None

    def _check_running(self, pod: Obj, container: Container, now: float) -> None:
        key = pod_key(pod)
        process = self.world.processes[key]
        termination = self._exited_at_start(container, now) or self._liveness(pod, container, process, now) \
            or container.workload.check(pod, process, self.clock, self.rng)
        if termination:
            self._terminate(pod, container, termination, now)
        elif not container.ready_reported and now >= process.ready_at:
            container.ready_reported = True
            for line in container.workload.ready_lines(pod):
                self.logs.write(pod["metadata"]["namespace"], pod["metadata"]["name"], container.name, line)

    @staticmethod
    def _exited_at_start(container: Container, now: float) -> Termination | None:
        if container.exits_at is not None and now >= container.exits_at:
            return container.exit_with
        return None

    def _liveness(self, pod: Obj, container: Container, process: Process, now: float) -> Termination | None:
        """An HTTP liveness probe against a server still loading: vLLM binds its port before the engine starts
        but accepts only once it serves, so each probe is refused (pkg/kubelet/prober: `Unhealthy`
        "Liveness probe failed: <error>"); after failureThreshold failures kuberuntime kills the container
        (`Killing` "Container X failed liveness probe, will be restarted") with SIGTERM."""
        probe = pod["spec"]["containers"][0].get("livenessProbe")
        if not probe or now >= process.ready_at:
            return None
        period, threshold = probe.get("periodSeconds", 10), probe.get("failureThreshold", 3)
        probing_for = (now - process.started_at) * self.clock.time_scale - probe.get("initialDelaySeconds", 0)
        failures = min(threshold, int(probing_for // period) + 1) if probing_for >= 0 else 0
        node = pod["spec"]["nodeName"]
        for _ in range(container.liveness_failures, failures):
            self.events.emit(pod, "Warning", "Unhealthy", f"Liveness probe failed: {_probe_error(pod, probe)}",
                             "kubelet", node)
        container.liveness_failures = max(container.liveness_failures, failures)
        if failures < threshold:
            return None
        self.events.emit(pod, "Normal", "Killing",
                         f"Container {container.name} failed liveness probe, will be restarted", "kubelet", node)
        return Termination(vllm_start.SIGINT_EXIT, "Error", vllm_start.interrupted_while_loading())

    def _terminate(self, pod: Obj, container: Container, why: Termination, now: float) -> None:
        ns, name, node = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["spec"]["nodeName"]
        for line in why.log_lines:
            self.logs.write(ns, name, container.name, line)
        # The dead incarnation is `lastState` from now on, so `logs --previous` must find it during the back-off.
        self.logs.restart(ns, name, container.name)
        process = self.world.processes.pop(pod_key(pod), None)
        if process:
            process.killed = True
        ran_for = (now - container.started_wall) * self.clock.time_scale
        container.last_terminated = {"terminated": {
            "exitCode": why.exit_code, "reason": why.reason, "startedAt": container.started_at,
            "finishedAt": now_rfc3339(), "containerID": _container_id(pod, container)}}
        node_obj = self.store.find("nodes", None, node)
        if node_obj:
            for component, reason, message in why.node_events:
                self.events.emit(node_obj, "Warning", reason, message, component, node)
        container.crashes = 1 if ran_for > BACKOFF_RESET_S else container.crashes + 1
        container.restarts += 1
        container.state, container.waiting_reason = "waiting", "CrashLoopBackOff"
        container.resume_at = now + self.clock.wall(_backoff(container.crashes))
        container.ready_reported, container.exits_at, container.exit_with = False, None, None
        if container.restarts > 1:
            self.events.emit(pod, "Warning", "BackOff",
                             f"Back-off restarting failed container {container.name} in pod "
                             f"{name}_{ns}({pod['metadata']['uid']})", "kubelet", node)

    def _stop(self, pod: Obj, container: Container, now: float) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if container.stopping_since is None:
            container.stopping_since = now
            self.events.emit(pod, "Normal", "Killing", f"Stopping container {container.name}", "kubelet",
                             pod["spec"]["nodeName"])
            if pod_key(pod) in self.world.processes:
                for line in container.workload.shutdown_lines(pod):
                    self.logs.write(ns, name, container.name, line)
            self.world.processes.pop(pod_key(pod), None)
        grace = min(STOP_S, pod["metadata"].get("deletionGracePeriodSeconds", 30))
        if now - container.stopping_since >= self.clock.wall(grace):
            self.forget(pod)
            self.store.delete("pods", ns, name)

    def evict(self, pod: Obj, message: str) -> None:
        """The eviction manager's kill (TerminatePodAbnormallyAndWait with a 1 s grace period, too short for the
        server to drain): the container dies by SIGKILL, the node frees its devices, and the pod ends Failed with
        reason Evicted. The pod object stays until someone deletes it; its ReplicaSet replaces it."""
        container = self._container(pod)
        process = self.world.processes.pop(pod_key(pod), None)
        if process:
            process.killed = True
        for gpu in self.world.gpus_of(pod_key(pod)):
            gpu.pod = None
        finished = {"exitCode": 137, "reason": "Error", "startedAt": container.started_at,
                    "finishedAt": now_rfc3339(), "containerID": _container_id(pod, container)}
        status = _evicted_status(self._status(pod, container), finished, message)
        self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                          lambda o: o.update(status=status))

    def forget(self, pod: Obj) -> None:
        """Release everything the node held for a pod (GPUs, process, logs)."""
        key = pod_key(pod)
        for gpu in self.world.gpus_of(key):
            gpu.pod = None
        self.world.processes.pop(key, None)
        self.containers.pop(key, None)
        self.logs.forget(pod["metadata"]["namespace"], pod["metadata"]["name"])

    # -- status -------------------------------------------------------------------------------------------
    def _write_status(self, pod: Obj, container: Container) -> None:
        status = self._status(pod, container)
        if pod.get("status") != status:
            self.store.mutate("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                              lambda o: o.update(status=status))

    def _status(self, pod: Obj, container: Container) -> Obj:
        old = pod.get("status", {})
        process = self.world.processes.get(pod_key(pod))
        ready = bool(process and container.ready_reported)
        if container.state == "running":
            state: Obj = {"running": {"startedAt": container.started_at}}
        else:
            state = {"waiting": {"reason": container.waiting_reason}}
            if container.waiting_message:
                state["waiting"]["message"] = container.waiting_message
            elif container.waiting_reason == "CrashLoopBackOff":
                state["waiting"]["message"] = (
                    f"back-off {_go_duration(_backoff(container.crashes))} "
                    f"restarting failed container={container.name} pod={pod['metadata']['name']}_"
                    f"{pod['metadata']['namespace']}({pod['metadata']['uid']})")
        started = container.state == "running" or container.restarts > 0
        conditions = {c["type"]: c for c in old.get("conditions", [])}
        unready = None if ready else f"containers with unready status: [{container.name}]"
        status: Obj = {
            **{k: old[k] for k in ("hostIP", "hostIPs", "podIP", "podIPs", "qosClass") if k in old},
            "phase": "Running" if started else "Pending",
            "startTime": old.get("startTime", now_rfc3339()),
            "conditions": [_condition(conditions, "PodReadyToStartContainers", True),
                           _condition(conditions, "Initialized", True),
                           _condition(conditions, "Ready", ready, unready),
                           _condition(conditions, "ContainersReady", ready, unready),
                           _condition(conditions, "PodScheduled", True)],
            "containerStatuses": [{
                "name": container.name, "image": container.image, "imageID": _image_id(container.image),
                "ready": ready, "started": container.state == "running", "restartCount": container.restarts,
                "state": state, "lastState": container.last_terminated or {},
                **({"containerID": _container_id(pod, container)} if started else {}),
            }],
        }
        return status


def _probe_error(pod: Obj, probe: Obj) -> str:
    """Go's net/http error for a refused connection, as the HTTP prober reports it."""
    get = probe.get("httpGet", {})
    port = get.get("port", 80)
    if isinstance(port, str):  # a named port
        ports = pod["spec"]["containers"][0].get("ports", [])
        port = next((p["containerPort"] for p in ports if p.get("name") == port), port)
    address = f"{pod['status'].get('podIP', '')}:{port}"
    return (f'Get "{get.get("scheme", "HTTP").lower()}://{address}{get.get("path", "/")}": dial tcp {address}: '
            "connect: connection refused")


def _evicted_status(status: Obj, finished: Obj, message: str) -> Obj:
    """An evicted pod's status as the kubelet writes it since 1.22 (kubernetes#105358): phase Failed, reason
    Evicted and the eviction message; the DisruptionTarget condition (PodDisruptionConditions, GA in 1.31); the
    container terminated and not ready, which is what kubectl's STATUS column shows (Error), not "Evicted"."""
    # A failed pod's readiness says PodFailed (pkg/kubelet/status/generate.go), with no message.
    conditions = [{**{k: v for k, v in c.items() if k != "message"}, "status": "False", "reason": "PodFailed",
                   "lastTransitionTime": now_rfc3339()} if c["type"] in ("Ready", "ContainersReady") else c
                  for c in status["conditions"]]
    conditions.insert(0, {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": now_rfc3339(), "reason": "TerminationByKubelet", "message": message})
    for container_status in status["containerStatuses"]:
        container_status.update(ready=False, started=False, state={"terminated": finished})
    return {**status, "phase": "Failed", "reason": "Evicted", "message": message, "conditions": conditions}


def _backoff(crashes: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_START_S * 2 ** max(0, crashes - 1))


def _go_duration(seconds: float) -> str:
    """A whole-second duration as Go's time.Duration prints it (the kubelet's wording): 40s, 1m20s, 5m0s."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _condition(old: dict[str, Obj], type_: str, ok: bool, unready_message: str | None = None) -> Obj:
    status = "True" if ok else "False"
    previous = old.get(type_, {})
    condition = {"type": type_, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": previous.get("lastTransitionTime", now_rfc3339())
                 if previous.get("status") == status else now_rfc3339()}
    if unready_message:
        condition["reason"], condition["message"] = "ContainersNotReady", unready_message
    return condition


def _container_id(pod: Obj, container: Container) -> str:
    return "containerd://" + _sha256(f"{pod['metadata']['uid']}/{container.restarts}")


def _image_id(image: str) -> str:
    return f"docker.io/{image.split(':')[0]}@sha256:{_sha256(image)}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
