"""dcgm-exporter's series as GPU readings, alone: the four query results in, one reading per GPU out."""

from __future__ import annotations

from mcp_servers.gpu.dcgm import dcgm_readings


def sample(name: str, value: str, **labels: str) -> dict[str, object]:
    return {"metric": {"__name__": name, "Hostname": "dcgm-pod", "gpu": "0", "UUID": "GPU-0", **labels},
            "value": [0, value]}


def test_gauges_rates_and_lost_gpus_make_one_reading_per_gpu() -> None:
    current = [sample("DCGM_FI_DEV_GPU_TEMP", "71", node="gpu-node-1", exported_pod="qwen-7b-0",
                      exported_namespace="inference"),
               sample("DCGM_FI_DEV_FB_USED", "1000", node="gpu-node-1"),
               sample("DCGM_FI_DEV_FB_FREE", "500", node="gpu-node-1"),
               sample("DCGM_FI_DEV_FB_RESERVED", "100", node="gpu-node-1"),
               sample("DCGM_FI_DEV_XID_ERRORS", "NaN", node="gpu-node-1")]
    thermal = [sample("", "1.7", node="gpu-node-1")]
    lost = [sample("DCGM_FI_DEV_GPU_TEMP", "60", node="gpu-node-2", gpu="1")]
    first, gone = dcgm_readings(current, thermal, [], lost)
    assert (first.node, first.gpu, first.pod, first.namespace) == ("gpu-node-1", 0, "qwen-7b-0", "inference")
    assert first.gpu_temp_c == 71 and first.memory_total_mib == 1600 and first.xid is None
    assert first.thermal_fraction == 1.0, "a violation rate is a share of the window, at most all of it"
    assert (gone.node, gone.gpu, gone.reporting) == ("gpu-node-2", 1, False)
