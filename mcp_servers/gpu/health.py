"""What is abnormal about a GPU, and the gpu server's answers built from readings (pure: readings in, reports out).

Both reading sources (DCGM metrics, local NVML) fill the same `GpuReading`, so the judgement of what is abnormal
(`findings`) and the answers do not depend on where the numbers came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from mcp_servers.answers import MAX_ITEMS, Capped
from mcp_servers.failures import Failure
from mcp_servers.gpu import xid
from mcp_servers.gpu.reading import THROTTLE_WINDOW, GpuReading

GPU_TEMP_LIMIT_C = 85.0  # H100/A100 start slowing down in the high 80s
# Stock-field throttling (default-counters.csv has no throttle field): a busy, hot GPU whose SM clock sits below
# this share of its maximum is being held back by heat.
SLOW_CLOCK_SHARE = 0.70
BUSY_UTIL_PCT = 50.0
# Maximum SM clock (MHz) by DCGM's modelName, from NVIDIA's product specifications (boost clock). The exporter's
# default set has no DCGM_FI_DEV_MAX_SM_CLOCK, and an observed maximum misleads on a GPU that has been hot since
# the history began, so the table comes first; a model not in it is compared with its busy peers' fastest clock.
MAX_SM_CLOCK_MHZ = {"NVIDIA H100 80GB HBM3": 1980, "NVIDIA H100 PCIe": 1755, "NVIDIA H200": 1980,
                    "NVIDIA A100-SXM4-80GB": 1410, "NVIDIA A100-SXM4-40GB": 1410, "NVIDIA A100 80GB PCIe": 1410,
                    "NVIDIA L40S": 2520, "NVIDIA L4": 2040, "NVIDIA A10G": 1710}
MEMORY_TEMP_LIMIT_C = 95.0  # HBM's rated maximum is about 95 °C
THERMAL_THROTTLE_LIMIT = 0.10  # share of the window spent thermally throttled
GPUS_PER_NODE_CAP = 16
TOP_OFFENDERS = 5

# Clock throttle (event) reason bits, the same in DCGM and NVML (nvmlClocksEventReason*).
THROTTLE_BITS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
                 0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
                 0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting"}
THERMAL_BITS = 0x20 | 0x40

NO_POD, UNKNOWN_POD = "none", "unknown"

Status = Literal["ok", "info", "warning", "critical"]
FindingKind = Literal["xid", "ecc_dbe", "row_remap_failure", "gpu_lost", "thermal_throttle", "gpu_temperature",
                      "memory_temperature"]


class Finding(BaseModel):
    kind: FindingKind
    severity: xid.Severity
    detail: str
    action: str
    cordon_node: bool = False


class Throttle(BaseModel):
    reasons: list[str] = Field(description="clock throttle reasons active now")
    thermal_fraction: float | None = Field(description=f"share of the last {THROTTLE_WINDOW} clocks were held "
                                           "back by heat")
    power_fraction: float | None = Field(description=f"share of the last {THROTTLE_WINDOW} clocks were held back "
                                         "by the power limit")


class XidNote(BaseModel):
    code: int
    name: str
    meaning: str


class RemappedRows(BaseModel):
    correctable: int | None
    uncorrectable: int | None
    failure: bool | None


class GpuHealth(BaseModel):
    node: str
    gpu: int
    uuid: str | None
    model: str | None
    status: Status
    problems: list[str]
    pod: str = Field(description=f"the pod using the GPU; '{NO_POD}' when free, '{UNKNOWN_POD}' when not known")
    namespace: str | None
    util_pct: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    gpu_temp_c: float | None
    memory_temp_c: float | None
    power_w: float | None
    sm_clock_mhz: float | None
    mem_clock_mhz: float | None
    throttle: Throttle
    ecc_sbe_volatile: int | None
    ecc_dbe_volatile: int | None
    last_xid: XidNote | None
    remapped_rows: RemappedRows
    pcie_replays: int | None


class NodeHealth(BaseModel):
    node: str
    gpu_count: int
    abnormal_count: int
    max_gpu_temp_c: float | None
    mean_util_pct: float | None
    gpus: Capped[GpuHealth] = Field(description="every GPU with detail=true, else only the abnormal ones")


class GpuHealthReport(BaseModel):
    source: Literal["dcgm", "nvml"]
    node_count: int
    gpu_count: int
    abnormal_count: int
    top_offenders: list[str]
    nodes: Capped[NodeHealth]


class UnhealthyGpu(BaseModel):
    node: str
    gpu: int
    uuid: str | None
    pod: str = Field(description=f"the pod using the GPU; '{NO_POD}' when free, '{UNKNOWN_POD}' when not known")
    namespace: str | None
    container: str | None
    severity: xid.Severity
    reasons: list[Finding]
    recommended_action: str = Field(description="the action of the most severe reason")
    cordon_node: bool


class UnhealthyReport(BaseModel):
    source: Literal["dcgm", "nvml"]
    gpus_checked: int
    unhealthy_count: int
    critical_count: int
    nodes_affected: list[str]
    pods_affected: list[str]
    criteria: str
    gpus: Capped[UnhealthyGpu] = Field(description="worst first")


class XidExplanation(BaseModel):
    code: int
    known: bool
    message: str
    entry: xid.XidEntry | None


CRITERIA = (f"Xid != 0 (severity from the Xid catalogue; an Xid the sticky gauge has held since before the source's "
            f"window is only info), double-bit ECC errors > 0, row remap failure, a GPU that stopped reporting, "
            f"thermal throttling (SM clock < {SLOW_CLOCK_SHARE:.0%} of the model's maximum while >= "
            f"{BUSY_UTIL_PCT:.0f} % busy and >= {GPU_TEMP_LIMIT_C:.0f} °C; or thermal clock events; or >= "
            f"{THERMAL_THROTTLE_LIMIT:.0%} of the last {THROTTLE_WINDOW} in thermal violation), GPU >= "
            f"{GPU_TEMP_LIMIT_C:.0f} °C, memory >= {MEMORY_TEMP_LIMIT_C:.0f} °C")


# --- what is abnormal -----------------------------------------------------------------------------------------


def throttle_reasons(bits: int | None) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if bits and bits & bit]


def findings(reading: GpuReading, node_silent: bool = False, max_sm_clock: float | None = None) -> list[Finding]:
    """Everything wrong with one GPU, worst first. `node_silent`: no GPU of its node reports any more;
    `max_sm_clock`: the model's maximum SM clock in MHz, when known."""
    if not reading.reporting:
        return [_unanswered() if reading.exporter_down else _lost(node_silent), *_xid_finding(reading)]
    found = [*_xid_finding(reading), *_memory_findings(reading), *_heat_findings(reading, max_sm_clock)]
    return sorted(found, key=lambda f: -xid.SEVERITY_RANK[f.severity])


