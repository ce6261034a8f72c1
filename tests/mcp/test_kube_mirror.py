"""The watch-fed mirror behind the kubernetes tools' reads: same answers as the API, current, never behind a write
through its own client, never stale when the cluster is gone, and stopped with its server.

One file past the usual size on purpose: these specifications share one live API server and one mirror fixture,
and read as one story of the mirror's consistency; split, each half would repeat the fixtures."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from kubernetes.client.rest import RESTClientObject

from harness.sandbox_run import RunningSandbox
from mcp_servers import kubernetes
from mcp_servers.kubernetes import client as kube_client
from mcp_servers.kubernetes import mirror as kube_mirror
from mcp_servers.kubernetes.client import KEEPALIVE, Gone, Kube, RequestNeeded, no_requests
from mcp_servers.kubernetes.mirror import COLLECTIONS, Collection, Mirror
from tests.mcp.calls import call, failure, refusal
from tests.mcp.conftest import ClientFactory, settings_for
from tests.polling import eventually

pytestmark = pytest.mark.anyio


def _client_of(fleet: RunningSandbox) -> Iterator[Kube]:
    kube = Kube(settings_for(fleet))
    yield kube
    kube.close()


@pytest.fixture
def kube(fleet: RunningSandbox) -> Iterator[Kube]:
    """The client the mirror under test is built on: its writes are the mirror's own."""
    yield from _client_of(fleet)


@pytest.fixture
def mirror(kube: Kube) -> Iterator[Mirror]:
    mirror = Mirror(kube)
    assert mirror.wait_live(10), "the mirror's watches did not start"
    yield mirror
    mirror.stop()


@pytest.fixture
def served_mirror(fleet: RunningSandbox) -> Iterator[Mirror]:
    """A live mirror on a client of its own, for a server that the test builds on it."""
    mirror = Mirror(Kube(settings_for(fleet)))
    assert mirror.wait_live(10), "the mirror's watches did not start"
    yield mirror
    mirror.stop()


@pytest.fixture
def someone_else(fleet: RunningSandbox) -> Iterator[Kube]:
    """Another client of the same cluster: its writes reach the mirror through the watches only."""
    yield from _client_of(fleet)


