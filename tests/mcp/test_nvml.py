"""NVML mode: the gpu server reads the local GPUs through a fake `pynvml` and answers as it does from DCGM."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastmcp import Client

from harness.cli import main as firebreak
from mcp_servers.compose import build
from mcp_servers.failures import ErrorKind
from mcp_servers.settings import Settings
from tests.mcp.calls import failure

pytestmark = pytest.mark.anyio

NVML_MODE = Settings(nvml=True)
MIB = 1024 * 1024


class NVMLError(Exception):
    def __init__(self, value: int = 999) -> None:
        super().__init__(value)
        self.value = value


class NVMLError_NotSupported(NVMLError):
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_FunctionNotFound(NVMLError):
    pass


class NVMLError_NoPermission(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


@dataclass
class FakeGpu:
    name: str | bytes = "NVIDIA H100 80GB HBM3"
    util: int = 40
    used_mib: int = 70_000
    temp: int = 55
    power_mw: int = 350_000
    reasons: int = 0
    ecc: tuple[int, int] | None = (0, 0)  # (corrected, uncorrected); None: ECC not supported
    remapped: tuple[int, int, int, int] | None = (0, 0, 0, 0)  # None: no row remapper (pre-Ampere)
    lost: bool = False
    calls: list[str] = field(default_factory=list)


class FakeNvml:
    """The part of pynvml the NVML mode uses, over a list of fake GPUs."""

    def __init__(self, gpus: list[FakeGpu], *, event_reasons: str = "supported", init_error: bool = False) -> None:
        self.gpus, self.event_reasons, self.init_error = gpus, event_reasons, init_error
        self.started = self.stopped = 0

    def module(self) -> types.ModuleType:
        nv = types.ModuleType("pynvml")
        for error in (NVMLError, NVMLError_NotSupported, NVMLError_FunctionNotFound, NVMLError_NoPermission,
                      NVMLError_GpuIsLost, NVMLError_LibraryNotFound):
            setattr(nv, error.__name__, error)
        constants = {"NVML_TEMPERATURE_GPU": 0, "NVML_CLOCK_SM": 1, "NVML_CLOCK_MEM": 2, "NVML_VOLATILE_ECC": 0,
                     "NVML_MEMORY_ERROR_TYPE_CORRECTED": 0, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED": 1}
        for name, value in constants.items():
            setattr(nv, name, value)
        for name in dir(self):
            if name.startswith("nvml"):
                setattr(nv, name, getattr(self, name))
        if self.event_reasons == "absent":  # an nvidia-ml-py from before the rename
            del nv.nvmlDeviceGetCurrentClocksEventReasons
        return nv

    def nvmlInit(self) -> None:
        if self.init_error:
            raise NVMLError_LibraryNotFound(12)
        self.started += 1

    def nvmlShutdown(self) -> None:
        self.stopped += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        self._check(gpu)
        return f"GPU-fake-{self.gpus.index(gpu)}"

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str | bytes:
        return gpu.name

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> Any:
        return types.SimpleNamespace(total=81_559 * MIB, used=gpu.used_mib * MIB, free=(81_559 - gpu.used_mib) * MIB)

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        return types.SimpleNamespace(gpu=gpu.util, memory=gpu.util // 2)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        return gpu.temp

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return gpu.power_mw

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock: int) -> int:
        return 1980 if clock == 1 else 2619

    def nvmlDeviceGetCurrentClocksEventReasons(self, gpu: FakeGpu) -> int:
        gpu.calls.append("event_reasons")
        if self.event_reasons == "driver_too_old":
            raise NVMLError_FunctionNotFound(13)
        return gpu.reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, gpu: FakeGpu) -> int:
        gpu.calls.append("throttle_reasons")
        return gpu.reasons

    def nvmlDeviceGetTotalEccErrors(self, gpu: FakeGpu, error_type: int, counter: int) -> int:
        if gpu.ecc is None:
            raise NVMLError_NotSupported(3)
        return gpu.ecc[error_type]

    def nvmlDeviceGetRemappedRows(self, gpu: FakeGpu) -> tuple[int, int, int, int]:
        if gpu.remapped is None:
            raise NVMLError_NotSupported(3)
        return gpu.remapped

    def nvmlDeviceGetPcieReplayCounter(self, gpu: FakeGpu) -> int:
        return 0

    @staticmethod
    def _check(gpu: FakeGpu) -> None:
        if gpu.lost:
            raise NVMLError_GpuIsLost(15)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Installs a fake pynvml over the given GPUs on a node called gpu-node-7; returns the fake."""
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")

    def install(gpus: list[FakeGpu], **options: Any) -> FakeNvml:
        fake = FakeNvml(gpus, **options)
        monkeypatch.setitem(sys.modules, "pynvml", fake.module())
        return fake
    return install


async def _call(tool: str, arguments: dict[str, Any] | None = None) -> Any:
    async with Client(build("gpu", NVML_MODE)) as client:
        return await client.call_tool(tool, arguments or {}, raise_on_error=False)


async def _failure(tool: str) -> tuple[ErrorKind, str]:
    async with Client(build("gpu", NVML_MODE)) as client:
        return await failure(client, tool)


