"""Behaviour specifications: every fault kind leaves the evidence a real fleet would show (the fleet is read as
`fleet_under_test` describes)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.fleet_under_test import (
    FAILURES,
    FIVE_XX,
    MODELS,
    NS,
    PAGE_SLOW_SHARE,
    SUCCESSES,
    TICK_S,
    WARMUP_S,
    Fleet,
    LabelMatch,
    Obj,
    Samples,
    Slis,
    condition,
    container,
    is_ready,
    mean,
    waiting_reason,
)

REAL_KUBERNETES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "kubernetes"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as fleet:
        fleet.run(WARMUP_S)
        yield fleet


# -- GPU faults ------------------------------------------------------------------------------------------------
def test_an_xid_79_takes_the_gpu_off_the_node_and_crash_loops_the_pod_that_used_it(fleet: Fleet) -> None:
    victim = fleet.pod_on_gpu("gpu-node-2", 1)
    assert victim.startswith("llama-70b-")
    uuid = fleet.dcgm("gpu-node-2").select("DCGM_FI_DEV_XID_ERRORS", gpu="1")[0][0]["UUID"]
    gateway_before = fleet.gateway()

    fleet.inject("gpu_xid", {"node": "gpu-node-2", "gpu": 1}, xid=79)
    fleet.run_until("the pod crash-loops", lambda: waiting_reason(fleet.pod(victim)) == "CrashLoopBackOff"
                    and container(fleet.pod(victim))["restartCount"] >= 3, within_s=20)

    dcgm = fleet.dcgm("gpu-node-2")
    assert dcgm.select("DCGM_FI_DEV_GPU_TEMP", gpu="1") == [], "NVML cannot reach it: its series stop"
    assert dcgm.select("DCGM_FI_DEV_XID_ERRORS", gpu="1") == [], "DCGM cannot read Xid 79 without /dev/kmsg"
    assert dcgm.value("DCGM_FI_DEV_XID_ERRORS", gpu=re.compile("[02-7]")) == 0
    pod = fleet.pod(victim)
    assert not is_ready(pod)
    assert container(pod)["lastState"]["terminated"]["exitCode"] != 0
    assert "CUDA error" in fleet.logs(victim, "vllm", previous=True)
    node = fleet.node("gpu-node-2")
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "7"
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
    (plugin,) = [p for p in fleet.pods("nvidia-device-plugin", "gpu-operator") if p["spec"]["nodeName"] == "gpu-node-2"]
    assert f"Xid=79 on Device={uuid}" in fleet.logs(plugin["metadata"]["name"], "nvidia-device-plugin",
                                                    namespace="gpu-operator")
    assert fleet.events(victim, "BackOff")
    failed = fleet.gateway().value(FAILURES, requested_model="llama-70b", api_provider="hosted_vllm",
                                   exception_status=FIVE_XX)
    assert failed > gateway_before.value(FAILURES, requested_model="llama-70b", exception_status=FIVE_XX)


def test_where_dcgm_reads_the_kernel_log_a_gpu_off_the_bus_keeps_only_its_xid_gauge(fleet: Fleet) -> None:
    fleet.inject("gpu_xid", {"node": "gpu-node-2", "gpu": 1}, xid=79, dcgm_reads_kmsg=True)
    [(labels, value)] = [(labels, value) for name, labels, value in fleet.dcgm("gpu-node-2").rows
                         if labels.get("gpu") == "1"]
    assert value == 79 and (labels["err_code"], labels["err_msg"]) == ("79", "GPU has fallen off the bus")


def test_an_application_xid_leaves_the_device_healthy_for_the_device_plugin(fleet: Fleet) -> None:
    fleet.inject("gpu_xid", {"node": "gpu-node-2", "gpu": 1}, xid=13)
    fleet.run(5)
    assert fleet.dcgm("gpu-node-2").one("DCGM_FI_DEV_XID_ERRORS", gpu="1", err_code="13") == 13
    (plugin,) = [p for p in fleet.pods("nvidia-device-plugin", "gpu-operator") if p["spec"]["nodeName"] == "gpu-node-2"]
    assert "XidCriticalError" not in fleet.logs(plugin["metadata"]["name"], "nvidia-device-plugin",
                                                namespace="gpu-operator")
    assert fleet.node("gpu-node-2")["status"]["allocatable"]["nvidia.com/gpu"] == "8"


def test_any_other_critical_xid_withdraws_the_device_even_when_the_gpu_still_works(fleet: Fleet) -> None:
    """The device plugin marks a device unhealthy on every Xid but the application ones, not only on hardware
    faults (k8s-device-plugin internal/rm/health.go): Xid 32 on a free GPU lowers the node's allocatable."""
    fleet.inject("gpu_xid", {"node": "gpu-node-2", "gpu": 5}, xid=32)
    fleet.run(5)
    (plugin,) = [p for p in fleet.pods("nvidia-device-plugin", "gpu-operator") if p["spec"]["nodeName"] == "gpu-node-2"]
    assert "XidCriticalError: Xid=32 on Device=GPU-" in fleet.logs(plugin["metadata"]["name"],
                                                                   "nvidia-device-plugin", namespace="gpu-operator")
    node = fleet.node("gpu-node-2")
    assert (node["status"]["capacity"]["nvidia.com/gpu"], node["status"]["allocatable"]["nvidia.com/gpu"]) == ("8", "7")
    assert fleet.sandbox.world.gpu("gpu-node-2", 5).lost is False, "the GPU itself still works"


