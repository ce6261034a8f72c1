"""The sandbox API server as the official `kubernetes` Python client (v37) sees it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from conftest import NS, ApiServer
from kubernetes import client, config, watch

CRASHING = "qwen-7b-7f8d9c6b5-x2k4p"
HEALTHY = "qwen-7b-7f8d9c6b5-a1b2c"
OTHER = "qwen-7b-7f8d9c6b5-d3e4f"


@pytest.fixture
def api_client(api: ApiServer) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(str(api.kubeconfig)) as api_client:
        yield api_client


def test_list_and_read(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    pods = core.list_namespaced_pod(NS, label_selector="app=qwen-7b", field_selector="spec.nodeName=gpu-node-2")
    assert sorted(p.metadata.name for p in pods.items) == [OTHER, CRASHING]
    assert int(pods.metadata.resource_version) > 0
    crashing = core.read_namespaced_pod(CRASHING, NS)
    status = crashing.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.reason == "OOMKilled" and status.restart_count == 4
    nodes = core.list_node()
    assert {n.metadata.name for n in nodes.items} == {"gpu-node-1", "gpu-node-2"}
    assert nodes.items[0].status.capacity["nvidia.com/gpu"] == "8"
    replicasets = client.AppsV1Api(api_client).list_namespaced_replica_set(NS)
    assert {rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in replicasets.items} == {"1", "2"}


def test_missing_objects_are_404_with_the_real_message(api_client: client.ApiClient) -> None:
    with pytest.raises(client.ApiException) as caught:
        client.AppsV1Api(api_client).read_namespaced_deployment("llama-70b", NS)
    assert caught.value.status == 404
    assert '"message":"deployments.apps \\"llama-70b\\" not found"' in caught.value.body


def test_patch_and_delete(api: ApiServer, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    patched = core.patch_node("gpu-node-1", {"spec": {"unschedulable": True}})
    assert patched.spec.unschedulable is True
    deleted = core.delete_namespaced_pod(HEALTHY, NS)
    assert deleted.metadata.deletion_timestamp is not None  # bound to a node: graceful
    core.delete_namespaced_pod(HEALTHY, NS, grace_period_seconds=0)
    assert api.find("pods", HEALTHY) is None


def test_replace_with_a_stale_resource_version_conflicts(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    routes = core.read_namespaced_config_map("gateway-routes", NS)
    core.patch_namespaced_config_map("gateway-routes", NS, {"data": {"routes.yaml": "qwen-7b:\n  openai: 100\n"}})
    routes.data["routes.yaml"] = "qwen-7b:\n  self: 100\n"
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("gateway-routes", NS, routes)
    assert caught.value.status == 409 and "the object has been modified" in caught.value.body


def test_scale_through_the_scale_subresource(api: ApiServer, api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    scale = apps.patch_namespaced_deployment_scale("qwen-7b", NS, {"spec": {"replicas": 6}})
    assert scale.spec.replicas == 6 and scale.status.selector == "app=qwen-7b"
    assert api.get("apps/deployments", "qwen-7b")["spec"]["replicas"] == 6
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment_scale("qwen-7b", NS, {"spec": {"replicas": -1}})
    assert caught.value.status == 422 and "must be greater than or equal to 0" in caught.value.body


def test_read_pod_logs(api: ApiServer, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    assert core.read_namespaced_pod_log(HEALTHY, NS, tail_lines=1).endswith('"GET /health HTTP/1.1" 200 OK\n')
    assert "CUDA out of memory" in core.read_namespaced_pod_log(CRASHING, NS, container="vllm", previous=True)

    def add_sidecar(pod: dict) -> None:
        pod["spec"]["containers"].append({"name": "metrics-proxy", "image": "envoyproxy/envoy:v1.31"})
    api.mutate("pods", HEALTHY, add_sidecar)
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod_log(HEALTHY, NS)
    assert caught.value.status == 400
    assert "a container name must be specified for pod qwen-7b-7f8d9c6b5-a1b2c, choose one of: [vllm " \
           "metrics-proxy]" in caught.value.body


def test_watch_stream_sees_added_modified_deleted(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    stream = watch.Watch()
    events: list[tuple[str, str]] = []

    def change_things() -> None:
        core.patch_namespaced_pod(HEALTHY, NS, {"metadata": {"labels": {"drain": "soon"}}})
        core.delete_namespaced_pod(HEALTHY, NS, grace_period_seconds=0)

    for event in stream.stream(core.list_namespaced_pod, NS, label_selector="app=qwen-7b", timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:  # the initial ADDED for every pod
            threading.Thread(target=change_things).start()
        if event["type"] == "DELETED":
            stream.stop()
    assert sorted(events[:3]) == [("ADDED", HEALTHY), ("ADDED", OTHER), ("ADDED", CRASHING)]
    assert events[3:] == [("MODIFIED", HEALTHY), ("DELETED", HEALTHY)]


def test_eviction_respects_the_disruption_budget(api: ApiServer, api_client: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api_client), client.PolicyV1Api(api_client)
    policy.create_namespaced_pod_disruption_budget(NS, {
        "metadata": {"name": "qwen-7b"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "qwen-7b"}}}})
    body = {"metadata": {"name": HEALTHY, "namespace": NS}}
    with pytest.raises(client.ApiException) as caught:  # 2 healthy pods, 2 needed
        core.create_namespaced_pod_eviction(HEALTHY, NS, body)
    assert caught.value.status == 429
    assert "The disruption budget qwen-7b needs 2 healthy pods and has 2 currently" in caught.value.body
    assert api.get("pods", HEALTHY)["metadata"].get("deletionTimestamp") is None

    # maxUnavailable 50% of 3 pods rounds up to 2, so 1 healthy pod must stay: one of the two may go.
    policy.patch_namespaced_pod_disruption_budget(
        "qwen-7b", NS, {"spec": {"minAvailable": None, "maxUnavailable": "50%"}})
    core.create_namespaced_pod_eviction(HEALTHY, NS, body)
    assert api.get("pods", HEALTHY)["metadata"]["deletionGracePeriodSeconds"] == 30  # deleted gracefully
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_pod_eviction(OTHER, NS, {"metadata": {"name": OTHER, "namespace": NS}})
    assert caught.value.status == 429


def test_events_in_both_apis(api_client: client.ApiClient) -> None:
    core_events = client.CoreV1Api(api_client).list_namespaced_event(
        NS, field_selector=f"involvedObject.name={CRASHING},reason=BackOff")
    assert [e.count for e in core_events.items] == [12]
    new_events = client.EventsV1Api(api_client).list_namespaced_event(NS, field_selector="reason=BackOff")
    event = new_events.items[0]
    assert event.regarding.name == CRASHING and event.deprecated_count == 12
    assert event.note.startswith("Back-off restarting failed container") and event.reporting_controller == "kubelet"