def _unanswered() -> Finding:
    return Finding(kind="gpu_lost", severity="warning", detail="its dcgm-exporter did not answer the last scrape: "
                   "nothing is known about the GPU now", action="check the node (Ready condition) and its "
                   "dcgm-exporter pod; this says nothing against the GPU itself")


def _lost(node_silent: bool) -> Finding:
    """A GPU off the bus leaves no readings at all where DCGM cannot read /dev/kmsg. When every GPU of a node went
    quiet while its exporter still answers, the cause may be the node's GPUs or DCGM, but no GPU there can be
    trusted: the finding still asks for a cordon, and says to check the node."""
    if node_silent:
        return Finding(kind="gpu_lost", severity="critical", detail="no GPU of this node reports metrics any more "
                       "while its dcgm-exporter answers: DCGM, the driver, or GPUs that fell off the bus",
                       cordon_node=True,
                       action="cordon the node; check its Ready condition, kubelet and dcgm-exporter pod, and the "
                       "kernel log for `NVRM: Xid` lines, before blaming the GPUs")
    entry = xid.CATALOGUE[79]
    return Finding(kind="gpu_lost", severity="critical", detail="the GPU stopped reporting metrics while the rest "
                   "of its node still reports: it has probably fallen off the bus (Xid 79)",
                   action=entry.recommended_action, cordon_node=True)


