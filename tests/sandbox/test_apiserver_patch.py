"""The patch formats as pure functions: strategic merge, JSON merge patch (RFC 7386), JSON patch (RFC 6902)."""

from __future__ import annotations

import pytest

from sandbox.apiserver.patch.jsonpatch import json_patch
from sandbox.apiserver.patch.merge import merge_patch
from sandbox.apiserver.patch.strategic import strategic_merge
from sandbox.errors import ApiError

POD_SPEC = {
    "containers": [
        {"name": "vllm", "image": "vllm:0.6.3", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "args": ["--port", "8000"], "volumeMounts": [{"name": "cache", "mountPath": "/root/.cache"}]},
        {"name": "proxy", "image": "envoy:1.31"},
    ],
    "volumes": [{"name": "cache", "emptyDir": {}}],
    "tolerations": [{"key": "a", "operator": "Exists"}],
}


def test_strategic_merge_merges_lists_by_their_merge_key() -> None:
    patch = {"containers": [{"name": "vllm", "image": "vllm:0.6.4", "env": [{"name": "B", "value": "3"},
                                                                            {"name": "C", "value": "4"}]}]}
    merged = strategic_merge(POD_SPEC, patch)
    vllm = merged["containers"][0]
    assert vllm["image"] == "vllm:0.6.4" and vllm["args"] == ["--port", "8000"]
    assert vllm["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert merged["containers"][1] == {"name": "proxy", "image": "envoy:1.31"}
    assert POD_SPEC["containers"][0]["image"] == "vllm:0.6.3"  # the original is untouched


def test_strategic_merge_replaces_atomic_lists_and_deletes_nulls() -> None:
    merged = strategic_merge(POD_SPEC, {"tolerations": [{"key": "b", "operator": "Exists"}],
                                        "containers": [{"name": "vllm", "args": None}]})
    assert merged["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert "args" not in merged["containers"][0]


def test_strategic_merge_directives() -> None:
    deleted = strategic_merge(POD_SPEC, {"containers": [{"name": "proxy", "$patch": "delete"}]})
    assert [c["name"] for c in deleted["containers"]] == ["vllm"]
    replaced = strategic_merge(POD_SPEC, {"volumes": [{"name": "models", "hostPath": {"path": "/m"}},
                                                      {"$patch": "replace"}]})
    assert replaced["volumes"] == [{"name": "models", "hostPath": {"path": "/m"}}]
    map_replaced = strategic_merge({"a": {"x": 1, "y": 2}}, {"a": {"$patch": "replace", "z": 3}})
    assert map_replaced == {"a": {"z": 3}}
    finalizers = strategic_merge({"finalizers": ["a", "b"]}, {"finalizers": ["c"],
                                                              "$deleteFromPrimitiveList/finalizers": ["a"]})
    assert finalizers == {"finalizers": ["b", "c"]}
    retained = strategic_merge({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                               {"type": "Recreate", "$retainKeys": ["type"]})
    assert retained == {"type": "Recreate"}


def test_strategic_merge_orders_by_set_element_order() -> None:
    merged = strategic_merge(POD_SPEC, {"$setElementOrder/containers": [{"name": "proxy"}, {"name": "vllm"}],
                                        "containers": [{"name": "vllm", "image": "vllm:0.7"}]})
    assert [c["name"] for c in merged["containers"]] == ["proxy", "vllm"]


def test_strategic_merge_ports_merge_on_the_right_key() -> None:
    service = {"ports": [{"name": "http", "port": 80, "targetPort": 8000}]}
    assert strategic_merge(service, {"ports": [{"port": 80, "targetPort": 9000}]}) == \
        {"ports": [{"name": "http", "port": 80, "targetPort": 9000}]}
    container = {"ports": [{"containerPort": 8000, "name": "http"}]}
    assert strategic_merge(container, {"ports": [{"containerPort": 9090, "name": "metrics"}]})["ports"] == \
        [{"containerPort": 8000, "name": "http"}, {"containerPort": 9090, "name": "metrics"}]


def test_merge_patch_rfc7386() -> None:
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == \
        {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}  # lists are replaced whole
    assert merge_patch({"a": "b"}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_json_patch_operations() -> None:
    doc = {"spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "x"}}}}, "list": [1, 2]}
    patched = json_patch(doc, [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/spec/template/metadata/labels/tier~1role", "value": "gpu"},
        {"op": "add", "path": "/list/-", "value": 3},
        {"op": "add", "path": "/list/0", "value": 0},
        {"op": "copy", "from": "/spec/replicas", "path": "/copied"},
        {"op": "move", "from": "/copied", "path": "/moved"},
        {"op": "remove", "path": "/list/1"},
    ])
    assert patched == {"spec": {"replicas": 5, "template": {"metadata": {"labels": {"app": "x", "tier/role": "gpu"}}}},
                       "list": [0, 2, 3], "moved": 5}
    assert doc["spec"]["replicas"] == 3


@pytest.mark.parametrize(("operations", "code"), [
    ([{"op": "test", "path": "/a", "value": True}], 422),  # 1 is not true in JSON
    ([{"op": "remove", "path": "/missing"}], 422),
    ([{"op": "replace", "path": "/missing", "value": 1}], 422),
    ([{"op": "frobnicate", "path": "/a"}], 400),
    ({"op": "add"}, 400),
])
def test_json_patch_failures(operations: object, code: int) -> None:
    with pytest.raises(ApiError) as caught:
        json_patch({"a": 1}, operations)
    assert caught.value.code == code