async def test_local_gpus_read_like_dcgm_ones(local: Any) -> None:
    fake = local([FakeGpu(), FakeGpu(name=b"NVIDIA H100 80GB HBM3", util=90, temp=61)])
    result = await _call("gpu_health", {"detail": True})
    assert not result.is_error, result.content[0].text
    report = result.structured_content
    assert (report["source"], report["node_count"], report["gpu_count"], report["abnormal_count"]) == \
        ("nvml", 1, 2, 0)
    [node] = report["nodes"]["items"]
    assert (node["node"], node["max_gpu_temp_c"], node["mean_util_pct"]) == ("gpu-node-7", 61, 65)
    first = node["gpus"]["items"][0]
    assert first["uuid"] == "GPU-fake-0" and first["model"] == "NVIDIA H100 80GB HBM3"
    assert (first["memory_used_mib"], first["memory_total_mib"], first["power_w"]) == (70_000, 81_559, 350)
    assert (first["sm_clock_mhz"], first["mem_clock_mhz"]) == (1980, 2619)
    assert first["ecc_dbe_volatile"] == 0 and first["remapped_rows"]["failure"] is False
    assert first["pod"] == "unknown", "NVML cannot see which pod holds a GPU"
    assert node["gpus"]["items"][1]["model"] == "NVIDIA H100 80GB HBM3", "older pynvml returns bytes"
    assert fake.started == fake.stopped == 1


async def test_a_gpu_with_double_bit_ecc_errors_is_flagged_for_a_drain(local: Any) -> None:
    local([FakeGpu(), FakeGpu(ecc=(12, 3), remapped=(4, 1, 0, 0)), FakeGpu()])
    result = await _call("unhealthy_gpus")
    assert not result.is_error, result.content[0].text
    report = result.structured_content
    assert (report["source"], report["gpus_checked"], report["unhealthy_count"]) == ("nvml", 3, 1)
    [gpu] = report["gpus"]["items"]
    assert (gpu["node"], gpu["gpu"], gpu["severity"], gpu["cordon_node"]) == ("gpu-node-7", 1, "critical", True)
    assert [r["kind"] for r in gpu["reasons"]] == ["ecc_dbe"]
    assert gpu["reasons"][0]["detail"].startswith("3 uncorrectable (double-bit) ECC errors")
    assert gpu["pod"] == "unknown"


async def test_queries_a_gpu_does_not_support_read_as_missing_not_as_errors(local: Any) -> None:
    local([FakeGpu(ecc=None, remapped=None)])
    result = await _call("gpu_health", {"detail": True})
    assert not result.is_error, result.content[0].text
    [gpu] = result.structured_content["nodes"]["items"][0]["gpus"]["items"]
    assert gpu["status"] == "ok"
    assert gpu["ecc_sbe_volatile"] is None and gpu["ecc_dbe_volatile"] is None
    assert gpu["remapped_rows"] == {"correctable": None, "uncorrectable": None, "failure": None}
    assert gpu["gpu_temp_c"] == 55, "the supported readings are still there"


@pytest.mark.parametrize("event_reasons", ["supported", "driver_too_old", "absent"])
async def test_thermal_slowdown_is_read_under_either_name_of_the_reasons_call(local: Any, event_reasons: str) -> None:
    fake = local([FakeGpu(reasons=0x40 | 0x20, temp=92)], event_reasons=event_reasons)
    report = (await _call("unhealthy_gpus")).structured_content
    [gpu] = report["gpus"]["items"]
    assert [r["kind"] for r in gpu["reasons"]] == ["thermal_throttle", "gpu_temperature"]
    assert "sw_thermal_slowdown, hw_thermal_slowdown" in gpu["reasons"][0]["detail"]
    used = fake.gpus[0].calls
    assert used[-1] == ("event_reasons" if event_reasons == "supported" else "throttle_reasons")


async def test_a_lost_gpu_is_flagged_like_one_that_fell_off_the_bus(local: Any) -> None:
    local([FakeGpu(), FakeGpu(lost=True)])
    report = (await _call("unhealthy_gpus")).structured_content
    [gpu] = report["gpus"]["items"]
    assert (gpu["gpu"], gpu["severity"], gpu["cordon_node"]) == (1, "critical", True)
    assert gpu["reasons"][0]["kind"] == "gpu_lost"


async def test_without_nvidia_ml_py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert await _failure("gpu_health") == ("unreachable", "NVML mode needs nvidia-ml-py: install firebreak[nvml]")


async def test_a_machine_without_the_driver_gives_a_clear_error(local: Any) -> None:
    local([FakeGpu()], init_error=True)
    kind, message = await _failure("unhealthy_gpus")
    assert kind == "unreachable"
    assert message.startswith("NVML could not start: NVML Shared Library Not Found")


def test_firebreak_gpus_prints_a_json_health_summary(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    local([FakeGpu(), FakeGpu(ecc=(0, 1))])
    assert firebreak(["gpus"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["source"], summary["gpu_count"], summary["abnormal_count"]) == ("nvml", 2, 1)
    assert summary["top_offenders"][0].startswith("gpu-node-7 GPU 1: critical: 1 uncorrectable")


def test_firebreak_gpus_exits_non_zero_when_nvml_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert firebreak(["gpus"]) == 1
    assert "install firebreak[nvml]" in capsys.readouterr().err
