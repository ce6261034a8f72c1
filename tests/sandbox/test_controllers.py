"""Behaviour specifications of the sandbox's controllers (scheduler, ReplicaSets, Deployments, kubelets),
on the default fleet in-process, stepped by a ManualClock (time scale 60, ticks of half a wall second).

Changes are made the way a client of the API server makes them: a new spec stored on the object, or a pod
deletion as the API server begins it; what follows is the controllers' doing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.clock import ManualClock
from sandbox.controllers.pods import begin_pod_deletion
from sandbox.fleet import default_fleet
from sandbox.names import pod_key
from sandbox.runtime import Sandbox

Obj = dict[str, Any]
NS = "inference"
TICK_S = 0.5
REVISION = "deployment.kubernetes.io/revision"


class Cluster:
    def __init__(self) -> None:
        self.clock = ManualClock(time_scale=60)
        self.sandbox = Sandbox(default_fleet(), clock=self.clock, seed=7)
        self.sandbox.boot()
        self.store = self.sandbox.store

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / TICK_S)):
            self.clock.advance(TICK_S)
            self.sandbox.tick(TICK_S)

    def run_until(self, what: str, done: Callable[[], bool], within_s: float,
                  every_tick: Callable[[], None] = lambda: None) -> None:
        for _ in range(round(within_s / TICK_S)):
            if done():
                return
            self.run(TICK_S)
            every_tick()
        assert done(), f"not within {within_s}s: {what}"

    # reads
    def pods(self, app: str, namespace: str = NS) -> list[Obj]:
        """The app's live (not terminating) pods, in creation order."""
        return [p for p in self.store.objects("pods", namespace)
                if p["metadata"]["labels"].get("app") == app and "deletionTimestamp" not in p["metadata"]]

    def all_pods(self, app: str) -> list[Obj]:
        return [p for p in self.store.objects("pods", NS) if p["metadata"]["labels"].get("app") == app]

    def pod(self, name: str) -> Obj | None:
        return self.store.find("pods", NS, name)

    def deployment(self, name: str) -> Obj:
        return self.store.get("apps/deployments", NS, name)

    def replicasets(self, deployment: str) -> list[Obj]:
        return [rs for rs in self.store.objects("apps/replicasets", NS)
                if rs["metadata"]["labels"]["app"] == deployment]

    def current_replicaset(self, deployment: str) -> Obj:
        return max(self.replicasets(deployment), key=revision)

    def events(self, involved: str, reason: str) -> list[Obj]:
        return [e for e in self.store.objects("events")
                if e["involvedObject"]["name"] == involved and e["reason"] == reason]

    def gpus(self, pod: Obj) -> list[int]:
        """The GPU indices the node's device plugin allocated to the pod."""
        return sorted(g.index for g in self.sandbox.world.gpus_of(pod_key(pod)))

    # writes, as a client makes them
    def edit_deployment(self, name: str, change: Callable[[Obj], None]) -> None:
        self.store.mutate("apps/deployments", NS, name, change)

    def scale(self, name: str, replicas: int) -> None:
        self.edit_deployment(name, lambda d: d["spec"].update(replicas=replicas))

    def set_unschedulable(self, node: str, value: bool) -> None:
        self.store.mutate("nodes", None, node, lambda n: n["spec"].update(unschedulable=value))

    def delete_pod(self, pod: Obj) -> None:
        begin_pod_deletion(self.store, self.store.get("pods", NS, pod["metadata"]["name"]))


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def name(pod: Obj) -> str:
    return pod["metadata"]["name"]


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def template_hash(obj: Obj) -> str:
    return obj["metadata"]["labels"]["pod-template-hash"]


def revision(obj: Obj) -> int:
    return int(obj["metadata"]["annotations"][REVISION])


# -- placement --------------------------------------------------------------------------------------------------
PLACEMENT = {  # the default fleet's placement: replica index in creation order -> (node, GPU indices)
    "llama-70b": [("gpu-node-1", [0, 1]), ("gpu-node-2", [0, 1]), ("gpu-node-3", [0, 1]), ("gpu-node-4", [0, 1])],
    "qwen-7b": [("gpu-node-1", [2]), ("gpu-node-2", [2]), ("gpu-node-3", [2])],
    "mistral-7b": [("gpu-node-4", [2]), ("gpu-node-1", [3])],
}


