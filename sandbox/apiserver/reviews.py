"""Self-reviews: "can I?" (`kubectl auth can-i`, client-go tools that check before they act) and
"who am I?" (`kubectl auth whoami`). The sandbox has a single all-powerful token, so every question
gets yes; nothing is stored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sandbox.apiserver.status import bad_request

Obj = dict[str, Any]
USER = {"username": "firebreak", "groups": ["system:masters", "system:authenticated"]}
ALLOW_REASON = "the sandbox grants its token every permission"


@dataclass(frozen=True)
class Review:
    group: str
    version: str
    kind: str
    plural: str


REVIEWS = (
    Review("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews"),
    Review("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews"),
    Review("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews"),
)


def find(group: str, version: str, plural: str) -> Review | None:
    return next((r for r in REVIEWS if (r.group, r.version, r.plural) == (group, version, plural)), None)


def _status(review: Review) -> Obj:
    if review.kind == "SelfSubjectAccessReview":
        return {"allowed": True, "reason": ALLOW_REASON}
    if review.kind == "SelfSubjectRulesReview":
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    return {"userInfo": copy.deepcopy(USER)}


def answer(review: Review, body: Any) -> Obj:
    if not isinstance(body, dict):
        raise bad_request(f"the body must be a {review.group}/{review.version} {review.kind}")
    result = copy.deepcopy(body)
    result.update(kind=review.kind, apiVersion=f"{review.group}/{review.version}",
                  metadata=result.get("metadata") or {}, status=_status(review))
    return result


def discovery_entries(group: str, version: str) -> list[Obj]:
    return [{"name": r.plural, "singularName": r.kind.lower(), "namespaced": False, "kind": r.kind,
             "verbs": ["create"]} for r in REVIEWS if (r.group, r.version) == (group, version)]
