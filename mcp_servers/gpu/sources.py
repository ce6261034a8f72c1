"""Where the gpu server's readings come from: dcgm-exporter's metrics in Prometheus, or, in NVML mode, the GPUs of
the machine the server runs on. The server holds the one its settings choose, as a `GpuSource`."""

from __future__ import annotations

from typing import Literal

import anyio

from mcp_servers.errors import TimedOut, Unreachable
from mcp_servers.gpu import nvml
from mcp_servers.gpu.dcgm import read_dcgm
from mcp_servers.gpu.reading import GpuReading
from mcp_servers.prometheus.client import prometheus_api
from mcp_servers.settings import HttpEndpoint, Settings

SourceName = Literal["dcgm", "nvml"]


class GpuSource:
    """Reads every GPU it can see."""

    name: SourceName

    async def readings(self) -> list[GpuReading]:
        raise NotImplementedError


class DcgmSource(GpuSource):
    name = "dcgm"

    def __init__(self, prometheus: HttpEndpoint | None) -> None:
        self._prometheus = prometheus

    async def readings(self) -> list[GpuReading]:
        if self._prometheus is None:
            raise Unreachable("the gpu server reads dcgm-exporter metrics from Prometheus: set PROMETHEUS_URL (or "
                              "FIREBREAK_GPU_NVML=1 to read the local GPUs through NVML)")
        try:
            return await read_dcgm(prometheus_api(self._prometheus))
        except (Unreachable, TimedOut) as error:
            raise type(error)(f"{error}; check PROMETHEUS_URL") from error


class NvmlSource(GpuSource):
    name = "nvml"

    async def readings(self) -> list[GpuReading]:
        try:
            return await anyio.to_thread.run_sync(nvml.read_local)
        except nvml.NvmlUnavailable as error:
            raise Unreachable(str(error)) from error


def source_of(settings: Settings) -> GpuSource:
    return NvmlSource() if settings.nvml else DcgmSource(settings.prometheus)
