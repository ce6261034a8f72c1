"""Server-side printers per resource key, as the real API server's `TableConvertor`s."""

from __future__ import annotations

from sandbox.apiserver.printers import events, misc, nodes, pods, workloads
from sandbox.apiserver.printers.base import Column, Printer

PRINTERS: dict[str, Printer] = {
    "pods": pods.PRINTER,
    "nodes": nodes.PRINTER,
    "namespaces": misc.NAMESPACE,
    "events": events.PRINTER,
    "events.k8s.io/events": events.PRINTER,  # printed from the core form, like the real server does
    "configmaps": misc.CONFIGMAP,
    "services": misc.SERVICE,
    "serviceaccounts": misc.SERVICEACCOUNT,
    "apps/deployments": workloads.DEPLOYMENT,
    "apps/replicasets": workloads.REPLICASET,
    "apps/daemonsets": workloads.DAEMONSET,  # served once the store lists DaemonSets
    "coordination.k8s.io/leases": misc.LEASE,
    "policy/poddisruptionbudgets": misc.PDB,
}


def printer_for(key: str) -> Printer:
    return PRINTERS.get(key, misc.DEFAULT)


__all__ = ["Column", "Printer", "printer_for"]
