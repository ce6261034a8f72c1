"""What one GPU reports, as every reading source (DCGM metrics, local NVML) fills it for the gpu server."""

from __future__ import annotations

from pydantic import BaseModel, Field

THROTTLE_WINDOW = "1m"  # the window of `thermal_fraction` and `power_fraction`


class GpuReading(BaseModel):
    """What one GPU reports, whatever the source; None where the source does not say."""

    node: str
    gpu: int
    uuid: str | None = None
    model: str | None = None
    reporting: bool = Field(default=True, description="false: seen recently, reporting nothing now")
    exporter_down: bool = Field(default=False, description="not reporting because its exporter did not answer")
    util_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    gpu_temp_c: float | None = None
    memory_temp_c: float | None = None
    power_w: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    throttle_reasons: int | None = None
    thermal_fraction: float | None = None
    power_fraction: float | None = None
    ecc_sbe: int | None = None
    ecc_dbe: int | None = None
    xid: int | None = None
    xid_recent: bool | None = Field(default=None, description="the Xid is new within the source's window; None: "
                                    "the source cannot tell (the gauge holds the last Xid until the exporter restarts)")
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    row_remap_failure: bool | None = None
    pcie_replays: int | None = None
    pod: str | None = None
    namespace: str | None = None
    container: str | None = None
