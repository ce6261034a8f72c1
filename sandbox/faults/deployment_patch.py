"""A change to a Deployment as a person or a CI job makes it: `kubectl patch` with a strategic merge patch.

The patch goes through what the API server does with one (its strategic merge, then the checks that refuse an
invalid or immutable change), so a change the real server would reject fails here too. What an accepted change
does is left to the fleet: the deployment controller rolls out a new ReplicaSet if the pod template changed,
and the registry, scheduler and kubelets decide whether its pods pull, fit, start and stay up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.apiserver.patch.strategic import strategic_merge
from sandbox.apiserver.validation import object_causes, update_causes
from sandbox.faults import targets

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

DEPLOYMENTS = "apps/deployments"


def patched(deployment: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The Deployment after the patch, or ValueError with the server's reasons when it would refuse it."""
    new = strategic_merge(deployment, patch)
    new["metadata"].update({k: deployment["metadata"][k] for k in ("name", "namespace", "uid")})
    causes = object_causes(DEPLOYMENTS, new) + update_causes(DEPLOYMENTS, deployment, new)
    if causes:
        raise ValueError("; ".join(f"{field}: {message}" for _, field, message in causes))
    return new


def apply(sandbox: Sandbox, target: dict[str, Any], params: dict[str, Any]) -> str:
    name = targets.model(sandbox, target).name
    patch = params.get("patch")
    if not isinstance(patch, dict) or not patch:
        raise ValueError("params.patch must be a strategic merge patch of the Deployment")

    def edit(dep: dict[str, Any]) -> None:
        new = patched(dep, patch)
        dep.clear()
        dep.update(new)
    sandbox.store.mutate(DEPLOYMENTS, sandbox.fleet.namespace, name, edit)
    return f"{name} changed"
