"""Rows of the smaller resources: namespaces, configmaps, services, service accounts, leases, PDBs."""

from __future__ import annotations

from datetime import datetime

from sandbox.apiserver.printers.base import AGE, NAME, Cell, Column, Obj, Printer, none_if_empty
from sandbox.apiserver.timefmt import since


def _name_age(obj: Obj, now: datetime) -> tuple[Cell, str]:
    meta = obj.get("metadata") or {}
    return meta.get("name"), since(meta.get("creationTimestamp"), now)


def namespace_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    return [name, (obj.get("status") or {}).get("phase", ""), age]


def configmap_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    return [name, len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age]


def serviceaccount_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    return [name, len(obj.get("secrets") or []), age]


def lease_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    return [name, (obj.get("spec") or {}).get("holderIdentity", ""), age]


def pdb_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    return [name, str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            (obj.get("status") or {}).get("disruptionsAllowed", 0), age]


def _service_ports(spec: Obj) -> str:
    ports = []
    for port in spec.get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _external_ip(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    ingress = [i.get("ip") or i.get("hostname") for i in
               ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    ips = list(spec.get("externalIPs") or []) + ([i for i in ingress if i] if kind == "LoadBalancer" else [])
    if ips:
        return ",".join(ips)
    return "<pending>" if kind == "LoadBalancer" else "<none>"


def service_cells(obj: Obj, now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [name, spec.get("type", "ClusterIP"), none_if_empty(spec.get("clusterIP")), _external_ip(obj),
            _service_ports(spec), age, selector or "<none>"]


def name_age_cells(obj: Obj, now: datetime) -> list[Cell]:
    return list(_name_age(obj, now))


NAMESPACE = Printer((NAME, Column("Status", "The status of the namespace"), AGE), namespace_cells)
CONFIGMAP = Printer((NAME, Column("Data", "Data contains the configuration data.", type="integer"), AGE),
                    configmap_cells)
SERVICEACCOUNT = Printer((NAME, Column("Secrets", "Secrets is a list of the secrets in the same namespace that "
                                                  "pods running using this ServiceAccount are allowed to use.",
                                       type="integer"), AGE), serviceaccount_cells)
LEASE = Printer((NAME, Column("Holder", "HolderIdentity contains the identity of the holder of a current lease."),
                 AGE), lease_cells)
PDB = Printer((NAME, Column("Min Available", "The minimum number of pods that must be available simultaneously."),
               Column("Max Unavailable", "The maximum number of pods that may be unavailable simultaneously."),
               Column("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.",
                      type="integer"), AGE), pdb_cells)
SERVICE = Printer((NAME, Column("Type", "The type of the service."),
                   Column("Cluster-IP", "The cluster IP of the service."),
                   Column("External-IP", "The external IPs of the service."),
                   Column("Port(s)", "The ports of the service."), AGE,
                   Column("Selector", "The selector of the service.", priority=1)), service_cells)
DEFAULT = Printer((NAME, AGE), name_age_cells)
