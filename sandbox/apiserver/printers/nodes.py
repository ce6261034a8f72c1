"""The node row (`printNode`): STATUS is Ready/NotReady/Unknown, plus SchedulingDisabled when cordoned."""

from __future__ import annotations

from datetime import datetime

from sandbox.apiserver.printers.base import AGE, NAME, Cell, Column, Obj, Printer
from sandbox.apiserver.timefmt import since

COLUMNS = (
    NAME,
    Column("Status", "The status of the node"),
    Column("Roles", "The roles of the node"),
    AGE,
    Column("Version", "Kubelet Version reported by the node."),
    Column("Internal-IP", "List of addresses reachable to the node. Queried from cloud provider, if available.",
           priority=1),
    Column("External-IP", "List of addresses reachable to the node. Queried from cloud provider, if available.",
           priority=1),
    Column("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
           priority=1),
    Column("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
           priority=1),
    Column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
                                "containerd://1.4.2).", priority=1),
)
ROLE_PREFIX = "node-role.kubernetes.io/"


def node_status(node: Obj) -> str:
    conditions = {c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []}
    parts = []
    if "Ready" in conditions:
        parts.append("Ready" if conditions["Ready"] == "True" else "NotReady")
    else:
        parts.append("Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> str:
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX):]:
            roles.add(key[len(ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _address(node: Obj, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address"))
    return "<none>"


def node_cells(node: Obj, now: datetime) -> list[Cell]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    meta = node.get("metadata") or {}
    return [meta.get("name"), node_status(node), node_roles(node), since(meta.get("creationTimestamp"), now),
            info.get("kubeletVersion", ""), _address(node, "InternalIP"), _address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


PRINTER = Printer(COLUMNS, node_cells)
