"""Deployment and ReplicaSet rows (`printDeployment`, `printReplicaSet`)."""

from __future__ import annotations

from datetime import datetime

from sandbox.apiserver.labelsel import selector_string
from sandbox.apiserver.printers.base import AGE, NAME, Cell, Column, Obj, Printer, container_cells
from sandbox.apiserver.timefmt import since

WIDE = (
    Column("Containers", "Names of each container in the template.", priority=1),
    Column("Images", "Images referenced by each container in the template.", priority=1),
    Column("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                       "ones affected by this deployment.", priority=1),
)
DEPLOYMENT_COLUMNS = (
    NAME,
    Column("Ready", "Number of the pod with ready state"),
    Column("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                         "template spec.", type="integer"),
    Column("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                        "deployment.", type="integer"),
    AGE, *WIDE,
)
REPLICASET_COLUMNS = (
    NAME,
    Column("Desired", "Replicas is the number of desired replicas.", type="integer"),
    Column("Current", "Replicas is the most recently observed number of replicas.", type="integer"),
    Column("Ready", "The number of ready replicas for this replica set.", type="integer"),
    AGE, *WIDE,
)


DAEMONSET_COLUMNS = (
    NAME,
    Column("Desired", "The total number of nodes that should be running the daemon pod.", type="integer"),
    Column("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
                      "daemon pod.", type="integer"),
    Column("Ready", "The number of nodes that should be running the daemon pod and have one or more of the "
                    "daemon pod running and ready.", type="integer"),
    Column("Up-to-date", "The total number of nodes that are running updated daemon pod", type="integer"),
    Column("Available", "The number of nodes that should be running the daemon pod and have one or more of the "
                        "daemon pod running and available.", type="integer"),
    Column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE, *WIDE,
)


def _wide(obj: Obj) -> list[Cell]:
    spec = obj.get("spec") or {}
    containers, images = container_cells((spec.get("template") or {}).get("spec") or {})
    return [containers, images, selector_string(spec.get("selector")) or "<none>"]


def deployment_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    return [meta.get("name"), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            since(meta.get("creationTimestamp"), now), *_wide(obj)]


def replicaset_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    return [meta.get("name"), spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0),
            since(meta.get("creationTimestamp"), now), *_wide(obj)]


def daemonset_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [meta.get("name"), status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
            since(meta.get("creationTimestamp"), now), *_wide(obj)]


DAEMONSET = Printer(DAEMONSET_COLUMNS, daemonset_cells)
DEPLOYMENT = Printer(DEPLOYMENT_COLUMNS, deployment_cells)
REPLICASET = Printer(REPLICASET_COLUMNS, replicaset_cells)