@pytest.fixture
def lagging_watches(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Watch events wait to be applied until the event is set: a watch running late."""
    deliver = threading.Event()
    apply = Collection._apply

    def late(self: Collection, event: dict[str, Any], version: str) -> str:
        deliver.wait(10)
        return apply(self, event, version)

    monkeypatch.setattr(Collection, "_apply", late)
    yield deliver
    deliver.set()


def names(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["name"] for o in objects}


def mirror_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("mirror-")]


def test_the_mirror_answers_context_reads_as_the_api_does(kube: Kube, mirror: Mirror) -> None:
    api = Mirror(kube, watch=False)
    pod = next(p for p in api.pods(active=True) if p["metadata"]["namespace"] == "inference")
    node, namespace, name = pod["spec"]["nodeName"], "inference", pod["metadata"]["name"]
    replicaset = pod["metadata"]["ownerReferences"][0]["name"]

    assert mirror.live("pods") is not None and api.live("pods") is None
    assert names(mirror.pods(active=True)) == names(api.pods(active=True))
    assert names(mirror.pods(node=node)) == names(api.pods(node=node)) and name in names(mirror.pods(node=node))
    assert mirror.node(node)["metadata"]["uid"] == api.node(node)["metadata"]["uid"]  # type: ignore[index]
    mirrored, read = mirror.replicaset(namespace, replicaset), api.replicaset(namespace, replicaset)
    assert mirrored and read and mirrored["metadata"]["uid"] == read["metadata"]["uid"]
    assert names(mirror.events_about(name, namespace=namespace)) == names(api.events_about(name, namespace=namespace))
    assert mirror.events_about(name, namespace=namespace), "a running pod has at least its Scheduled event"
    assert mirror.node("no-such-node") is None and api.node("no-such-node") is None


def test_the_mirror_lists_in_pages_and_holds_every_object(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = kube.call(kube.core.list_pod_for_all_namespaces)["items"]
    monkeypatch.setattr(kube_client, "PAGE", 4)
    limits: list[tuple[str, int]] = []
    api_call = kube.call

    def counted(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        limits.append((method.__name__, kwargs.get("limit", 0)))
        return api_call(method, *args, **kwargs)

    monkeypatch.setattr(kube, "call", counted)
    mirror = Mirror(kube)
    try:
        assert mirror.wait_live(10)
        assert names(mirror.pods()) == names(whole) and len(whole) > 8
    finally:
        mirror.stop()
    assert limits.count(("list_pod_for_all_namespaces", 4)) >= len(whole) // 4, limits


def test_live_reads_list_in_pages_with_their_field_selector(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    node = kube.call(kube.core.list_node)["items"][0]["metadata"]["name"]
    on_node = kube.call(kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}")["items"]
    monkeypatch.setattr(kube_client, "PAGE", 2)

    assert names(Mirror(kube, watch=False).pods(node=node)) == names(on_node) and len(on_node) > 2


def test_a_paged_list_carries_its_first_pages_version(kube: Kube, someone_else: Kube,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch resumed from the list's version then replays what changed while the later pages came."""
    monkeypatch.setattr(kube_client, "PAGE", 4)
    versions: list[str] = []
    api_call = kube.call
    node = kube.call(kube.core.list_node)["items"][0]["metadata"]["name"]

    def change_between_pages(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        page = api_call(method, *args, **kwargs)
        versions.append(page["metadata"]["resourceVersion"])
        someone_else.call(someone_else.core.patch_node, node, {"metadata": {"labels": {"probe": str(len(versions))}}})
        return page

    monkeypatch.setattr(kube, "call", change_between_pages)
    try:
        listed = kube.list_all(kube.core.list_pod_for_all_namespaces)
    finally:
        someone_else.call(someone_else.core.patch_node, node, {"metadata": {"labels": {"probe": None}}})
    assert len(set(versions)) > 1, "the sandbox stamps each page with the version it is read at"
    assert listed["metadata"] == {"resourceVersion": versions[0]}


def test_a_forgotten_continue_token_is_answered_by_one_whole_list(kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = kube.call(kube.core.list_pod_for_all_namespaces)["items"]
    monkeypatch.setattr(kube_client, "PAGE", 4)
    api_call = kube.call

    def expired(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("_continue"):
            raise Gone("The provided continue parameter is too old")
        return api_call(method, *args, **kwargs)

    monkeypatch.setattr(kube, "call", expired)
    assert names(kube.list_all(kube.core.list_pod_for_all_namespaces)["items"]) == names(whole)


def test_changes_reach_the_mirror_as_they_happen(someone_else: Kube, mirror: Mirror) -> None:
    writer = {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
              "fieldsV1": {"f:message": {}}}
    event = {"metadata": {"name": "mirror-probe.1", "namespace": "default", "managedFields": [writer]},
             "type": "Normal", "reason": "Probe", "message": "first",
             "involvedObject": {"kind": "Pod", "name": "mirror-probe", "namespace": "default"}}
    created = someone_else.call(someone_else.core.create_namespaced_event, "default", event)
    try:
        assert eventually(lambda: [e["message"] for e in mirror.events_about("mirror-probe")] == ["first"])
        assert created["metadata"]["managedFields"], "the API server keeps who wrote which field"
        assert "managedFields" not in mirror.events_about("mirror-probe")[0]["metadata"], "the mirror does not"
        someone_else.call(someone_else.core.patch_namespaced_event, "mirror-probe.1", "default", {"message": "second"})
        assert eventually(lambda: [e["message"] for e in mirror.events_about("mirror-probe")] == ["second"])
    finally:
        someone_else.call(someone_else.core.delete_namespaced_event, "mirror-probe.1", "default")
    assert eventually(lambda: mirror.events_about("mirror-probe") == [])


def test_a_write_through_its_own_client_is_read_back_at_once_even_before_the_watch_brings_it(
        kube: Kube, mirror: Mirror, lagging_watches: threading.Event) -> None:
    node = mirror.nodes()[0]["metadata"]["name"]
    kube.call(kube.core.patch_node, node, {"spec": {"unschedulable": True}})
    try:
        assert mirror.node(node)["spec"].get("unschedulable") is True  # type: ignore[index]
        lagging_watches.set()
        assert eventually(lambda: mirror.live("nodes") is not None), "relisted after the write, the mirror is back"
        assert mirror.node(node)["spec"].get("unschedulable") is True  # type: ignore[index]
    finally:
        kube.call(kube.core.patch_node, node, {"spec": {"unschedulable": None}})


def test_a_list_begun_before_a_write_never_brings_the_mirror_back(kube: Kube, mirror: Mirror,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    listed, resume = threading.Event(), threading.Event()
    api_call, relist = kube.call, Collection._relist
    live_with_a_stale_list: list[str] = []

    def slow_list(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = api_call(method, *args, **kwargs)
        if method.__name__ == "list_node":  # the nodes collection's relist: its answer arrives late
            listed.set()
            resume.wait(10)
        return answer

    def watched_relist(self: Collection, generation: int) -> str:
        version = relist(self, generation)
        if self.live and generation != self._generation:
            live_with_a_stale_list.append(self.name)
        return version

    node = mirror.nodes()[0]["metadata"]["name"]
    monkeypatch.setattr(kube, "call", slow_list)
    monkeypatch.setattr(Collection, "_relist", watched_relist)
    kube.call(kube.core.patch_node, node, {"metadata": {"labels": {"probe": "first"}}})
    assert listed.wait(10), "the write made the nodes collection list again"
    kube.call(kube.core.patch_node, node, {"spec": {"unschedulable": True}})  # while that list is on its way
    try:
        resume.set()
        assert mirror.node(node)["spec"].get("unschedulable") is True  # type: ignore[index]
        assert eventually(lambda: mirror.live("nodes") is not None)
        assert mirror.node(node)["spec"].get("unschedulable") is True  # type: ignore[index]
        assert live_with_a_stale_list == []
    finally:
        undo = {"metadata": {"labels": {"probe": None}}, "spec": {"unschedulable": None}}
        kube.call(kube.core.patch_node, node, undo)


def test_only_a_write_that_may_have_changed_a_collection_relists_it(kube: Kube, mirror: Mirror,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    relists: list[str] = []
    relist = Collection._relist

    def counted(self: Collection, generation: int) -> str:
        relists.append(self.name)
        return relist(self, generation)

    monkeypatch.setattr(Collection, "_relist", counted)
    node = mirror.nodes()[0]["metadata"]["name"]
    deployment = kube.call(kube.apps.list_namespaced_deployment, "inference")["items"][0]
    with pytest.raises(ToolError):
        kube.call(kube.core.patch_node, "no-such-node", {"spec": {"unschedulable": True}})  # refused: 404
    kube.call(kube.core.patch_node, node, {"spec": {"unschedulable": True}}, dry_run="All")
    kube.call(kube.apps.patch_namespaced_deployment, deployment["metadata"]["name"], "inference",
              {"metadata": {"labels": {"probe": "mirror"}}})  # deployments are not mirrored
    try:
        assert not eventually(lambda: relists, 0.5), "a refusal, a dry run and a deployment change relist nothing"
        kube.call(kube.core.patch_node, node, {"metadata": {"labels": {"probe": "mirror"}}})
        assert eventually(lambda: relists == ["nodes"]), relists
    finally:
        kube.call(kube.apps.patch_namespaced_deployment, deployment["metadata"]["name"], "inference",
                  {"metadata": {"labels": {"probe": None}}})
        kube.call(kube.core.patch_node, node, {"metadata": {"labels": {"probe": None}}})


async def test_with_the_mirror_live_pods_and_nodes_are_answered_on_the_event_loop_without_an_api_call(
        served_mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = served_mirror
    api_calls: list[str] = []
    api_call = mirror.kube.call

    def counted(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        api_calls.append(method.__name__)
        return api_call(method, *args, **kwargs)

    read_on: set[str] = set()
    live = mirror.live

    def traced(name: str) -> Collection | None:
        read_on.add(threading.current_thread().name)
        return live(name)

    monkeypatch.setattr(mirror.kube, "call", counted)
    monkeypatch.setattr(mirror, "live", traced)
    pod = next(p for p in mirror.pods(active=True) if p["metadata"]["namespace"] == "inference"
               and not any(c.get("restartCount") for c in p["status"].get("containerStatuses") or []))
    async with Client(kubernetes.build(mirror.kube.settings, mirror)) as client:
        await call(client, "describe_pod", name=pod["metadata"]["name"], namespace="inference")
        await call(client, "describe_node", name=pod["spec"]["nodeName"])
        await call(client, "list_nodes")
        await call(client, "list_pods", namespace="inference")
        await call(client, "list_pods", node=pod["spec"]["nodeName"])
    assert api_calls == []  # a crashed container's log tail would be one: this pod never restarted
    assert read_on == {threading.main_thread().name}, "no worker thread for an answer held in memory"


async def test_a_read_that_needs_the_api_makes_its_requests_in_a_worker_thread(
        fleet: RunningSandbox, served_mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    requested_on: list[str] = []
    request = RESTClientObject.request

    def traced(self: RESTClientObject, *args: Any, **kwargs: Any) -> Any:
        if not threading.current_thread().name.startswith("mirror-"):  # the watches' own requests
            requested_on.append(threading.current_thread().name)
        return request(self, *args, **kwargs)

    async def requests_of(answer: Awaitable[Any]) -> list[str]:
        requested_on.clear()
        await answer
        return list(requested_on)

    monkeypatch.setattr(RESTClientObject, "request", traced)
    main = threading.main_thread().name
    async with Client(kubernetes.build(served_mirror.kube.settings, served_mirror)) as client:
        # a deployment's pods are listed live; a pod the mirror lacks is looked up live before "not found"
        for answer in (call(client, "list_pods", namespace="inference", deployment="llama-70b"),
                       refusal(client, "describe_pod", name="no-such-pod", namespace="inference")):
            made_on = await requests_of(answer)
            assert made_on and main not in made_on, made_on
    async with Client(kubernetes.build(settings_for(fleet, kube_watch=False))) as client:
        made_on = await requests_of(call(client, "list_nodes"))
        assert made_on and main not in made_on, made_on


def test_where_requests_are_barred_none_is_made_and_no_configuration_is_loaded(kube: Kube) -> None:
    list_nodes = kube.core.list_node
    assert kube.call(list_nodes)["items"], "outside the block, requests go through"
    with no_requests(), pytest.raises(RequestNeeded):
        kube.call(list_nodes)
    with no_requests(), pytest.raises(RequestNeeded):
        Kube(kube.settings).core  # noqa: B018 - the first use of a client loads its kubeconfig


def test_where_requests_are_barred_a_configuration_being_loaded_is_not_waited_for(kube: Kube) -> None:
    fresh, refused = Kube(kube.settings), threading.Event()

    def first_use() -> None:
        try:
            with no_requests():
                fresh.core  # noqa: B018
        except RequestNeeded:
            refused.set()

    with fresh._lock:  # as another thread holds it while it loads the configuration (an exec plugin may be slow)
        threading.Thread(target=first_use, daemon=True).start()
        assert refused.wait(2), "the barred first use waited for the lock"


def test_a_pod_the_mirror_does_not_hold_yet_is_read_live(someone_else: Kube, mirror: Mirror,
                                                          lagging_watches: threading.Event) -> None:
    template = someone_else.call(someone_else.core.list_namespaced_pod, "inference")["items"][0]
    pod = {"metadata": {"name": "mirror-probe", "namespace": "default"}, "spec": template["spec"]}
    someone_else.call(someone_else.core.create_namespaced_pod, "default", pod)
    try:
        assert mirror.live("pods") is not None, "the mirror is live, its watch only late"
        assert mirror.pod("default", "mirror-probe")["metadata"]["name"] == "mirror-probe"  # type: ignore[index]
    finally:
        lagging_watches.set()
        someone_else.call(someone_else.core.delete_namespaced_pod, "mirror-probe", "default", grace_period_seconds=0)


async def test_answers_are_the_same_with_and_without_the_mirror(served_mirror: Mirror, mcp: ClientFactory) -> None:
    def without_ages(answer: dict[str, Any]) -> str:
        return re.sub(r"\b\d+[smhd]\b", "<age>", json.dumps(answer, sort_keys=True))

    mirror = served_mirror
    watching_server = kubernetes.build(mirror.kube.settings, mirror)
    async with Client(watching_server) as watching, mcp("kubernetes", kube_watch=False) as live:
        pod = (await call(live, "list_pods", namespace="inference"))["pods"]["items"][0]
        for tool, args in [("describe_pod", {"name": pod["name"], "namespace": "inference"}), ("list_nodes", {}),
                           ("describe_node", {"name": pod["node"]}), ("list_pods", {"namespace": "inference"}),
                           ("list_pods", {"node": pod["node"]}), ("list_pods", {"namespace": "gpu-operator"})]:
            assert without_ages(await call(watching, tool, **args)) == without_ages(await call(live, tool, **args))
        assert all(mirror.live(name) is not None for name in COLLECTIONS), "the answers came from the mirror"
    assert not mirror_threads(), "the server stopped its mirror with its session"


def test_stopping_the_mirror_ends_its_threads_before_it_returns(mirror: Mirror) -> None:
    assert len(mirror_threads()) == len(COLLECTIONS)
    mirror.stop()
    assert not mirror_threads(), "no watch thread outlives stop: the client it reads may be closed next"
    mirror.stop()  # a second stop is harmless


def test_a_list_under_way_holds_stop_back_no_longer_than_its_bound(kube: Kube, mirror: Mirror,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(kube_mirror, "STOP_S", 0.2)
    listing, release = threading.Event(), threading.Event()
    list_all = kube.list_all

    def slow_list(*args: Any, **kwargs: Any) -> dict[str, Any]:
        listing.set()
        release.wait(10)
        return list_all(*args, **kwargs)

    monkeypatch.setattr(kube, "list_all", slow_list)
    mirror.resync("patch_node")  # the nodes collection lists again, and its list hangs
    assert listing.wait(5)
    try:
        mirror.stop()
        assert "mirror-nodes still in a request" in caplog.text
    finally:
        release.set()
    assert eventually(lambda: not mirror_threads())


def test_connections_to_the_api_server_probe_a_silent_peer_with_tcp_keepalive(kube: Kube) -> None:
    kube.call(kube.core.list_node)  # its connection, and every watch's, comes from the same pools
    pools = kube.api.rest_client.pool_manager.pools
    keys = pools.keys()  # urllib3's pool container refuses plain iteration
    sockets = [c.sock for key in keys for c in list(pools[key].pool.queue) if c is not None and c.sock]
    assert sockets, "the call left its connection in the pool"
    for sock in sockets:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE[0]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPALIVE[2]


async def test_a_cluster_that_went_away_is_reported_never_answered_from_the_mirror() -> None:
    with RunningSandbox() as sandbox:
        settings = settings_for(sandbox)
        mirror = Mirror(Kube(settings))
        async with Client(kubernetes.build(settings, mirror)) as client:
            pod = (await call(client, "list_pods"))["pods"]["items"][0]["name"]
            assert mirror.wait_live(10)
            sandbox.stop()
            assert eventually(lambda: mirror.live("pods") is None and mirror.live("nodes") is None, 2)
            assert "unreachable" in await refusal(client, "describe_pod", name=pod)
            assert "unreachable" in await refusal(client, "list_nodes")
            with pytest.raises(ToolError, match="unreachable"):
                mirror.pods(active=True)


async def test_switching_the_mirror_off_reads_everything_live(mcp: ClientFactory) -> None:
    async with mcp("kubernetes", kube_watch=False) as client:
        nodes = await call(client, "list_nodes")
        assert nodes["total"] > 0 and nodes["gpus"]["allocated"] > 0
        assert eventually(lambda: not mirror_threads())


async def test_a_pod_that_does_not_exist_is_named_whatever_the_mirror_holds(mcp: ClientFactory) -> None:
    async with mcp("kubernetes") as client:
        refused = await failure(client, "describe_pod", name="no-such-pod", namespace="inference")
    assert refused == ("not_found", "pod no-such-pod not found in namespace inference")
