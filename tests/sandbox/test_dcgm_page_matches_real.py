"""The sandbox's dcgm-exporter page holds to the real samples in tests/fixtures/real/dcgm/: the same metric names,
types and help texts, and the same label names in the same order, for a GPU with a pod and a free one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import exporters
from sandbox.world import Gpu, Host

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "dcgm"
META = re.compile(r"^# (HELP|TYPE) (\w+) (.*)$", re.M)
SERIES = re.compile(r"^(\w+)\{(.*)\} \S+$", re.M)
LABEL_NAME = re.compile(r'(\w+)="')
POD, OTHER_POD = "inference/qwen-7b-6f8d9c7b4d-lq7tw", "inference/llama-70b-7d9c8b6f5d-x2x9k"


def metadata(text: str) -> dict[tuple[str, str], str]:
    return {(kind, name): rest for kind, name, rest in META.findall(text)}


def label_names(text: str) -> set[tuple[str, tuple[str, ...]]]:
    return {(name, tuple(LABEL_NAME.findall(labels))) for name, labels in SERIES.findall(text)}


def sandbox_page(extras: bool, **state: object) -> str:
    gpus = [Gpu(node="gpu-node-2", index=i, uuid=f"GPU-{i}", pci_bus_id=f"00000000:{0x18 + 0x10 * i:02X}:00.0",
                model_name="NVIDIA H100 80GB HBM3") for i in (0, 1, 4)]
    gpus[0].pod, gpus[1].pod = OTHER_POD, POD
    for key, value in state.items():
        setattr(gpus[1], key, value)
    return exporters.dcgm(Host("gpu-node-2", gpus, 2e12), {POD: 0.9, OTHER_POD: 0.9},
                          {POD: "vllm", OTHER_POD: "vllm"}, extras)


@pytest.mark.parametrize(("extras", "samples"), [(False, ["metrics-default.prom"]),
                                                 (True, ["metrics-default.prom", "metrics-extras.prom"])])
def test_the_page_has_the_real_names_types_help_and_label_names(extras: bool, samples: list[str]) -> None:
    real = "".join((REAL / name).read_text() for name in samples)
    ours = sandbox_page(extras, thermal_slowdown=True, thermal_slowdown_s=40.0)
    assert metadata(ours) == metadata(real)
    assert label_names(with_pod(ours)) == label_names(with_pod(real))
    if not extras:  # the extras sample has only GPUs with pods; the default one also a free GPU
        assert label_names(ours) == label_names(real)


def with_pod(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if 'pod="' in line)


def test_an_xid_carries_its_code_and_the_exporters_message() -> None:
    real = (REAL / "metrics-xid.prom").read_text()
    ours = sandbox_page(False, dcgm_xid=79)
    [line] = [line for line in ours.splitlines() if line.startswith("DCGM_FI_DEV_XID_ERRORS{gpu=\"1\"")]
    assert 'err_code="79",err_msg="GPU has fallen off the bus"' in line and line.endswith("} 79")
    assert label_names(line) <= label_names(real)


def test_a_gpu_off_the_bus_has_no_series_unless_dcgm_read_its_xid() -> None:
    unseen = sandbox_page(False, off_bus=True)
    assert 'UUID="GPU-1"' not in unseen and 'UUID="GPU-4"' in unseen
    seen = sandbox_page(False, off_bus=True, dcgm_xid=79)
    assert [line.split("{")[0] for line in seen.splitlines() if 'UUID="GPU-1"' in line] == ["DCGM_FI_DEV_XID_ERRORS"]
