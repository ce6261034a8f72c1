"""Names the way Kubernetes makes them: pod-template hashes and random pod suffixes."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

# The alphabet of k8s.io/apimachinery's rand.SafeEncodeString: no vowels, no look-alikes.
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[digit])
    return "".join(chars)


def pod_template_hash(template: dict[str, Any]) -> str:
    """A stable hash of a pod template, ignoring the hash label itself (so a rollback finds its old ReplicaSet)."""
    template = json.loads(json.dumps(template))
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return safe_encode(int.from_bytes(digest[:8], "big"), 10)


def pod_suffix(rng: random.Random) -> str:
    return "".join(rng.choice(SAFE_ALPHABET) for _ in range(5))


def pod_key(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
