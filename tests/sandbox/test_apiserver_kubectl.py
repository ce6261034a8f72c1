"""The sandbox API server as the real kubectl sees it: every test runs the kubectl binary against it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from conftest import NS, TOKEN, ApiServer, Lines

CRASHING = "qwen-7b-7f8d9c6b5-x2k4p"
HEALTHY = "qwen-7b-7f8d9c6b5-a1b2c"


def rows(output: str) -> dict[str, list[str]]:
    """kubectl's table output as {NAME: cells}, header dropped."""
    lines = output.strip().splitlines()[1:]
    return {line.split()[0]: line.split() for line in lines}


def test_get_pods_prints_status_and_restarts_like_a_cluster(api: ApiServer) -> None:
    out = api.kubectl("get", "pods").stdout
    assert out.split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    table = rows(out)
    assert table[HEALTHY][1:3] == ["1/1", "Running"]
    assert table[CRASHING][1:3] == ["0/1", "CrashLoopBackOff"]
    assert table[CRASHING][3] == "4" and table[CRASHING][5] == "ago)"  # "4 (95s ago)"


def test_get_pods_wide_shows_ip_and_node(api: ApiServer) -> None:
    out = api.kubectl("get", "pods", "-o", "wide").stdout
    assert "IP" in out.splitlines()[0] and "NOMINATED NODE" in out.splitlines()[0]
    assert "10.244.2.9" in rows(out)[CRASHING] and "gpu-node-2" in rows(out)[CRASHING]


def test_label_and_field_selectors(api: ApiServer) -> None:
    on_node_2 = api.kubectl("get", "pods", "-l", "app=qwen-7b", "--field-selector", "spec.nodeName=gpu-node-2",
                            "-o", "name").stdout.split()
    assert sorted(on_node_2) == ["pod/qwen-7b-7f8d9c6b5-d3e4f", f"pod/{CRASHING}"]
    assert api.kubectl("get", "pods", "-l", "app=other").stderr.strip() == f"No resources found in {NS} namespace."
    everywhere = api.kubectl("get", "pods", "-A", "--field-selector", "metadata.name=" + HEALTHY).stdout
    assert rows(everywhere)[NS][1] == HEALTHY


def test_json_and_jsonpath_output(api: ApiServer) -> None:
    pods = json.loads(api.kubectl("get", "pods", "-o", "json").stdout)
    assert pods["kind"] == "List" and len(pods["items"]) == 3
    reason = api.kubectl("get", "pod", CRASHING, "-o",
                         "jsonpath={.status.containerStatuses[0].lastState.terminated.reason}").stdout
    assert reason == "OOMKilled"


