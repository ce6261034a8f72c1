"""dcgm-exporter's series as GPU readings, alone: the five query results in, one reading per GPU out."""

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
    first, gone = dcgm_readings(current, thermal, [], lost, [])
    assert (first.node, first.gpu, first.pod, first.namespace) == ("gpu-node-1", 0, "qwen-7b-0", "inference")
    assert first.gpu_temp_c == 71 and first.memory_total_mib == 1600 and first.xid is None
    assert first.thermal_fraction == 1.0, "a violation rate is a share of the window, at most all of it"
    assert (gone.node, gone.gpu, gone.reporting) == ("gpu-node-2", 1, False)


def test_an_xid_is_current_only_when_the_recent_query_returned_it() -> None:
    current = [sample("DCGM_FI_DEV_XID_ERRORS", "79", gpu="0", err_code="79"),
               sample("DCGM_FI_DEV_XID_ERRORS", "48", gpu="1", err_code="48"),
               sample("DCGM_FI_DEV_XID_ERRORS", "0", gpu="2", err_code="0")]
    recent = [sample("DCGM_FI_DEV_XID_ERRORS", "79", gpu="0", err_code="79")]
    new, old, none = dcgm_readings(current, [], [], [], recent)
    assert (new.xid, new.xid_recent) == (79, True)
    assert (old.xid, old.xid_recent) == (48, False)
    assert (none.xid, none.xid_recent) == (0, None)


def test_a_gpu_whose_temperature_stopped_but_whose_xid_gauge_remains_is_lost_with_its_xid() -> None:
    current = [sample("DCGM_FI_DEV_XID_ERRORS", "79", err_code="79")]
    lost = [sample("DCGM_FI_DEV_GPU_TEMP", "60")]
    [gpu] = dcgm_readings(current, [], [], lost, current)
    assert (gpu.reporting, gpu.xid, gpu.xid_recent) == (False, 79, True)


def test_clock_events_per_reason_set_their_bits_and_the_lower_case_host_label_names_the_node() -> None:
    labels = {"hostname": "gpu-node-3", "Hostname": "", "window_size_in_ms": "300000"}
    current = [sample("DCGM_EXP_CLOCK_EVENTS_COUNT", "4", clock_event="sw_thermal", **labels),
               sample("DCGM_EXP_CLOCK_EVENTS_COUNT", "4", clock_event="hw_thermal", **labels),
               sample("DCGM_EXP_CLOCK_EVENTS_COUNT", "0", gpu="1", **labels)]
    hot, calm = dcgm_readings(current, [], [], [], [])
    assert (hot.node, hot.throttle_reasons) == ("gpu-node-3", 0x20 | 0x40)
    assert calm.throttle_reasons == 0


def test_a_gpu_quiet_because_its_scrape_failed_is_marked_so() -> None:
    lost = [sample("DCGM_FI_DEV_GPU_TEMP", "60", job="dcgm-exporter", instance="gpu-node-2:9400"),
            sample("DCGM_FI_DEV_GPU_TEMP", "60", gpu="1", job="dcgm-exporter", instance="gpu-node-3:9400")]
    down = [{"metric": {"__name__": "up", "job": "dcgm-exporter", "instance": "gpu-node-2:9400"}, "value": [0, "0"]}]
    unanswered, gone = dcgm_readings([], [], [], lost, [], down)
    assert (unanswered.reporting, unanswered.exporter_down) == (False, True)
    assert (gone.reporting, gone.exporter_down) == (False, False)