def test_an_overheating_gpu_is_hot_and_clamped_and_its_pod_answers_slower(fleet: Fleet) -> None:
    victim = fleet.pod_on_gpu("gpu-node-3", 2)
    peer = next(p["metadata"]["name"] for p in fleet.pods("qwen-7b") if p["metadata"]["name"] != victim)
    dcgm_before, victim_before, peer_before = fleet.dcgm("gpu-node-3"), fleet.vllm(victim), fleet.vllm(peer)

    fleet.inject("gpu_thermal_throttle", {"node": "gpu-node-3", "gpu": 2})
    fleet.run(10)
    dcgm = fleet.dcgm("gpu-node-3")
    fleet.run(5)
    later = fleet.dcgm("gpu-node-3")

    assert dcgm.one("DCGM_FI_DEV_GPU_TEMP", gpu="2") >= dcgm_before.one("DCGM_FI_DEV_GPU_TEMP", gpu="2") + 15
    assert dcgm.one("DCGM_FI_DEV_GPU_TEMP", gpu="2") >= 85
    assert dcgm.one("DCGM_FI_DEV_SM_CLOCK", gpu="2") < 0.7 * dcgm_before.one("DCGM_FI_DEV_SM_CLOCK", gpu="2")
    assert dcgm.one("DCGM_FI_DEV_GPU_UTIL", gpu="2") >= 50, "busy: the stock fields alone show the throttling"
    assert not dcgm.select("DCGM_FI_DEV_THERMAL_VIOLATION"), "not among dcgm-exporter's default counters"
    fleet.sandbox.fleet.dcgm_extra_counters = True
    extras, fleet_s = fleet.dcgm("gpu-node-3"), 2.0
    fleet.run(fleet_s)
    violation = fleet.dcgm("gpu-node-3").one("DCGM_FI_DEV_THERMAL_VIOLATION", gpu="2")
    assert violation - extras.one("DCGM_FI_DEV_THERMAL_VIOLATION", gpu="2") == pytest.approx(fleet_s * 1e9, rel=0.05)
    assert extras.value("DCGM_FI_DEV_THERMAL_VIOLATION", gpu=re.compile("[013-7]")) == 0
    assert extras.one("DCGM_EXP_CLOCK_EVENTS_COUNT", gpu="2", clock_event="hw_thermal") > 0
    assert later.one("DCGM_FI_DEV_GPU_TEMP", gpu="2") >= 85
    slow = mean(fleet.vllm(victim), victim_before, "vllm:time_to_first_token_seconds")
    assert slow > 2 * mean(fleet.vllm(peer), peer_before, "vllm:time_to_first_token_seconds")
    assert container(fleet.pod(victim))["restartCount"] == 0  # slow, not broken