def _xid_finding(reading: GpuReading) -> list[Finding]:
    if not reading.xid:
        return []
    if reading.xid_recent is False:
        return [Finding(kind="xid", severity="info", detail=f"last Xid {reading.xid} is older than the window the "
                        "source looks back over: the gauge holds the last Xid until dcgm-exporter restarts",
                        action="nothing now; if the GPU misbehaves, look for newer `NVRM: Xid` lines in the kernel "
                        "log")]
    entry = xid.lookup(reading.xid)
    if entry is None:
        return [Finding(kind="xid", severity="warning", detail=f"last Xid {reading.xid}",
                        action=xid.not_in_catalogue(reading.xid))]
    return [Finding(kind="xid", severity=entry.severity, detail=f"last Xid {entry.code} ({entry.name}): "
                    f"{entry.meaning}", action=entry.recommended_action, cordon_node=entry.cordon_node)]


def _memory_findings(reading: GpuReading) -> list[Finding]:
    found = []
    if reading.ecc_dbe:
        found.append(Finding(kind="ecc_dbe", severity="critical", detail=f"{reading.ecc_dbe} uncorrectable "
                             "(double-bit) ECC errors since the last reset", cordon_node=True,
                             action=xid.CATALOGUE[48].recommended_action))
    if reading.row_remap_failure:
        found.append(Finding(kind="row_remap_failure", severity="critical", detail="row remapping failed: the GPU "
                             "could not retire bad memory", cordon_node=True,
                             action=xid.CATALOGUE[64].recommended_action))
    return found


def _slow_while_hot(reading: GpuReading, max_sm_clock: float | None) -> bool:
    """The stock fields' sign of thermal throttling: busy and hot, with the SM clock well below its maximum."""
    clock, util, temp = reading.sm_clock_mhz, reading.util_pct, reading.gpu_temp_c
    if max_sm_clock is None or clock is None or util is None or temp is None:
        return False
    return clock < SLOW_CLOCK_SHARE * max_sm_clock and util >= BUSY_UTIL_PCT and temp >= GPU_TEMP_LIMIT_C


def _heat_findings(reading: GpuReading, max_sm_clock: float | None) -> list[Finding]:
    found = []
    active = (reading.throttle_reasons or 0) & THERMAL_BITS
    share = reading.thermal_fraction or 0.0
    slow = _slow_while_hot(reading, max_sm_clock)
    if active or share >= THERMAL_THROTTLE_LIMIT or slow:
        parts = [f"thermal slowdown active ({', '.join(throttle_reasons(active))})"] if active else []
        if share:
            parts.append(f"throttled {share:.0%} of the last {THROTTLE_WINDOW}")
        if slow:
            parts.append(f"SM clock {reading.sm_clock_mhz:.0f} of {max_sm_clock:.0f} MHz while "
                         f"{reading.util_pct:.0f} % busy at {reading.gpu_temp_c:.0f} °C")
        elif reading.sm_clock_mhz is not None:
            parts.append(f"SM clock {reading.sm_clock_mhz:.0f} MHz")
        found.append(Finding(kind="thermal_throttle", severity="warning", detail="; ".join(parts),
                             action="check the node's cooling (fans, airflow, inlet temperature); move the work off "
                             "the GPU meanwhile (delete the pod so it is rescheduled) and cordon the node if its "
                             "other GPUs heat up too"))
    if reading.gpu_temp_c is not None and reading.gpu_temp_c >= GPU_TEMP_LIMIT_C:
        found.append(Finding(kind="gpu_temperature", severity="warning", detail=f"GPU at {reading.gpu_temp_c:.0f} °C"
                             f" (limit {GPU_TEMP_LIMIT_C:.0f} °C)", action="check the node's cooling; expect "
                             "thermal slowdown next"))
    if reading.memory_temp_c is not None and reading.memory_temp_c >= MEMORY_TEMP_LIMIT_C:
        found.append(Finding(kind="memory_temperature", severity="warning", detail=f"memory at "
                             f"{reading.memory_temp_c:.0f} °C (limit {MEMORY_TEMP_LIMIT_C:.0f} °C)",
                             action="check the node's cooling; hot HBM raises the ECC error rate"))
    return found


