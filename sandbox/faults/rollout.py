"""A configuration change as an operator or a GitOps controller makes it: a new pod template.

GitOps controllers (Argo CD, Flux) set no `kubernetes.io/change-cause`, so most real revisions carry none; a
change made with an annotated `kubectl apply` records one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

CHANGE_CAUSE = "kubernetes.io/change-cause"


def change_template(sandbox: Sandbox, deployment: str, change: Callable[[dict[str, Any]], None],
                    cause: str | None = None) -> None:
    def edit(dep: dict[str, Any]) -> None:
        change(dep["spec"]["template"]["spec"]["containers"][0])
        annotations = dep["metadata"].setdefault("annotations", {})
        if cause is None:
            annotations.pop(CHANGE_CAUSE, None)
        else:
            annotations[CHANGE_CAUSE] = cause
    sandbox.store.mutate("apps/deployments", sandbox.fleet.namespace, deployment, edit)


def set_arg(container: dict[str, Any], flag: str, value: str) -> None:
    args = container.setdefault("args", [])
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