def test_a_busy_free_gpu_is_a_red_herring_with_no_impact_on_serving(fleet: Fleet) -> None:
    before, slis_before = fleet.dcgm("gpu-node-2"), {m: fleet.slis(m) for m in MODELS}
    assert "pod" not in before.select("DCGM_FI_DEV_GPU_UTIL", gpu="5")[0][0]  # nothing of Kubernetes' on it

    fleet.inject("noisy_neighbor_metric", {"node": "gpu-node-2", "gpu": 5})
    fleet.run(20)

    dcgm = fleet.dcgm("gpu-node-2")
    assert before.one("DCGM_FI_DEV_GPU_UTIL", gpu="5") < 5 <= 90 <= dcgm.one("DCGM_FI_DEV_GPU_UTIL", gpu="5")
    assert dcgm.one("DCGM_FI_DEV_GPU_TEMP", gpu="5") >= before.one("DCGM_FI_DEV_GPU_TEMP", gpu="5") + 20
    assert dcgm.one("DCGM_FI_DEV_POWER_USAGE", gpu="5") > 2 * before.one("DCGM_FI_DEV_POWER_USAGE", gpu="5")
    assert before.one("DCGM_FI_DEV_FB_USED", gpu="5") == 0 < dcgm.one("DCGM_FI_DEV_FB_USED", gpu="5")
    assert "pod" not in dcgm.select("DCGM_FI_DEV_GPU_UTIL", gpu="5")[0][0]
    for model in MODELS:
        window = fleet.slis(model).since(slis_before[model])
        assert window.errors == 0 and window.slow_share < PAGE_SLOW_SHARE, (model, window)
    assert all(container(p)["restartCount"] == 0 for m in MODELS for p in fleet.pods(m))


