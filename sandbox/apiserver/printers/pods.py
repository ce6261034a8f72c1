"""The pod row, ported from `printPod` in kubernetes/pkg/printers/internalversion so STATUS reads the same."""

from __future__ import annotations

from datetime import datetime

from sandbox.apiserver.printers.base import AGE, NAME, Cell, Column, Obj, Printer, none_if_empty
from sandbox.apiserver.timefmt import parse_time, since

COLUMNS = (
    NAME,
    Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "The aggregate status of the containers in this pod."),
    Column("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                       "container in this pod has restarted."),
    AGE,
    Column("IP", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                 "allocated.", priority=1),
    Column("Node", "NodeName is a request to schedule this pod onto a specific node.", priority=1),
    Column("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.",
           priority=1),
    Column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", priority=1),
)


def _terminated_reason(terminated: Obj, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _init_reason(pod: Obj) -> str | None:
    """The `Init:...` status while init containers run or failed, or None once they are done."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        sidecar = (init_specs.get(cs.get("name")) or {}).get("restartPolicy") == "Always"
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            continue
        if terminated is not None:
            return _terminated_reason(terminated, "Init:")
        if waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + waiting["reason"]
        return f"Init:{index}/{len(init_specs)}"
    return None


def _initialized(status: Obj) -> bool:
    return any(c.get("type") == "Initialized" and c.get("status") == "True" for c in status.get("conditions") or [])


def _containers(pod: Obj, reason: str) -> tuple[str, int, int, datetime | None]:
    """Walk container statuses last to first like the real printer: (reason, ready, restarts, last restart)."""
    status = pod.get("status") or {}
    ready = restarts = 0
    last: datetime | None = None
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None:
            reason = _terminated_reason(terminated)
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        ready_condition = any(c.get("type") == "Ready" and c.get("status") == "True"
                              for c in status.get("conditions") or [])
        reason = "Running" if ready_condition else "NotReady"
    return reason, ready, restarts, last


def _readiness_gates(pod: Obj) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    true = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{true}/{len(gates)}"


def pod_cells(pod: Obj, now: datetime) -> list[Cell]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"
    total = len(spec.get("containers") or []) + sum(
        1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    ready, restarts, last = 0, 0, None
    init_reason = _init_reason(pod)
    if init_reason is not None:
        reason = init_reason
    if init_reason is None or _initialized(status):
        reason, ready, restarts, last = _containers(pod, reason)
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_cell = str(restarts)
    if restarts and last is not None:
        restarts_cell = f"{restarts} ({since(last.isoformat(), now)} ago)"
    ips = status.get("podIPs") or []
    pod_ip = ips[0].get("ip") if ips else status.get("podIP")
    return [meta.get("name"), f"{ready}/{total}", reason, restarts_cell, since(meta.get("creationTimestamp"), now),
            none_if_empty(pod_ip), none_if_empty(spec.get("nodeName")),
            none_if_empty(status.get("nominatedNodeName")), _readiness_gates(pod)]


PRINTER = Printer(COLUMNS, pod_cells)
