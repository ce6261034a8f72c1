"""Idempotency keys in the object's own annotation, and the guarded patch that retries a version conflict,
without a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_servers.errors import ToolFailure
from mcp_servers.kubernetes.client import Throttled, VersionConflict
from mcp_servers.kubernetes.idempotency import (
    CONFLICT_ATTEMPTS,
    KEYS,
    MAX_KEYS,
    Request,
    fingerprint,
    is_recorded,
    merge_diff,
    patch_once,
    recorded_keys,
    request,
    with_key,
)


def test_a_merge_patch_sets_what_changed_and_nulls_what_went() -> None:
    current = {"a": 1, "b": {"c": 2, "d": 3}, "gone": True}
    target = {"a": 1, "b": {"c": 5, "d": 3}, "new": [1]}
    assert merge_diff(current, target) == {"gone": None, "b": {"c": 5}, "new": [1]}


def test_the_key_is_recorded_guarded_by_the_version_read_keeping_the_newest() -> None:
    keys = [fingerprint(f"k{i}") for i in range(MAX_KEYS)]
    obj = {"metadata": {"resourceVersion": "41", "annotations": {KEYS: json.dumps(keys)}}}
    patch = with_key(obj, "new")
    assert patch["metadata"]["resourceVersion"] == "41"
    recorded = {"metadata": {"annotations": patch["metadata"]["annotations"]}}
    assert is_recorded(recorded, "new") and not is_recorded(recorded, "k0") and is_recorded(recorded, "k1")
    assert len(recorded_keys(recorded)) == MAX_KEYS


def test_an_unreadable_annotation_records_nothing() -> None:
    assert recorded_keys({"metadata": {"annotations": {KEYS: "not json"}}}) == []
    assert recorded_keys({"metadata": {"annotations": {KEYS: '{"a": 1}'}}}) == []


def node_patch(send: Any) -> Any:
    stored = {"metadata": {"resourceVersion": "1"}, "spec": {}}
    req = Request("cordon_node", "node/n", "test", "key", dry_run=False)
    return patch_once(req, lambda: stored, lambda o: {}, lambda _: ({"spec": {"unschedulable": True}}, "cordoned"),
                      send)


def test_a_conflict_is_tried_again_on_a_fresh_read_a_few_times_then_reported() -> None:
    sent: list[dict[str, Any]] = []

    def always_stale(body: dict[str, Any], dry_run: str | None) -> dict[str, Any]:
        sent.append(body)
        raise VersionConflict("the object has been modified")
    with pytest.raises(VersionConflict):
        node_patch(always_stale)
    assert len(sent) == CONFLICT_ATTEMPTS


def test_other_refusals_are_not_tried_again() -> None:
    sent: list[dict[str, Any]] = []

    def refused(body: dict[str, Any], dry_run: str | None) -> dict[str, Any]:
        sent.append(body)
        raise Throttled("too many requests")
    with pytest.raises(Throttled):
        node_patch(refused)
    assert len(sent) == 1


def test_a_request_needs_a_reason_and_a_key() -> None:
    for reason, key in (("  ", "key"), ("why", " ")):
        with pytest.raises(ToolFailure) as refused:
            request("scale_deployment", "deployment/x", reason, key, False)
        assert refused.value.kind == "bad_input"
    assert request("scale_deployment", "deployment/x", " why ", "key", False).reason == "why"