# --- answers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assessed:
    reading: GpuReading
    findings: list[Finding]
    pod: str

    @property
    def severity(self) -> xid.Severity | None:
        return self.findings[0].severity if self.findings else None

    @property
    def cordon(self) -> bool:
        return any(f.cordon_node for f in self.findings)

    def worst_first(self) -> tuple[int, bool, int, str, int]:
        rank = xid.SEVERITY_RANK[self.severity] if self.severity else 0
        return -rank, not self.cordon, -len(self.findings), self.reading.node, self.reading.gpu

    def line(self) -> str:
        r = self.reading
        pod = f" (pod {r.namespace}/{self.pod})" if r.namespace else ""
        return f"{r.node} GPU {r.gpu}{pod}: {self.severity}: {'; '.join(f.detail for f in self.findings)}"


def _assess(readings: Sequence[GpuReading]) -> list[_Assessed]:
    """Findings per GPU, worst first. A pod label anywhere means the pod mapping is on: a GPU without one is free."""
    mapped = any(r.pod for r in readings)
    silent = {node for node, group in _by_node(readings).items() if not any(r.reporting for r in group)}
    peak = _peer_peak_clocks(readings)
    assessed = [_Assessed(r, findings(r, r.node in silent, MAX_SM_CLOCK_MHZ.get(r.model or "", peak.get(r.model))),
                          r.pod or (NO_POD if mapped else UNKNOWN_POD)) for r in readings]
    return sorted(assessed, key=_Assessed.worst_first)


def health_report(readings: Sequence[GpuReading], source: Literal["dcgm", "nvml"], *, node: str | None = None,
                  detail: bool = False) -> GpuHealthReport:
    assessed = _assess(_only_node(readings, node))
    nodes: dict[str, list[_Assessed]] = defaultdict(list)
    for a in assessed:
        nodes[a.reading.node].append(a)
    summaries = [_node_health(name, group, detail) for name, group in sorted(nodes.items())]
    abnormal = [a for a in assessed if a.findings]
    return GpuHealthReport(source=source, node_count=len(summaries), gpu_count=len(assessed),
                           abnormal_count=len(abnormal), top_offenders=[a.line() for a in abnormal[:TOP_OFFENDERS]],
                           nodes=Capped[NodeHealth].of(summaries, MAX_ITEMS))


def unhealthy_report(readings: Sequence[GpuReading], source: Literal["dcgm", "nvml"]) -> UnhealthyReport:
    assessed = [a for a in _assess(readings) if a.findings]
    gpus = [UnhealthyGpu(node=a.reading.node, gpu=a.reading.gpu, uuid=a.reading.uuid, pod=a.pod,
                         namespace=a.reading.namespace, container=a.reading.container, severity=a.findings[0].severity,
                         reasons=a.findings, recommended_action=a.findings[0].action, cordon_node=a.cordon)
            for a in assessed]
    pods = [f"{g.namespace}/{g.pod}" for g in gpus if g.namespace]
    return UnhealthyReport(source=source, gpus_checked=len(readings), unhealthy_count=len(gpus),
                           critical_count=sum(g.severity == "critical" for g in gpus),
                           nodes_affected=sorted({g.node for g in gpus}), pods_affected=list(dict.fromkeys(pods)),
                           criteria=CRITERIA, gpus=Capped[UnhealthyGpu].of(gpus, MAX_ITEMS))