def test_the_initial_placement_is_the_design_table(cluster: Cluster) -> None:
    for model, rows in PLACEMENT.items():
        pods = cluster.pods(model)
        assert [(p["spec"]["nodeName"], cluster.gpus(p)) for p in pods] == rows, model
        for pod in pods:
            assert pod["status"]["phase"] == "Running" and is_ready(pod)
            (scheduled,) = cluster.events(name(pod), "Scheduled")
            assert scheduled["message"] == f"Successfully assigned {NS}/{name(pod)} to {pod['spec']['nodeName']}"
    others = [p for p in cluster.store.objects("pods") if p["metadata"]["labels"].get("app") not in PLACEMENT]
    assert others and all(cluster.gpus(p) == [] for p in others)  # the gateway, platform services and daemons


# -- ReplicaSets -------------------------------------------------------------------------------------------------
def test_a_deleted_pod_is_replaced(cluster: Cluster) -> None:
    rs = cluster.current_replicaset("qwen-7b")
    victim = cluster.pods("qwen-7b")[1]
    others = {name(p) for p in cluster.pods("qwen-7b")} - {name(victim)}

    cluster.delete_pod(victim)
    cluster.run(TICK_S)

    live = cluster.pods("qwen-7b")
    assert len(live) == 3 and others < {name(p) for p in live} and name(victim) not in {name(p) for p in live}
    (replacement,) = [p for p in live if name(p) not in others]
    assert cluster.events(name(rs), "SuccessfulCreate")[-1]["message"] == f"Created pod: {name(replacement)}"
    cluster.run_until("the old pod is gone and its replacement Ready", lambda: cluster.pod(name(victim)) is None
                      and is_ready(cluster.pod(name(replacement))), within_s=5)
    replacement = cluster.pod(name(replacement))
    held = [g for p in cluster.store.objects("pods") if name(p) != name(replacement)
            for g in cluster.sandbox.world.gpus_of(pod_key(p))]
    assert len(cluster.gpus(replacement)) == 1
    assert all((g.node, g.index) != (replacement["spec"]["nodeName"], cluster.gpus(replacement)[0]) for g in held)


