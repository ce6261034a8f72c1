"""A configuration change as an operator makes it: a new pod template, recorded with its change cause."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def change_template(sandbox: Sandbox, deployment: str, change: Callable[[dict[str, Any]], None], cause: str) -> None:
    def edit(dep: dict[str, Any]) -> None:
        change(dep["spec"]["template"]["spec"]["containers"][0])
        dep["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = cause
        dep["spec"]["template"]["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = cause
    sandbox.store.mutate("apps/deployments", sandbox.fleet.namespace, deployment, edit)


def set_arg(container: dict[str, Any], flag: str, value: str) -> None:
    args = container.setdefault("args", [])
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