def explain(code: int) -> XidExplanation:
    entry = xid.lookup(code)
    if entry is None:
        return XidExplanation(code=code, known=False, message=xid.not_in_catalogue(code), entry=None)
    return XidExplanation(code=code, known=True, message=f"Xid {code} ({entry.name}): {entry.meaning} "
                          f"Recommended: {entry.recommended_action}", entry=entry)


def _peer_peak_clocks(readings: Iterable[GpuReading]) -> dict[str | None, float]:
    """Per model not in the table, the fastest SM clock a busy GPU of it reports now: its peers at full speed."""
    peak: dict[str | None, float] = {}
    for r in readings:
        if r.sm_clock_mhz is not None and (r.util_pct or 0) >= BUSY_UTIL_PCT:
            peak[r.model] = max(peak.get(r.model, 0.0), r.sm_clock_mhz)
    return peak


def _by_node(readings: Iterable[GpuReading]) -> dict[str, list[GpuReading]]:
    nodes: dict[str, list[GpuReading]] = defaultdict(list)
    for r in readings:
        nodes[r.node].append(r)
    return nodes


def _only_node(readings: Sequence[GpuReading], node: str | None) -> Sequence[GpuReading]:
    if node is None:
        return readings
    chosen = [r for r in readings if r.node == node]
    if not chosen:
        known = sorted({r.node for r in readings})
        listing = ", ".join(known[:20]) + (" …" if len(known) > 20 else "") if known else "none"
        raise Failure("not_found", f"node {node!r} has no GPU readings; nodes with GPUs: {listing}")
    return chosen


def _node_health(name: str, group: list[_Assessed], detail: bool) -> NodeHealth:
    live = [a.reading for a in group if a.reading.reporting]
    temps = [r.gpu_temp_c for r in live if r.gpu_temp_c is not None]
    utils = [r.util_pct for r in live if r.util_pct is not None]
    shown = sorted((a for a in group if detail or a.findings), key=lambda a: a.reading.gpu)
    return NodeHealth(node=name, gpu_count=len(group), abnormal_count=sum(bool(a.findings) for a in group),
                      max_gpu_temp_c=max(temps) if temps else None,
                      mean_util_pct=round(sum(utils) / len(utils), 1) if utils else None,
                      gpus=Capped[GpuHealth].of([_gpu_health(a) for a in shown], GPUS_PER_NODE_CAP))


def _gpu_health(a: _Assessed) -> GpuHealth:
    r = a.reading
    entry = xid.lookup(r.xid) if r.xid else None
    last_xid = (XidNote(code=entry.code, name=entry.name, meaning=entry.meaning) if entry else
                XidNote(code=r.xid, name="unknown", meaning=xid.not_in_catalogue(r.xid)) if r.xid else None)
    return GpuHealth(node=r.node, gpu=r.gpu, uuid=r.uuid, model=r.model, status=a.severity or "ok",
                     problems=[f.detail for f in a.findings], pod=a.pod, namespace=r.namespace,
                     util_pct=r.util_pct, memory_used_mib=r.memory_used_mib, memory_total_mib=r.memory_total_mib,
                     gpu_temp_c=r.gpu_temp_c, memory_temp_c=r.memory_temp_c, power_w=r.power_w,
                     sm_clock_mhz=r.sm_clock_mhz, mem_clock_mhz=r.mem_clock_mhz,
                     throttle=Throttle(reasons=throttle_reasons(r.throttle_reasons),
                                       thermal_fraction=r.thermal_fraction, power_fraction=r.power_fraction),
                     ecc_sbe_volatile=r.ecc_sbe, ecc_dbe_volatile=r.ecc_dbe, last_xid=last_xid,
                     remapped_rows=RemappedRows(correctable=r.remapped_rows_correctable,
                                                uncorrectable=r.remapped_rows_uncorrectable,
                                                failure=r.row_remap_failure),
                     pcie_replays=r.pcie_replays)
