"""The three patch formats kubectl sends, and server-side apply's content type treated as a merge."""

from __future__ import annotations

import json
from typing import Any

import yaml

from sandbox.apiserver.patch.jsonpatch import json_patch
from sandbox.apiserver.patch.merge import merge_patch
from sandbox.apiserver.patch.strategic import strategic_merge
from sandbox.apiserver.status import bad_request, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
ACCEPTED = [JSON_PATCH, MERGE_PATCH, APPLY, STRATEGIC]


def patch_type(content_type: str | None) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in ACCEPTED:
        raise unsupported_media_type(media, ACCEPTED)
    return media


def decode(kind: str, body: bytes) -> Any:
    try:
        # Server-side apply bodies are YAML (JSON is YAML too); the other patches are JSON.
        return yaml.safe_load(body) if kind == APPLY else json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc


def apply_patch(kind: str, original: dict[str, Any], patch: Any) -> Any:
    if kind == JSON_PATCH:
        return json_patch(original, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be a JSON object")
    if kind == MERGE_PATCH:
        return merge_patch(original, patch)
    # Strategic merge; server-side apply is approximated by it (no field ownership is tracked).
    return strategic_merge(original, patch)
