"""Wire-level behaviour clients depend on: auth, discovery, Status errors, tables, writes, deletes, watches."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from conftest import NS, ApiServer

HEALTHY = "qwen-7b-7f8d9c6b5-a1b2c"
PODS = f"/api/v1/namespaces/{NS}/pods"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class Events:
    """The events of a streamed watch response, read as they arrive."""

    def __init__(self, response: httpx.Response):
        self._lines = response.iter_lines()

    def take(self, count: int) -> list[dict]:
        return [json.loads(next(self._lines)) for _ in range(count)]

    def rest(self) -> list[dict]:
        """Every event until the server ends the stream."""
        return [json.loads(line) for line in self._lines if line]


def test_token_is_required_except_for_public_info(api: ApiServer) -> None:
    with api.http(token=None) as anonymous:
        refused = anonymous.get(PODS)
        assert refused.status_code == 401
        assert refused.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        assert anonymous.get("/version").json()["gitVersion"].startswith("v1.31.")
        assert anonymous.get("/healthz").text == "ok"
    with api.http(token="wrong") as wrong:
        assert wrong.get("/version").status_code == 401


def test_discovery_documents(api: ApiServer) -> None:
    with api.http() as http:
        assert http.get("/api").json()["versions"] == ["v1"]
        core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
        assert core["pods"]["shortNames"] == ["po"] and core["pods"]["categories"] == ["all"]
        assert "deletecollection" in core["pods"]["verbs"] and core["pods"]["singularName"] == "pod"
        assert core["pods/log"]["verbs"] == ["get"]
        assert (core["pods/eviction"]["group"], core["pods/eviction"]["kind"]) == ("policy", "Eviction")
        apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
        assert (apps["deployments/scale"]["group"], apps["deployments/scale"]["kind"]) == ("autoscaling", "Scale")
        groups = {g["name"] for g in http.get("/apis").json()["groups"]}
        assert {"apps", "policy", "events.k8s.io", "coordination.k8s.io", "authorization.k8s.io"} <= groups
        assert http.get("/apis/nope.example.com/v1").status_code == 404


def test_tables_honour_include_object(api: ApiServer) -> None:
    with api.http() as http:
        table = http.get(PODS, headers={"Accept": TABLE}).json()
        assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
        assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
        assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"  # the default: Metadata
        full = http.get(PODS, params={"includeObject": "Object"}, headers={"Accept": TABLE}).json()
        assert full["rows"][0]["object"]["kind"] == "Pod"
        bare = http.get(PODS, params={"includeObject": "None"}, headers={"Accept": TABLE}).json()
        assert "object" not in bare["rows"][0]
        one = http.get("/api/v1/nodes/gpu-node-1", headers={"Accept": TABLE}).json()
        assert one["rows"][0]["cells"][:2] == ["gpu-node-1", "Ready"]


def test_errors_are_status_objects(api: ApiServer) -> None:
    with api.http() as http:
        missing = http.get(f"{DEPLOYMENTS}/llama-70b").json()
        assert missing == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'deployments.apps "llama-70b" not found', "reason": "NotFound",
                           "details": {"name": "llama-70b", "group": "apps", "kind": "deployments"}, "code": 404}
        assert http.delete(f"/api/v1/namespaces/{NS}").status_code == 405
        unsupported = http.patch(f"{DEPLOYMENTS}/qwen-7b", content=b"{}", headers={"Content-Type": "text/plain"})
        assert unsupported.status_code == 415 and unsupported.json()["reason"] == "UnsupportedMediaType"
        bad_name = http.post(f"/api/v1/namespaces/{NS}/configmaps", json={"metadata": {"name": "Bad_Name"}})
        assert bad_name.status_code == 422
        assert bad_name.json()["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value')
        negative = http.patch(f"{DEPLOYMENTS}/qwen-7b", json={"spec": {"replicas": -1}},
                              headers={"Content-Type": "application/merge-patch+json"})
        assert negative.status_code == 422
        assert negative.json()["details"]["causes"][0]["field"] == "spec.replicas"


def test_dry_run_stores_nothing(api: ApiServer) -> None:
    with api.http() as http:
        created = http.post(f"/api/v1/namespaces/{NS}/configmaps", params={"dryRun": "All"},
                            json={"metadata": {"name": "preview"}, "data": {"a": "1"}})
        assert created.status_code == 201 and created.json()["metadata"]["uid"]
        assert api.find("configmaps", "preview") is None
        scaled = http.patch(f"{DEPLOYMENTS}/qwen-7b/scale", params={"dryRun": "All"}, json={"spec": {"replicas": 9}},
                            headers={"Content-Type": "application/merge-patch+json"})
        assert scaled.json()["spec"]["replicas"] == 9
        deleted = http.delete(f"{PODS}/{HEALTHY}", params={"dryRun": "All"})
        assert deleted.status_code == 200
    assert api.get("apps/deployments", "qwen-7b")["spec"]["replicas"] == 3
    assert "deletionTimestamp" not in api.get("pods", HEALTHY)["metadata"]


def test_status_subresource_writes_only_status(api: ApiServer) -> None:
    with api.http() as http:
        deploy = http.get(f"{DEPLOYMENTS}/qwen-7b").json()
        deploy["spec"]["replicas"] = 10
        deploy["status"]["readyReplicas"] = 3
        http.put(f"{DEPLOYMENTS}/qwen-7b/status", json=deploy).raise_for_status()
        stored = api.get("apps/deployments", "qwen-7b")
        assert stored["status"]["readyReplicas"] == 3 and stored["spec"]["replicas"] == 3
        deploy = http.get(f"{DEPLOYMENTS}/qwen-7b").json()
        deploy["spec"]["replicas"], deploy["status"]["readyReplicas"] = 4, 0
        http.put(f"{DEPLOYMENTS}/qwen-7b", json=deploy).raise_for_status()
        stored = api.get("apps/deployments", "qwen-7b")
        assert stored["status"]["readyReplicas"] == 3 and stored["spec"]["replicas"] == 4


def test_create_applies_the_servers_defaults(api: ApiServer) -> None:
    body = {"metadata": {"name": "mistral-7b"}, "spec": {
        "selector": {"matchLabels": {"app": "mistral-7b"}},
        "template": {"metadata": {"labels": {"app": "mistral-7b"}},
                     "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3"}]}}}}
    with api.http() as http:
        created = http.post(DEPLOYMENTS, json=body).json()
    spec = created["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created["metadata"]["generation"] == 1 and created["status"] == {}


def test_deleting_a_deployment_collects_its_replicasets_and_pods(api: ApiServer) -> None:
    with api.http() as http:
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        gone = http.request("DELETE", f"{DEPLOYMENTS}/qwen-7b", json=options)
        assert gone.status_code == 200 and gone.json()["kind"] == "Deployment"
    assert api.call(lambda: list(api.store.objects("apps/replicasets", NS))) == []
    pods = api.call(lambda: list(api.store.objects("pods", NS)))
    assert len(pods) == 3 and all(p["metadata"]["deletionTimestamp"] for p in pods)  # graceful, on nodes


def test_orphan_propagation_keeps_dependents(api: ApiServer) -> None:
    with api.http() as http:
        http.delete(f"/apis/apps/v1/namespaces/{NS}/replicasets/qwen-7b-7f8d9c6b5",
                    params={"propagationPolicy": "Orphan"}).raise_for_status()
    pod = api.get("pods", HEALTHY)
    assert pod["metadata"]["ownerReferences"] == [] and "deletionTimestamp" not in pod["metadata"]


def test_list_pages_with_limit_and_continue(api: ApiServer) -> None:
    with api.http() as http:
        first = http.get(PODS, params={"limit": 2}).json()
        assert len(first["items"]) == 2 and first["metadata"]["remainingItemCount"] == 1
        rest = http.get(PODS, params={"limit": 2, "continue": first["metadata"]["continue"]}).json()
        assert len(rest["items"]) == 1 and "continue" not in rest["metadata"]
        assert rest["kind"] == "PodList"


def test_watch_from_a_resource_version_replays_then_follows(api: ApiServer) -> None:
    version = api.get("pods", HEALTHY)["metadata"]["resourceVersion"]
    api.mutate("pods", HEALTHY, lambda pod: pod["metadata"]["labels"].update(step="1"))
    with api.http() as http, http.stream("GET", PODS, params={"watch": "true", "resourceVersion": version,
                                                              "fieldSelector": f"metadata.name={HEALTHY}"}) as stream:
        events = Events(stream)
        replayed = events.take(1)[0]
        assert (replayed["type"], replayed["object"]["metadata"]["labels"]["step"]) == ("MODIFIED", "1")
        api.mutate("pods", HEALTHY, lambda pod: pod["metadata"]["labels"].update(step="2"))
        followed = events.take(1)[0]
        assert followed["object"]["metadata"]["labels"]["step"] == "2"


def test_watch_selector_transitions_become_added_and_deleted(api: ApiServer) -> None:
    params = {"watch": "1", "labelSelector": "tier=canary", "timeoutSeconds": "5"}
    with api.http() as http, http.stream("GET", PODS, params=params) as stream:
        api.mutate("pods", HEALTHY, lambda pod: pod["metadata"]["labels"].update(tier="canary"))
        api.mutate("pods", HEALTHY, lambda pod: pod["metadata"]["labels"].pop("tier"))
        assert [e["type"] for e in Events(stream).take(2)] == ["ADDED", "DELETED"]


def test_watch_from_an_expired_version_is_an_error_event(api: ApiServer) -> None:
    for step in range(2100):  # more than the store keeps
        api.call(lambda step=step: api.store.mutate("configmaps", NS, "gateway-routes",
                                                    lambda cm: cm["data"].update(step=str(step))))
    with api.http() as http, http.stream("GET", PODS, params={"watch": "true", "resourceVersion": "2"}) as stream:
        assert stream.status_code == 200
        error = Events(stream).take(1)[0]
    assert error["type"] == "ERROR" and error["object"]["code"] == 410 and error["object"]["reason"] == "Expired"


def test_watch_list_ends_initial_events_with_a_bookmark(api: ApiServer) -> None:
    params = {"watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
              "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "5"}
    with api.http() as http, http.stream("GET", "/api/v1/nodes", params=params) as stream:
        events = Events(stream).take(3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_ends_at_timeout_and_frees_its_watcher(api: ApiServer) -> None:
    started = time.monotonic()
    with api.http() as http:
        body = http.get(PODS, params={"watch": "true", "timeoutSeconds": "1"}).text
    assert 1 <= time.monotonic() - started < 5 and body.count("ADDED") == 3
    with api.http() as http, http.stream("GET", PODS, params={"watch": "true"}) as stream:
        events = Events(stream)  # kept: dropping the line iterator would close the connection
        events.take(3)
        assert api.call(lambda: len(api.store._watchers)) == 1
    deadline = time.monotonic() + 5
    while api.call(lambda: len(api.store._watchers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.call(lambda: len(api.store._watchers)) == 0  # the client left; the store forgot it


def test_shutting_down_ends_open_watches_and_refuses_new_ones(api: ApiServer) -> None:
    with api.http() as http, http.stream("GET", PODS, params={"watch": "true"}) as stream:
        events = Events(stream)
        events.take(3)
        api.call(api.store.end_watches)
        assert events.rest() == []  # the stream ended cleanly instead of hanging until cancelled
        refused = http.get(PODS, params={"watch": "true"}).text
    assert json.loads(refused)["object"]["code"] == 503
    assert "shutting down" in json.loads(refused)["object"]["message"]


def test_events_k8s_io_is_a_view_of_core_events(api: ApiServer) -> None:
    with api.http() as http:
        events = http.get(f"/apis/events.k8s.io/v1/namespaces/{NS}/events",
                          params={"fieldSelector": "reason=BackOff"}).json()
        event = events["items"][0]
        assert events["kind"] == "EventList" and event["apiVersion"] == "events.k8s.io/v1"
        assert event["regarding"]["name"] == "qwen-7b-7f8d9c6b5-x2k4p" and event["deprecatedCount"] == 12
        assert event["eventTime"].endswith("Z") and event["reportingController"] == "kubelet"
        created = http.post(f"/apis/events.k8s.io/v1/namespaces/{NS}/events", json={
            "metadata": {"name": "drain.1"}, "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Normal",
            "reason": "Drained", "note": "node drained by firebreak", "action": "Drain",
            "reportingController": "firebreak", "reportingInstance": "agent-0",
            "regarding": {"kind": "Node", "name": "gpu-node-1", "apiVersion": "v1"}})
        assert created.status_code == 201
    core = api.get("events", "drain.1")
    assert core["message"] == "node drained by firebreak" and core["involvedObject"]["name"] == "gpu-node-1"
    assert api.call(lambda: list(api.store.objects("events.k8s.io/events"))) == []


@pytest.mark.parametrize("verb", ["can-i", "whoami"])
def test_self_reviews_answer_for_the_single_token(api: ApiServer, verb: str) -> None:
    args = ("auth", "can-i", "delete", "pods") if verb == "can-i" else ("auth", "whoami")
    assert api.kubectl(*args).returncode == 0