def test_scaling_up_adds_pods_and_scaling_down_removes_the_unready_ones_first(cluster: Cluster) -> None:
    rs = cluster.current_replicaset("qwen-7b")
    original = [name(p) for p in cluster.pods("qwen-7b")]

    cluster.scale("qwen-7b", 5)
    cluster.run(TICK_S)
    assert len(cluster.pods("qwen-7b")) == 5
    added = [name(p) for p in cluster.pods("qwen-7b") if name(p) not in original]
    assert not any(is_ready(cluster.pod(n)) for n in added)  # still loading the model
    assert any(e["message"] == f"Scaled up replica set {name(rs)} from 3 to 5"
               for e in cluster.events("qwen-7b", "ScalingReplicaSet"))

    cluster.scale("qwen-7b", 3)
    cluster.run(TICK_S)
    assert [name(p) for p in cluster.pods("qwen-7b")] == original
    assert {e["message"] for e in cluster.events(name(rs), "SuccessfulDelete")} == {f"Deleted pod: {n}" for n in added}
    assert any(e["message"] == f"Scaled down replica set {name(rs)} from 5 to 3"
               for e in cluster.events("qwen-7b", "ScalingReplicaSet"))

    cluster.scale("qwen-7b", 1)
    cluster.run_until("two pods are gone", lambda: len(cluster.all_pods("qwen-7b")) == 1, within_s=5)
    status = cluster.deployment("qwen-7b")["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (1, 1, 1)


# -- Deployments -------------------------------------------------------------------------------------------------
def new_image(image: str) -> Callable[[Obj], None]:
    def change(dep: Obj) -> None:
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return change


def roll_out(cluster: Cluster, deployment: str, change: Callable[[Obj], None], within_s: float = 30) -> list[Obj]:
    """Apply a template change and step the rollout to its end, checking the rolling-update bounds each tick
    (llama-70b: 4 replicas, maxSurge 25% -> 1, maxUnavailable 25% -> 1). Returns the live pods at each tick."""
    desired = cluster.deployment(deployment)["spec"]["replicas"]
    cluster.edit_deployment(deployment, change)
    seen: list[Obj] = []

    def check() -> None:
        live = cluster.pods(deployment)
        seen.append(copy.deepcopy(live))
        assert len(live) <= desired + 1, "more than maxSurge extra pods"
        assert sum(is_ready(p) for p in live) >= desired - 1, "more than maxUnavailable pods unavailable"

    def done() -> bool:  # what `kubectl rollout status` waits for
        dep = cluster.deployment(deployment)
        status = dep["status"]
        return (status["observedGeneration"] == dep["metadata"]["generation"]
                and status.get("updatedReplicas") == status.get("availableReplicas") == status["replicas"] == desired
                and len(cluster.all_pods(deployment)) == desired)
    cluster.run_until("the rollout completes", done, within_s, every_tick=check)
    return seen


def test_a_template_change_rolls_out_a_new_revision_within_surge_and_unavailability(cluster: Cluster) -> None:
    old = cluster.current_replicaset("llama-70b")
    before = len(cluster.replicasets("llama-70b"))

    ticks = roll_out(cluster, "llama-70b", new_image("vllm/vllm-openai:v0.9.0"))

    new = cluster.current_replicaset("llama-70b")
    assert len(cluster.replicasets("llama-70b")) == before + 1
    assert revision(new) == revision(old) + 1 == revision(cluster.deployment("llama-70b"))
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.9.0"
    assert cluster.store.get("apps/replicasets", NS, name(old))["spec"]["replicas"] == 0  # kept for rollbacks
    assert all(template_hash(p) == template_hash(new) and is_ready(p) for p in cluster.pods("llama-70b"))
    mixed = [t for t in ticks if {template_hash(p) for p in t} == {template_hash(old), template_hash(new)}]
    assert mixed, "the rollout replaced pods a few at a time, not all at once"
    progressing = next(c for c in cluster.deployment("llama-70b")["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_changing_the_template_back_reuses_the_old_replicaset_as_the_newest_revision(cluster: Cluster) -> None:
    first = cluster.current_replicaset("llama-70b")
    before = len(cluster.replicasets("llama-70b"))
    original_image = first["spec"]["template"]["spec"]["containers"][0]["image"]
    roll_out(cluster, "llama-70b", new_image("vllm/vllm-openai:v0.9.0"))

    roll_out(cluster, "llama-70b", new_image(original_image))

    assert len(cluster.replicasets("llama-70b")) == before + 1  # one new ReplicaSet, not two
    reused = cluster.store.get("apps/replicasets", NS, name(first))
    assert reused["metadata"]["uid"] == first["metadata"]["uid"]
    assert revision(reused) == revision(first) + 2 == revision(cluster.deployment("llama-70b"))
    assert reused["spec"]["replicas"] == 4
    assert all(template_hash(p) == template_hash(first) for p in cluster.pods("llama-70b"))


# -- the scheduler -----------------------------------------------------------------------------------------------
def test_a_cordoned_node_gets_no_new_pods_and_keeps_its_old_ones(cluster: Cluster) -> None:
    on_node_4 = {name(p) for p in cluster.store.objects("pods") if p["spec"].get("nodeName") == "gpu-node-4"}
    cluster.set_unschedulable("gpu-node-4", True)  # kubectl cordon

    cluster.scale("qwen-7b", 6)
    cluster.run(TICK_S)

    placed = [p["spec"].get("nodeName") for p in cluster.pods("qwen-7b")[3:]]
    assert len(placed) == 3 and all(placed) and "gpu-node-4" not in placed
    assert on_node_4 <= {name(p) for p in cluster.store.objects("pods")}  # cordoning evicts nothing
    cluster.set_unschedulable("gpu-node-4", False)
    cluster.scale("qwen-7b", 7)
    cluster.run(TICK_S)
    assert cluster.pods("qwen-7b")[-1]["spec"]["nodeName"] == "gpu-node-4"  # the least allocated, once allowed


def test_a_pod_that_fits_nowhere_stays_pending_with_the_schedulers_own_words(cluster: Cluster) -> None:
    cluster.set_unschedulable("gpu-node-1", True)
    # nodes 2-4 have 5, 5 and 4 free GPUs: room for 6 more two-GPU pods, not 7
    cluster.scale("llama-70b", 11)
    cluster.run(TICK_S)

    pending = [p for p in cluster.pods("llama-70b") if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    message = ("0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient nvidia.com/gpu. "
               "preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, "
               "3 No preemption victims found for incoming pod.")
    (failed,) = cluster.events(name(pending[0]), "FailedScheduling")
    assert (failed["type"], failed["message"], failed["source"]["component"]) == (
        "Warning", message, "default-scheduler")
    pod = cluster.pod(name(pending[0]))
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["conditions"] == [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": message,
                                            "lastTransitionTime": pod["status"]["conditions"][0]["lastTransitionTime"]}]

    cluster.set_unschedulable("gpu-node-1", False)
    cluster.run(TICK_S)
    assert cluster.pod(name(pending[0]))["spec"]["nodeName"] == "gpu-node-1"


def test_a_node_that_went_dark_is_not_scheduled_onto_even_by_pods_that_tolerate_staying(cluster: Cluster) -> None:
    cluster.sandbox.world.hosts["gpu-node-4"].reachable = False  # the node's kubelet stops answering
    cluster.run(2)
    taints = cluster.store.get("nodes", None, "gpu-node-4")["spec"]["taints"]
    assert {"NoSchedule", "NoExecute"} == {t["effect"] for t in taints if t["key"] == "node.kubernetes.io/unreachable"}

    cluster.scale("mistral-7b", 3)  # its pods tolerate unreachable:NoExecute for a while, not NoSchedule
    cluster.run(TICK_S)
    assert cluster.pods("mistral-7b")[-1]["spec"]["nodeName"] != "gpu-node-4"


# -- the kubelet -------------------------------------------------------------------------------------------------
def test_a_crashing_container_shows_crashloopbackoff_with_a_growing_back_off(cluster: Cluster) -> None:
    victim = name(cluster.pods("qwen-7b")[0])
    cluster.sandbox.world.gpu("gpu-node-1", 2).lost = True  # its GPU fell off the bus: every start fails
    back_offs: list[str] = []
    restarts: list[tuple[float, int]] = []

    def observe() -> None:
        status = cluster.pod(victim)["status"]["containerStatuses"][0]
        waiting = status["state"].get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff":
            back_off = waiting["message"].split()[1]
            if not back_offs or back_offs[-1] != back_off:
                back_offs.append(back_off)
        if not restarts or restarts[-1][1] != status["restartCount"]:
            restarts.append((cluster.clock.now(), status["restartCount"]))
    cluster.run_until("the back-off reaches its cap", lambda: back_offs[-1:] == ["5m0s"], 20, every_tick=observe)
    cluster.run(10)
    observe()

    assert back_offs == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]
    counts = [count for _, count in restarts]
    assert counts == list(range(counts[0], counts[-1] + 1)) and counts[-1] >= 6  # one more per crash
    gaps = [later - earlier for (earlier, _), (later, _) in zip(restarts[1:], restarts[2:], strict=False)]
    assert gaps == sorted(gaps) and gaps[-1] > 4 * gaps[0]
    pod = cluster.pod(victim)
    message = f"Back-off restarting failed container vllm in pod {victim}_{NS}({pod['metadata']['uid']})"
    (back_off,) = cluster.events(victim, "BackOff")
    assert back_off["message"] == message and back_off["count"] >= 4 and back_off["type"] == "Warning"
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "Error"
    assert not is_ready(pod) and pod["status"]["phase"] == "Running"


def test_a_deleted_pod_terminates_gracefully_and_its_kubelet_removes_it(cluster: Cluster) -> None:
    victim = cluster.pods("mistral-7b")[1]
    gpu = cluster.sandbox.world.gpu("gpu-node-1", 3)
    assert gpu.pod == pod_key(victim)

    cluster.delete_pod(victim)
    marked = cluster.pod(name(victim))
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    cluster.run(TICK_S)

    terminating = cluster.pod(name(victim))
    assert terminating is not None  # the kubelet is stopping it
    (killing,) = cluster.events(name(victim), "Killing")
    assert killing["message"] == "Stopping container vllm" and killing["source"]["component"] == "kubelet"
    logs = cluster.sandbox.logs.read(NS, name(victim), "vllm", previous=False, tail_lines=2, since_seconds=None,
                                     timestamps=False)
    assert logs.splitlines()[-1] == "(APIServer pid=1) INFO:     Finished server process [1]"
    cluster.run_until("the kubelet removes the pod", lambda: cluster.pod(name(victim)) is None, within_s=2)
    assert gpu.pod != pod_key(victim)  # its GPU went back to the node


def test_a_pod_on_a_dark_node_stays_terminating_while_a_replacement_runs_elsewhere(cluster: Cluster) -> None:
    victim = cluster.pods("mistral-7b")[0]
    assert victim["spec"]["nodeName"] == "gpu-node-4"
    cluster.sandbox.world.hosts["gpu-node-4"].reachable = False

    cluster.delete_pod(victim)
    cluster.run(10)

    assert "deletionTimestamp" in cluster.pod(name(victim))["metadata"]  # no kubelet to finish the job
    (replacement,) = [p for p in cluster.pods("mistral-7b") if p["spec"]["nodeName"] != "gpu-node-1"]
    assert replacement["spec"]["nodeName"] != "gpu-node-4" and is_ready(replacement)