def test_nodes_deployments_replicasets_events_configmaps(api: ApiServer) -> None:
    nodes = api.kubectl("get", "nodes").stdout
    assert nodes.split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows(nodes)["gpu-node-1"][1:3] == ["Ready", "gpu"] and rows(nodes)["gpu-node-1"][4] == "v1.31.4"
    deploy = api.kubectl("get", "deploy").stdout
    assert deploy.split()[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows(deploy)["qwen-7b"][1:4] == ["2/3", "3", "2"]
    replicasets = rows(api.kubectl("get", "rs").stdout)
    assert replicasets["qwen-7b-7f8d9c6b5"][1:4] == ["3", "3", "2"]
    events = api.kubectl("get", "events").stdout
    assert events.split()[:6] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert f"Warning   BackOff   pod/{CRASHING}" in events
    assert rows(api.kubectl("get", "cm").stdout)["gateway-routes"][1] == "1"


def test_describe_pod_and_node(api: ApiServer) -> None:
    pod = api.kubectl("describe", "pod", CRASHING).stdout
    assert "Reason:       CrashLoopBackOff" in pod and "Reason:       OOMKilled" in pod
    assert "Controlled By:  ReplicaSet/qwen-7b-7f8d9c6b5" in pod
    assert "BackOff" in pod.split("Events:")[1]  # events found by the involvedObject field selector
    node = api.kubectl("describe", "node", "gpu-node-2").stdout
    assert "nvidia.com/gpu:     8" in node and "Non-terminated Pods:          (2 in total)" in node


def test_scale(api: ApiServer) -> None:
    assert api.kubectl("scale", "deployment", "qwen-7b", "--replicas=5").stdout.strip() == \
        "deployment.apps/qwen-7b scaled"
    assert api.get("apps/deployments", "qwen-7b")["spec"]["replicas"] == 5
    refused = api.kubectl("scale", "deployment", "qwen-7b", "--replicas=-1", check=False)
    assert refused.returncode != 0


def test_patch_strategic_merge_and_json(api: ApiServer) -> None:
    env = '{"spec":{"template":{"spec":{"containers":[{"name":"vllm","env":[{"name":"VLLM_X","value":"1"}]}]}}}}'
    api.kubectl("patch", "deployment", "qwen-7b", "--type", "strategic", "-p", env)
    container = api.get("apps/deployments", "qwen-7b")["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]] == ["VLLM_LOGGING_LEVEL", "VLLM_X"]  # merged by name
    assert container["image"] == "vllm/vllm-openai:v0.6.3"  # the rest of the container kept
    api.kubectl("patch", "deployment", "qwen-7b", "--type", "merge", "-p", '{"metadata":{"labels":{"team":"ml"}}}')
    api.kubectl("patch", "deployment", "qwen-7b", "--type", "json",
                "-p", '[{"op":"replace","path":"/spec/replicas","value":2}]')
    deploy = api.get("apps/deployments", "qwen-7b")
    assert deploy["metadata"]["labels"]["team"] == "ml" and deploy["spec"]["replicas"] == 2
    same = api.kubectl("patch", "deployment", "qwen-7b", "--type", "merge", "-p", '{"spec":{"replicas":2}}')
    assert same.stdout.strip() == "deployment.apps/qwen-7b patched (no change)"
    failed = api.kubectl("patch", "deployment", "qwen-7b", "--type", "json",
                         "-p", '[{"op":"test","path":"/spec/replicas","value":7}]', check=False)
    assert failed.returncode != 0 and "test failed" in failed.stderr


def test_delete_pod_is_graceful_unless_forced(api: ApiServer) -> None:
    api.kubectl("delete", "pod", HEALTHY, "--wait=false")
    pod = api.get("pods", HEALTHY)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30 and pod["metadata"]["deletionTimestamp"]
    assert rows(api.kubectl("get", "pods").stdout)[HEALTHY][2] == "Terminating"
    api.kubectl("delete", "pod", HEALTHY, "--force", "--grace-period=0")
    assert api.find("pods", HEALTHY) is None


def test_cordon_and_uncordon(api: ApiServer) -> None:
    api.kubectl("cordon", "gpu-node-1")
    assert rows(api.kubectl("get", "nodes").stdout)["gpu-node-1"][1] == "Ready,SchedulingDisabled"
    api.kubectl("uncordon", "gpu-node-1")
    assert not api.get("nodes", "gpu-node-1", namespace=None)["spec"].get("unschedulable")


def test_drain_evicts_the_nodes_pods(api: ApiServer) -> None:
    stop = threading.Event()

    def kubelet() -> None:
        """Finish graceful deletions at once, as the sandbox's kubelet would after the grace period."""
        def finish() -> None:
            for pod in list(api.store.objects("pods")):
                if pod["metadata"].get("deletionTimestamp"):
                    api.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        while not stop.wait(0.1):
            api.call(finish)

    threading.Thread(target=kubelet, daemon=True).start()
    try:
        drained = api.kubectl("drain", "gpu-node-2", "--ignore-daemonsets", "--timeout=20s")
    finally:
        stop.set()
    assert "evicting pod inference/qwen-7b-7f8d9c6b5-d3e4f" in drained.stderr + drained.stdout
    assert drained.stdout.strip().endswith("node/gpu-node-2 drained")
    assert api.get("nodes", "gpu-node-2", namespace=None)["spec"]["unschedulable"] is True
    assert {p["spec"]["nodeName"] for p in api.call(lambda: list(api.store.list("pods", NS)))} == {"gpu-node-1"}


def test_rollout_restart_stamps_the_template(api: ApiServer) -> None:
    api.kubectl("rollout", "restart", "deployment/qwen-7b")
    deploy = api.get("apps/deployments", "qwen-7b")
    assert "kubectl.kubernetes.io/restartedAt" in deploy["spec"]["template"]["metadata"]["annotations"]
    assert deploy["metadata"]["generation"] == 2


def test_rollout_history_and_undo(api: ApiServer) -> None:
    history = api.kubectl("rollout", "history", "deployment/qwen-7b").stdout
    assert [line.split()[0] for line in history.strip().splitlines()[2:]] == ["1", "2"]
    assert "vllm/vllm-openai:v0.6.2" in api.kubectl("rollout", "history", "deployment/qwen-7b",
                                                     "--revision=1").stdout
    assert api.kubectl("rollout", "undo", "deployment/qwen-7b").stdout.strip() == \
        "deployment.apps/qwen-7b rolled back"
    template = api.get("apps/deployments", "qwen-7b")["spec"]["template"]
    revision_1 = api.get("apps/replicasets", "qwen-7b-5d9c7b8f6")["spec"]["template"]
    del revision_1["metadata"]["labels"]["pod-template-hash"]
    assert template == revision_1


def test_rollout_status_follows_the_deployment(api: ApiServer) -> None:
    watcher = Lines(api.kubectl_background("rollout", "status", "deployment/qwen-7b", "--timeout=20s"))
    watcher.wait_for(lambda line: "2 of 3 updated replicas are available" in line)

    def recovered(obj: dict) -> None:
        obj["status"].update(readyReplicas=3, availableReplicas=3, unavailableReplicas=0)
    api.mutate("apps/deployments", "qwen-7b", recovered)
    watcher.wait_for(lambda line: line == 'deployment "qwen-7b" successfully rolled out')
    assert watcher.proc.wait(timeout=10) == 0


def test_logs_tail_since_and_previous(api: ApiServer) -> None:
    assert len(api.kubectl("logs", HEALTHY).stdout.splitlines()) == 4
    assert api.kubectl("logs", HEALTHY, "--tail=1").stdout.strip().endswith('"GET /health HTTP/1.1" 200 OK')
    assert len(api.kubectl("logs", HEALTHY, "--since=10m").stdout.splitlines()) == 1
    assert "CUDA out of memory" in api.kubectl("logs", CRASHING, "--previous").stdout
    missing = api.kubectl("logs", HEALTHY, "--previous", check=False)
    assert missing.returncode != 0 and "previous terminated container" in missing.stderr


def test_logs_follow_streams_new_lines(api: ApiServer) -> None:
    follower = Lines(api.kubectl_background("logs", "-f", "--tail=1", HEALTHY))
    follower.wait_for(lambda line: "GET /health" in line)
    api.call(lambda: api.logs.add(NS, HEALTHY, "vllm", "INFO: Avg prompt throughput: 812.4 tokens/s"))
    follower.wait_for(lambda line: "Avg prompt throughput" in line)
    follower.stop()


def test_get_watch_receives_changes(api: ApiServer) -> None:
    watcher = Lines(api.kubectl_background("get", "pods", "-w"))
    watcher.wait_for(lambda line: line.startswith(CRASHING))

    def scheduled_again(obj: dict) -> None:
        obj["status"]["containerStatuses"][0]["state"] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    api.mutate("pods", CRASHING, scheduled_again)
    line = watcher.wait_for(lambda line: line.startswith(CRASHING) and "Running" in line)
    assert line.split()[1] == "0/1"  # running but not ready yet
    watcher.stop()


def test_requests_without_the_token_are_refused(api: ApiServer, tmp_path: Path) -> None:
    config = api.kubeconfig.read_text().replace(TOKEN, "wrong-token")
    (tmp_path / "wrong").write_text(config)
    refused = api.kubectl("--kubeconfig", str(tmp_path / "wrong"), "get", "pods", check=False)
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr


def test_create_apply_and_delete_from_a_manifest(api: ApiServer, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  canary: 'off'\n")
    assert api.kubectl("apply", "-f", str(manifest)).stdout.strip() == "configmap/flags created"
    manifest.write_text(manifest.read_text().replace("'off'", "'on'"))
    assert api.kubectl("apply", "-f", str(manifest)).stdout.strip() == "configmap/flags configured"
    assert api.get("configmaps", "flags")["data"] == {"canary": "on"}
    api.kubectl("delete", "-f", str(manifest))
    assert api.find("configmaps", "flags") is None