# -- configuration changes ------------------------------------------------------------------------------------
def revision(obj: Obj) -> int:
    return int(obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def test_a_tighter_gpu_memory_setting_rolls_out_and_its_pods_die_of_cuda_oom(fleet: Fleet) -> None:
    old_rs = fleet.current_replicaset("qwen-7b")

    fleet.inject("cuda_oom", {"deployment": "qwen-7b"})
    fleet.run(5)

    new_rs = fleet.current_replicaset("qwen-7b")
    assert revision(new_rs) == revision(old_rs) + 1 == revision(fleet.sandbox.store.get("apps/deployments", NS,
                                                                                          "qwen-7b"))
    args = new_rs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.98"

    def oom_killed() -> list[str]:
        return [p["metadata"]["name"] for p in fleet.pods("qwen-7b")
                if p["metadata"]["labels"]["pod-template-hash"] == new_rs["metadata"]["labels"]["pod-template-hash"]
                and container(p)["restartCount"] > 0
                and "torch.OutOfMemoryError: CUDA out of memory" in fleet.logs(p["metadata"]["name"], "vllm",
                                                                                previous=True)]
    fleet.run_until("a pod of the new revision dies of CUDA OOM", lambda: bool(oom_killed()), within_s=30)
    # After EngineDeadError vLLM's server shuts down cleanly: exit 0, Completed (vllm-project/vllm#48966)
    terminated = container(fleet.pod(oom_killed()[0]))["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")


def test_a_broken_build_rolls_out_and_fails_requests_with_server_errors(fleet: Fleet) -> None:
    old_rs = fleet.current_replicaset("mistral-7b")
    before = fleet.gateway()

    fleet.inject("bad_rollout", {"deployment": "mistral-7b"})
    fleet.run_until("the rollout completes", lambda: len(fleet.pods("mistral-7b")) == 2 and all(
        p["metadata"]["labels"]["pod-template-hash"] != old_rs["metadata"]["labels"]["pod-template-hash"]
        and is_ready(p) for p in fleet.pods("mistral-7b")), within_s=20)
    fleet.run(10)

    new_rs = fleet.current_replicaset("mistral-7b")
    assert revision(new_rs) == revision(old_rs) + 1
    assert new_rs["spec"]["template"]["spec"]["containers"][0]["image"] != \
        old_rs["spec"]["template"]["spec"]["containers"][0]["image"]
    served_500 = fleet.gateway().value(FAILURES, requested_model="mistral-7b", api_provider="hosted_vllm",
                                       exception_status="500", exception_class="Hosted_vllm.InternalServerError")
    assert served_500 > before.value(FAILURES, requested_model="mistral-7b", exception_status="500") == 0
    logs = fleet.logs(fleet.pods("mistral-7b")[0]["metadata"]["name"], "vllm")
    assert '"POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error' in logs
    assert "failed with an internal error during generation" in logs  # GenerationError: vLLM answers 500
    assert fleet.vllm(fleet.pods("mistral-7b")[0]["metadata"]["name"]).value(
        "vllm:request_success_total", finished_reason="error") > 0
    assert "kubernetes.io/change-cause" not in new_rs["metadata"].get("annotations", {})
    assert all(container(p)["restartCount"] == 0 for p in fleet.pods("mistral-7b"))  # it runs; it answers badly


# -- memory ----------------------------------------------------------------------------------------------------
EVICTION_MESSAGE = re.compile(r"The node was low on resource: memory\. Threshold quantity: 100Mi, "
                              r"available: -?\d+(Ki|Mi)\. ")  # pkg/kubelet/eviction/helpers.go evictionMessage


def test_a_runaway_host_process_makes_the_kubelet_evict_pods_and_their_replicas_move(fleet: Fleet) -> None:
    on_node = {p["metadata"]["name"]: p["metadata"]["labels"]["app"] for m in MODELS for p in fleet.pods(m)
               if p["spec"]["nodeName"] == "gpu-node-3"}
    assert sorted(on_node.values()) == ["llama-70b", "qwen-7b"]

    fleet.inject("host_oom", {"node": "gpu-node-3"}, fill_s=10)

    def evicted() -> list[str]:
        return [name for name in on_node if fleet.pod(name)["status"].get("reason") == "Evicted"]
    fleet.run_until("the kubelet evicts a pod", lambda: bool(evicted()), within_s=20)

    # rankMemoryPressure: no pod exceeds its request, so the one closest to it goes first (qwen-7b: 48Gi asked).
    (first,) = evicted()
    assert on_node[first] == "qwen-7b"
    pod = fleet.pod(first)
    assert pod["status"]["phase"] == "Failed" and EVICTION_MESSAGE.fullmatch(pod["status"]["message"])
    assert "Container" not in pod["status"]["message"]  # within its request: no container sentence
    disruption = condition(pod, "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "TerminationByKubelet")
    assert container(pod)["state"]["terminated"]["exitCode"] == 137 and container(pod)["restartCount"] == 0
    (event,) = fleet.events(first, "Evicted")
    assert (event["type"], event["message"], event["source"]["component"]) == (
        "Warning", pod["status"]["message"], "kubelet")
    threshold = fleet.events("gpu-node-3", "EvictionThresholdMet")
    assert threshold and threshold[0]["message"] == "Attempting to reclaim memory"
    node = fleet.node("gpu-node-3")
    assert condition(node, "MemoryPressure")["status"] == "True"
    assert {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert fleet.events("gpu-node-3", "NodeHasInsufficientMemory")
    assert not fleet.events("gpu-node-3", "SystemOOM") and not fleet.events("gpu-node-3", "OOMKilling")
    assert condition(fleet.node("gpu-node-2"), "MemoryPressure")["status"] == "False"

    fleet.run_until("the ReplicaSet replaces the evicted pod on another node", lambda: len(
        [p for p in fleet.pods("qwen-7b") if p["status"].get("phase") != "Failed"]) == 3, within_s=10)
    assert all(p["spec"]["nodeName"] != "gpu-node-3" for p in fleet.pods("qwen-7b")
               if p["status"].get("phase") != "Failed")


def test_memory_pressure_outlasts_the_threshold_by_the_transition_period(fleet: Fleet) -> None:
    fleet.inject("host_oom", {"node": "gpu-node-3"}, fill_s=5)
    fleet.run_until("MemoryPressure", lambda: condition(fleet.node("gpu-node-3"), "MemoryPressure")["status"]
                    == "True", within_s=15)
    fleet.sandbox.world.hosts["gpu-node-3"].system_memory_growth = 0.0
    fleet.sandbox.world.hosts["gpu-node-3"].system_memory_bytes = 24 * 1024**3  # the runaway is stopped

    fleet.run(4)  # 240 fleet seconds: within evictionPressureTransitionPeriod (5m)
    assert condition(fleet.node("gpu-node-3"), "MemoryPressure")["status"] == "True"
    fleet.run(2)
    assert condition(fleet.node("gpu-node-3"), "MemoryPressure")["status"] == "False"


# The kernel's line as node-problem-detector's kernel monitor matches it (config/kernel-monitor.json), with a
# host PID and the Guaranteed pod's oom_score_adj.
OOM_KILL_LINE = re.compile(r"Memory cgroup out of memory: Killed process (\d{6,7}) \(python3\) total-vm:\d+kB, "
                           r"anon-rss:\d+kB, file-rss:\d+kB, shmem-rss:\d+kB, UID:0 pgtables:\d+kB oom_score_adj:-997")


def test_the_shapes_held_to_here_are_those_of_real_clusters() -> None:
    """The patterns above match the real samples (tests/fixtures/real/kubernetes), so the sandbox is held to them."""
    events = json.loads((REAL_KUBERNETES / "events.json").read_text())["items"]
    evicted = next(e for e in events if e["reason"] == "Evicted")
    kill = next(e for e in events if e["reason"] == "OOMKilling" and e["message"].startswith("Memory cgroup"))
    not_ready = next(e for e in events if e["reason"] == "NodeNotReady" and e["involvedObject"]["kind"] == "Pod")

    assert EVICTION_MESSAGE.fullmatch(evicted["message"]) and OOM_KILL_LINE.fullmatch(kill["message"])
    assert kill["source"]["component"] == "kernel-monitor"
    assert (not_ready["message"], not_ready["source"]["component"]) == ("Node is not ready", "node-controller")


def test_leaking_processes_grow_their_working_set_until_the_memory_limit_kills_them(fleet: Fleet) -> None:
    pods = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in fleet.pods("mistral-7b")}

    fleet.inject("memory_leak", {"deployment": "mistral-7b"}, to_limit_s=20)
    readings = []
    for _ in range(3):
        readings.append({name: fleet.cadvisor(node).one("container_memory_working_set_bytes", pod=name)
                         for name, node in pods.items()})
        fleet.run(5)

    for name, node in pods.items():
        assert readings[0][name] < readings[1][name] < readings[2][name]
        limit = fleet.cadvisor(node).one("container_spec_memory_limit_bytes", pod=name)
        assert limit == 48 * 1024**3 and readings[2][name] > 0.5 * limit
    fleet.run_until("every leaking container is killed at its limit", lambda: all(
        container(fleet.pod(name))["lastState"].get("terminated", {}).get("reason") == "OOMKilled"
        for name in pods), within_s=15)
    for name, node in pods.items():
        assert container(fleet.pod(name))["lastState"]["terminated"]["exitCode"] == 137
        kills = fleet.events(node, "OOMKilling")
        assert kills and all(e["source"]["component"] == "kernel-monitor" for e in kills)
        assert any(OOM_KILL_LINE.fullmatch(e["message"]) for e in kills)
        assert not fleet.events(node, "SystemOOM")  # a container's cgroup, not the root one


# -- one pod, one model ----------------------------------------------------------------------------------------
def test_a_hung_engine_stops_generating_while_its_probe_passes_and_the_gateway_times_out(fleet: Fleet) -> None:
    victim = fleet.pods("qwen-7b")[1]["metadata"]["name"]
    peers = [p["metadata"]["name"] for p in fleet.pods("qwen-7b") if p["metadata"]["name"] != victim]
    before = fleet.gateway()

    fleet.inject("hung_pod", {"deployment": "qwen-7b", "replica": 1})
    fleet.run(2)
    first = {name: fleet.vllm(name) for name in [victim, *peers]}
    fleet.run(10)
    second = {name: fleet.vllm(name) for name in [victim, *peers]}

    def tokens(page: Samples) -> float:
        return page.value("vllm:generation_tokens_total")
    assert tokens(second[victim]) == tokens(first[victim]) > 0
    assert all(tokens(second[p]) > tokens(first[p]) for p in peers)
    # A wedged engine sends no stats: its gauges freeze too, with requests still running, and no queue grows
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert second[victim].value(gauge) == first[victim].value(gauge)
    assert second[victim].value("vllm:num_requests_running") > 0
    assert " 504 " not in fleet.logs(victim, "vllm")  # the gateway timed out; vLLM never answered, so never logged
    pod = fleet.pod(victim)
    assert is_ready(pod) and container(pod)["restartCount"] == 0
    # LiteLLM reports an upstream timeout as litellm.Timeout, status 408.
    timeouts = fleet.gateway().value(FAILURES, requested_model="qwen-7b", api_provider="hosted_vllm",
                                     exception_status="408", exception_class="Hosted_vllm.Timeout")
    assert timeouts > before.value(FAILURES, requested_model="qwen-7b", exception_status="408") == 0


def test_a_request_that_kills_the_engine_takes_down_every_replica_of_the_model(fleet: Fleet) -> None:
    replicas = [p["metadata"]["name"] for p in fleet.pods("mistral-7b")]
    others = [p["metadata"]["name"] for m in ("llama-70b", "qwen-7b") for p in fleet.pods(m)]
    before = fleet.gateway()

    fleet.inject("primary_outage", {"deployment": "mistral-7b"})
    backing_off: set[str] = set()
    for _ in range(40):
        fleet.run(TICK_S)
        backing_off |= {name for name in replicas if waiting_reason(fleet.pod(name)) == "CrashLoopBackOff"}

    assert backing_off == set(replicas)
    for name in replicas:
        status = container(fleet.pod(name))
        assert status["restartCount"] >= 3
        assert (status["lastState"]["terminated"]["exitCode"], status["lastState"]["terminated"]["reason"]) == \
            (0, "Completed")
        assert "EngineCore encountered a fatal error" in fleet.logs(name, "vllm", previous=True)
    assert all(container(fleet.pod(name))["restartCount"] == 0 for name in others)
    after = fleet.gateway()
    # No ready endpoint behind the model's Service: LiteLLM's connection is refused (APIConnectionError, 500).
    assert after.value(FAILURES, requested_model="mistral-7b", api_provider="hosted_vllm",
                       exception_class="Hosted_vllm.APIConnectionError") > 0
    assert after.value(FAILURES, requested_model="mistral-7b", exception_status=FIVE_XX) > \
        before.value(FAILURES, requested_model="mistral-7b", exception_status=FIVE_XX)


def test_a_traffic_surge_fills_the_queues_and_kv_caches_and_slows_first_tokens(fleet: Fleet) -> None:
    start = fleet.slis("qwen-7b")
    fleet.run(10)
    steady = fleet.slis("qwen-7b").since(start)

    fleet.inject("traffic_surge", {"deployment": "qwen-7b"}, factor=2)
    fleet.run(10)
    mid = fleet.slis("qwen-7b")
    fleet.run(10)
    surge = fleet.slis("qwen-7b").since(mid)

    assert surge.requests > 1.6 * steady.requests
    assert surge.slow_share > PAGE_SLOW_SHARE > steady.slow_share
    for pod in fleet.pods("qwen-7b"):
        page = fleet.vllm(pod["metadata"]["name"])
        assert page.value("vllm:num_requests_waiting") > 0
        assert page.value("vllm:kv_cache_usage_perc") >= 0.95
        assert container(pod)["restartCount"] == 0


# -- nodes -----------------------------------------------------------------------------------------------------
def test_a_node_that_goes_dark_turns_unknown_gets_tainted_and_its_pods_unready(fleet: Fleet) -> None:
    on_node = [p["metadata"]["name"] for m in MODELS for p in fleet.pods(m) if p["spec"]["nodeName"] == "gpu-node-4"]
    assert len(on_node) == 2  # llama-70b replica 3 and mistral-7b replica 0
    lease = fleet.sandbox.store.get("coordination.k8s.io/leases", "kube-node-lease", "gpu-node-4")

    fleet.inject("node_not_ready", {"node": "gpu-node-4"})
    fleet.run(5)

    node = fleet.node("gpu-node-4")
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert ready["message"] == "Kubelet stopped posting node status."
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
    assert fleet.events("gpu-node-4", "NodeNotReady")
    for name in on_node:  # MarkPodsNotReady: the Ready condition only, and its event
        pod = fleet.pod(name)
        assert not is_ready(pod) and "reason" not in condition(pod, "Ready")
        assert condition(pod, "ContainersReady")["status"] == "True" and container(pod)["ready"]
        (event,) = fleet.events(name, "NodeNotReady")
        assert (event["type"], event["message"], event["source"]["component"]) == (
            "Warning", "Node is not ready", "node-controller")
    assert fleet.sandbox.store.get("coordination.k8s.io/leases", "kube-node-lease", "gpu-node-4")["spec"][
        "renewTime"] == lease["spec"]["renewTime"]
    for exporter in ("dcgm", "node", "cadvisor"):
        assert fleet.http.get(f"/metrics/nodes/gpu-node-4/{exporter}").status_code == 504
    assert condition(fleet.node("gpu-node-3"), "Ready")["status"] == "True"


# -- the gateway's backends ------------------------------------------------------------------------------------
def test_a_failing_backup_provider_fails_the_share_routed_to_it(fleet: Fleet) -> None:
    before = fleet.gateway()

    fleet.inject("provider_outage", {"provider": "anthropic"})
    fleet.run(15)
    after = fleet.gateway()

    def grew(name: str, **labels: LabelMatch) -> float:
        return after.value(name, **labels) - before.value(name, **labels)
    assert grew(FAILURES, requested_model="llama-70b", api_provider="anthropic", exception_status=FIVE_XX) > 0
    assert grew(SUCCESSES, requested_model="llama-70b", api_provider="anthropic") == 0
    assert grew(FAILURES, requested_model="llama-70b", api_provider="hosted_vllm") == 0
    assert grew(SUCCESSES, api_provider="openai") > 0
    assert {v for _, v in after.select("litellm_deployment_state", api_provider="anthropic")} == {1}  # partial outage


def test_a_throttling_provider_answers_429_and_the_gateway_fails_those_requests(fleet: Fleet) -> None:
    before = fleet.gateway()

    fleet.inject("provider_rate_limit", {"provider": "openai"})
    fleet.run(30)  # the standby's 5 % of qwen-7b is a few requests a second, of which 30 % get through
    after = fleet.gateway()

    def grew(name: str, **labels: LabelMatch) -> float:
        return after.value(name, **labels) - before.value(name, **labels)
    assert before.value(FAILURES, exception_status="429") == 0
    assert grew(FAILURES, requested_model="qwen-7b", api_provider="openai", exception_status="429",
                exception_class="Openai.RateLimitError") > 0
    assert grew(SUCCESSES, api_provider="openai") > 0  # throttled, not down
    assert after.value("litellm_remaining_requests_metric", api_provider="openai") == 0
    assert grew(FAILURES, api_provider="anthropic", exception_status="429") == 0


def test_a_slow_shared_dependency_slows_every_model_at_the_gateway_but_no_engine(fleet: Fleet) -> None:
    before = fleet.gateway()
    engines_before = {p["metadata"]["name"]: fleet.vllm(p["metadata"]["name"]) for p in fleet.pods("llama-70b")}

    fleet.inject("dependency_latency", {"dependency": "auth-service"}, added_s=0.9)
    fleet.run(15)
    after = fleet.gateway()

    server = "http_server_request_duration_seconds"  # each service's own OTel HTTP server histogram
    assert mean(fleet.service("auth-service"), Samples([]), server, http_route="/v1/authorize") > 0.5
    assert mean(fleet.service("tokenizer-service"), Samples([]), server, http_route="/v1/tokenize") < 0.05
    for model in MODELS:  # LiteLLM's total latency holds the wait; its TTFT starts at the upstream call
        assert mean(after, before, "litellm_request_total_latency_metric", requested_model=model) > \
            mean(before, Samples([]), "litellm_request_total_latency_metric", requested_model=model) + 0.5
        assert Slis.of(after, model).since(Slis.of(before, model)).slow_share < PAGE_SLOW_SHARE, model
    for name, page in engines_before.items():
        assert mean(fleet.vllm(name), page, "vllm:time_to_first_token_seconds") < 0.6
    assert all(container(p)["restartCount"] == 0 for m in MODELS for p in fleet.pods(m))


def test_a_gpu_fault_may_name_the_pod_it_hits_instead_of_its_node(fleet: Fleet) -> None:
    victim = fleet.pod_on_gpu("gpu-node-3", 2)
    assert victim.startswith("qwen-7b-")
    replica = [p["metadata"]["name"] for p in fleet.pods("qwen-7b")].index(victim)

    fleet.inject("gpu_xid", {"deployment": "qwen-7b", "replica": replica}, xid=79)
    fleet.run_until("the device plugin withdraws the GPU", lambda: fleet.node("gpu-node-3")["status"][
        "allocatable"]["nvidia.com/gpu"] == "7", within_s=10)

    assert fleet.dcgm("gpu-node-3").select("DCGM_FI_DEV_GPU_TEMP", gpu="2") == []
    assert all(fleet.node(n)["status"]["allocatable"]["nvidia.com/gpu"] == "8"
               for n in ("gpu-node-1", "gpu-node-2", "gpu-node-4"))
