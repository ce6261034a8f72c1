"""A fleet's past: the ReplicaSets that earlier rollouts left behind, as a cluster that has run for weeks holds them.

A real Deployment has been rolled out many times: its current revision is well above 1, its current ReplicaSet
was created days ago, and up to `revisionHistoryLimit` older ReplicaSets remain, scaled to 0. Rollouts made by a
GitOps controller record no `kubernetes.io/change-cause`; only the rare hand-made `kubectl --record` one does.
The past is the same for every scenario (seeded by the Deployment's name), so that no run can tell a fault from
the fleet's history by its revision number.
"""

from __future__ import annotations

import copy
import random
import re
from datetime import datetime, timedelta
from typing import Any

from sandbox.controllers.deployments import REVISION, owner_reference
from sandbox.kubetime import rfc3339, utcnow
from sandbox.names import pod_template_hash
from sandbox.store import Store

Obj = dict[str, Any]
# Published vllm/vllm-openai release tags older than the fleet's current one, oldest first.
PAST_VLLM_TAGS = ("v0.29.0", "v0.30.0", "v0.31.0")
PAST_REVISIONS = 3
_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def write_history(store: Store, deployment: Obj) -> None:
    """Creates `deployment`'s current ReplicaSet (days old, at a revision above 1) and older ones scaled to 0."""
    rng = random.Random(f"history/{deployment['metadata']['namespace']}/{deployment['metadata']['name']}")
    current = rng.randint(12, 40)
    created = utcnow() - timedelta(days=rng.uniform(2, 9))
    template = deployment["spec"]["template"]
    past = _past_templates(template)
    created_old = created
    for steps_back, old in enumerate(reversed(past), start=1):
        created_old -= timedelta(days=rng.uniform(3, 12))
        cause = _recorded_cause(deployment, old) if steps_back == len(past) else None
        store.create("apps/replicasets", _replicaset(deployment, old, current - steps_back, created_old, 0, cause))
    store.create("apps/replicasets", _replicaset(deployment, template, current, created,
                                                 deployment["spec"].get("replicas", 1), None))
    store.mutate("apps/deployments", deployment["metadata"]["namespace"], deployment["metadata"]["name"],
                 lambda d: d["metadata"].update(generation=current + rng.randint(0, 6)))


def _past_templates(template: Obj) -> list[Obj]:
    """Earlier pod templates, oldest first: the same container on earlier image tags."""
    image = template["spec"]["containers"][0]["image"]
    repository, _, tag = image.rpartition(":")
    tags = ([t for t in PAST_VLLM_TAGS if _version(t) < _version(tag)] if repository.endswith("vllm-openai")
            else _earlier_patch_tags(tag))
    past = []
    for old_tag in tags[-PAST_REVISIONS:]:
        old = copy.deepcopy(template)
        old["spec"]["containers"][0]["image"] = f"{repository}:{old_tag}"
        past.append(old)
    return past


def _version(tag: str) -> tuple[int, ...]:
    """v0.10.1.1 -> (0, 10, 1, 1); a pre-release suffix (rc1) is ignored."""
    return tuple(int("".join(c for c in part if c.isdigit()) or 0) for part in tag.lstrip("v").split("."))


def _earlier_patch_tags(tag: str) -> list[str]:
    """1.9.3 -> [1.9.0, 1.9.1, 1.9.2], main-v1.74.9-stable -> [...6-stable, ...7-stable, ...8-stable]: the patch
    releases before a version, oldest first (its last number counted down)."""
    found = _LAST_NUMBER.match(tag)
    if not found:
        return []
    head, patch, tail = found.group(1), int(found.group(2)), found.group(3)
    return [f"{head}{p}{tail}" for p in range(max(0, patch - PAST_REVISIONS), patch)]


def _recorded_cause(deployment: Obj, template: Obj) -> str:
    """What `kubectl set image --record` wrote: the command line itself (the flag is deprecated but still seen)."""
    container = template["spec"]["containers"][0]
    return (f"kubectl set image deployment/{deployment['metadata']['name']} "
            f"{container['name']}={container['image']} --record=true")


def _replicaset(deployment: Obj, template: Obj, revision: int, created: datetime, replicas: int,
                cause: str | None) -> Obj:
    template_hash = pod_template_hash(template)
    template = copy.deepcopy(template)
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = template_hash
    selector = copy.deepcopy(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
    desired = deployment["spec"].get("replicas", 1)
    annotations = {REVISION: str(revision), "deployment.kubernetes.io/desired-replicas": str(desired),
                   "deployment.kubernetes.io/max-replicas": str(desired + 1)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    meta = deployment["metadata"]
    return {"metadata": {"name": f"{meta['name']}-{template_hash}", "namespace": meta["namespace"],
                         "labels": dict(template["metadata"]["labels"]), "annotations": annotations,
                         "ownerReferences": [owner_reference(deployment)], "creationTimestamp": rfc3339(created)},
            "spec": {"replicas": replicas, "selector": selector, "template": template},
            "status": {"replicas": 0}}
