"""The validation the real server does that clients and the agent are likely to run into (422 Invalid)."""

from __future__ import annotations

import json
import re
from typing import Any

from sandbox.apiserver.labelsel import selector_matches
from sandbox.apiserver.status import invalid
from sandbox.store import Resource

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # (reason, field, message)

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
LABEL_NAMED = {"namespaces", "services"}  # names that become DNS labels
POD_UPDATE_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
    "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def _value(value: Any) -> str:
    """Scalars as Go prints them; structures as compact JSON (Go would print its struct syntax)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict | list | bool) or value is None:
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _bad_value(field: str, value: Any, detail: str) -> Cause:
    return ("FieldValueInvalid", field, f"Invalid value: {_value(value)}: {detail}")


def _required(field: str) -> Cause:
    return ("FieldValueRequired", field, "Required value")


def name_causes(res: Resource, name: str) -> list[Cause]:
    if res.plural in LABEL_NAMED:
        if len(name) > 63 or not LABEL.match(name):
            return [_bad_value("metadata.name", name, LABEL_MSG if len(name) <= 63 else
                               "must be no more than 63 characters")]
    elif len(name) > 253 or not SUBDOMAIN.match(name):
        return [_bad_value("metadata.name", name, SUBDOMAIN_MSG if len(name) <= 253 else
                           "must be no more than 253 characters")]
    return []


def _containers(spec: Obj, field: str) -> list[Cause]:
    containers = spec.get("containers")
    if not containers:
        return [_required(f"{field}.containers")]
    causes = []
    for i, container in enumerate(containers):
        if not isinstance(container, dict):
            causes.append(_required(f"{field}.containers[{i}]"))
            continue
        if not container.get("name"):
            causes.append(_required(f"{field}.containers[{i}].name"))
        if not container.get("image"):
            causes.append(_required(f"{field}.containers[{i}].image"))
    return causes


def _non_negative(spec: Obj, field: str, key: str) -> list[Cause]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [_bad_value(f"{field}.{key}", value, "must be greater than or equal to 0")]
    return []


def _workload(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes = _non_negative(spec, "spec", "replicas")
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(_required("spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(_bad_value("spec.selector", selector, "empty selector is invalid for deployment"))
    elif not selector_matches(selector, labels):
        causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                       f"Invalid value: {_value(labels)}: `selector` does not match template `labels`"))
    causes += _containers(template.get("spec") or {}, "spec.template.spec")
    return causes


def _pdb(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        return [_bad_value("spec", spec, "minAvailable and maxUnavailable cannot be both set")]
    return []


def object_causes(key: str, obj: Obj) -> list[Cause]:
    if key == "pods":
        return _containers(obj.get("spec") or {}, "spec")
    if key in ("apps/deployments", "apps/replicasets"):
        return _workload(obj)
    if key == "policy/poddisruptionbudgets":
        return _pdb(obj)
    return []


def _pod_spec_without_mutable(spec: Obj) -> Obj:
    spec = dict(spec)
    for field in ("containers", "initContainers"):
        spec[field] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(field) or []]
    for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        spec.pop(field, None)
    return spec


def update_causes(key: str, old: Obj, new: Obj) -> list[Cause]:
    """Fields the real server will not let an update change."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    workload = key in ("apps/deployments", "apps/replicasets")
    if workload and old_spec.get("selector") != new_spec.get("selector"):
        return [_bad_value("spec.selector", new_spec.get("selector"), "field is immutable")]
    if key == "pods":
        # nodeName is set once, by binding; the other fields are fixed at creation.
        old_view = _pod_spec_without_mutable(old_spec)
        new_view = _pod_spec_without_mutable(new_spec)
        if not old_view.get("nodeName"):
            new_view.pop("nodeName", None)
        if old_view != new_view:
            return [("FieldValueForbidden", "spec", POD_UPDATE_FORBIDDEN)]
    return []


def check(res: Resource, name: str, causes: list[Cause]) -> None:
    if causes:
        raise invalid(res, name, causes)
