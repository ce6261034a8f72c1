"""What the fleet's programs print: vLLM, uvicorn, the gateway, the NVIDIA device plugin, the kernel.

Lines follow the real programs' formats. They describe symptoms (a CUDA error, an I/O error, a timeout),
never the sandbox's name for the fault behind them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

VLLM_VERSION = "0.8.5"
SITE = "/usr/local/lib/python3.12/dist-packages"


def _ts() -> str:
    return datetime.now(UTC).strftime("%m-%d %H:%M:%S")


def vllm(level: str, where: str, message: str) -> str:
    return f"{level} {_ts()} [{where}] {message}"


def vllm_args(pod: dict[str, Any]) -> dict[str, str]:
    args = pod["spec"]["containers"][0].get("args", [])
    pairs = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            if not value and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
            pairs[key.replace("-", "_")] = value
    return pairs


def vllm_startup(pod: dict[str, Any], weights_gib: float, load_s: float) -> list[str]:
    a = vllm_args(pod)
    tp = int(a.get("tensor_parallel_size", "1"))
    lines = [
        vllm("INFO", "__init__.py:239", "Automatically detected platform cuda."),
        vllm("INFO", "api_server.py:1043", f"vLLM API server version {VLLM_VERSION}"),
        vllm("INFO", "api_server.py:1044", "args: Namespace(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")"),
        vllm("INFO", "config.py:717", "This model supports multiple tasks: {'generate', 'embed', 'classify', "
             "'score', 'reward'}. Defaulting to 'generate'."),
        vllm("INFO", "core.py:58", f"Initializing a V1 LLM engine (v{VLLM_VERSION}) with config: "
             f"model='{a.get('model')}', tensor_parallel_size={tp}, max_seq_len={a.get('max_model_len')}, "
             f"served_model_name={a.get('served_model_name')}, enable_prefix_caching=True"),
    ]
    if tp > 1:
        lines.append(vllm("INFO", "pynccl.py:69", "vLLM is using nccl==2.21.5"))
        lines += [vllm("INFO", "parallel_state.py:959",
                       f"rank {r} in world size {tp} is assigned as DP rank 0, PP rank 0, TP rank {r}")
                  for r in range(tp)]
    lines += [
        vllm("INFO", "gpu_model_runner.py:1329", f"Starting to load model {a.get('model')}..."),
        vllm("INFO", "loader.py:458", f"Loading weights took {load_s * 0.7:.2f} seconds"),
        vllm("INFO", "gpu_model_runner.py:1347",
             f"Model loading took {weights_gib / tp:.4f} GiB and {load_s * 0.75:.6f} seconds"),
        vllm("INFO", "kv_cache_utils.py:634",
             f"GPU KV cache size: {int(420_000 / max(1.0, weights_gib / 40)):,} tokens"),
        vllm("INFO", "gpu_model_runner.py:1686", "Graph capturing finished in 19 secs, took 1.45 GiB"),
        vllm("INFO", "core.py:159", f"init engine (profile, create kv cache, warmup model) took {load_s * 0.2:.2f} "
             "seconds"),
    ]
    return lines


def vllm_ready() -> list[str]:
    return [vllm("INFO", "api_server.py:1090", "Starting vLLM API server on http://0.0.0.0:8000"),
            "INFO:     Started server process [1]", "INFO:     Waiting for application startup.",
            "INFO:     Application startup complete."]


def uvicorn_shutdown() -> list[str]:
    return ["INFO:     Shutting down", "INFO:     Waiting for application shutdown.",
            "INFO:     Application shutdown complete.", "INFO:     Finished server process [1]"]


def access(client: str, method: str, path: str, code: int) -> str:
    phrase = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
              502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(code, "")
    return f'INFO:     {client} - "{method} {path} HTTP/1.1" {code} {phrase}'


def engine_stats(prompt_tps: float, gen_tps: float, running: int, waiting: int, kv: float) -> str:
    return vllm("INFO", "loggers.py:111", f"Engine 000: Avg prompt throughput: {prompt_tps:.1f} tokens/s, "
                f"Avg generation throughput: {gen_tps:.1f} tokens/s, Running: {running} reqs, Waiting: {waiting} "
                f"reqs, GPU KV cache usage: {kv * 100:.1f}%, Prefix cache hit rate: 38.6%")


def _engine_traceback(frames: list[tuple[str, int, str]], error: str) -> list[str]:
    head = [vllm("ERROR", "core.py:400", "EngineCore encountered a fatal error."),
            vllm("ERROR", "core.py:400", "Traceback (most recent call last):")]
    body = [vllm("ERROR", "core.py:400", f'  File "{SITE}/vllm/{path}", line {line}, in {func}')
            for path, line, func in frames]
    tail = [vllm("ERROR", "core.py:400", error),
            vllm("ERROR", "async_llm.py:399", "AsyncLLM output_handler failed."),
            "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack trace (above) "
            "for the root cause.", *uvicorn_shutdown()]
    return head + body + tail


_STEP = [("v1/engine/core.py", 391, "run_engine_core"), ("v1/engine/core.py", 208, "step"),
         ("v1/executor/abstract.py", 86, "execute_model"), ("v1/worker/gpu_model_runner.py", 1071, "execute_model")]


def cuda_device_error(gpu_index: int) -> list[str]:
    return _engine_traceback(_STEP, "RuntimeError: CUDA error: unspecified launch failure\n"
                             "CUDA kernel errors might be asynchronously reported at some other API call, so the "
                             "stacktrace below might be incorrect.\nFor debugging consider passing "
                             f"CUDA_LAUNCH_BLOCKING=1 (device {gpu_index})")


def cuda_unavailable_at_start() -> list[str]:
    return [vllm("ERROR", "core.py:400", "EngineCore failed to start."),
            vllm("ERROR", "core.py:400", "Traceback (most recent call last):"),
            vllm("ERROR", "core.py:400", f'  File "{SITE}/vllm/v1/worker/gpu_worker.py", line 121, in init_device'),
            vllm("ERROR", "core.py:400", "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or "
                 "unavailable"),
            "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"]


def cuda_out_of_memory(total_gib: float, free_gib: float) -> list[str]:
    frames = [*_STEP, ("model_executor/layers/sampler.py", 287, "forward")]
    return _engine_traceback(frames, f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. "
                             f"GPU 0 has a total capacity of {total_gib:.2f} GiB of which {free_gib:.2f} GiB is free. "
                             f"Process 1 has {total_gib - free_gib:.2f} GiB memory in use. Of the allocated memory "
                             f"{total_gib - free_gib - 1.9:.2f} GiB is allocated by PyTorch, and 1.87 GiB is reserved "
                             "by PyTorch but unallocated.")


def engine_crash_on_request() -> list[str]:
    frames = [*_STEP, ("v1/worker/gpu_model_runner.py", 482, "_prepare_inputs"),
              ("v1/core/sched/output.py", 96, "make_cached_request_data")]
    return _engine_traceback(frames, "IndexError: index 8192 is out of bounds for dimension 0 with size 8192")


def serving_error(request_id: str) -> list[str]:
    return [vllm("ERROR", "serving_chat.py:195", f"Error in preprocessing prompt inputs for request {request_id}"),
            "Traceback (most recent call last):",
            f'  File "{SITE}/vllm/entrypoints/openai/serving_chat.py", line 183, in create_chat_completion',
            f'  File "{SITE}/vllm/entrypoints/chat_utils.py", line 1178, in apply_hf_chat_template',
            "jinja2.exceptions.UndefinedError: 'dict object' has no attribute 'tool_calls'"]


def nccl_watchdog_timeout(rank: int) -> list[str]:
    return [f"[rank{rank}]:[E1123 23:11:05.112063594 ProcessGroupNCCL.cpp:632] [Rank {rank}] Watchdog caught "
            "collective operation timeout: WorkNCCL(SeqNum=184467, OpType=ALLREDUCE, NumelIn=8388608, "
            "NumelOut=8388608, Timeout(ms)=600000) ran for 600013 milliseconds before timing out."]


def device_plugin_xid(xid: int, uuid: str) -> str:
    """k8s-device-plugin v0.18.0-v0.20.0 internal/rm/health.go:169 (klog); Device is the device ID, its UUID."""
    stamp = datetime.now(UTC).strftime("%m%d %H:%M:%S.%f")
    return (f"I{stamp}       1 health.go:169] XidCriticalError: Xid={xid} on Device={uuid}; marking device as "
            "unhealthy.")


def device_plugin_startup(gpus: int) -> list[str]:
    stamp = datetime.now(UTC).strftime("%m%d %H:%M:%S.%f")
    return [f"I{stamp}       1 main.go:235] Starting NVIDIA Device Plugin version v0.17.0",
            f"I{stamp}       1 server.go:176] Starting GRPC server for 'nvidia.com/gpu'",
            f"I{stamp}       1 server.go:138] Registered device plugin for 'nvidia.com/gpu' with Kubelet ({gpus} "
            "devices)"]


def dcgm_exporter_startup() -> list[str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [f'time="{stamp}" level=info msg="Starting dcgm-exporter" Version=4.1.1-4.0.4',
            f'time="{stamp}" level=info msg="DCGM successfully initialized!"',
            f'time="{stamp}" level=info msg="Collecting DCP Metrics"',
            f'time="{stamp}" level=info msg="Kubernetes metrics collection enabled!"',
            f'time="{stamp}" level=info msg="Starting webserver"']


def service_startup(name: str) -> list[str]:
    return [f'{{"level":"info","ts":"{datetime.now(UTC).isoformat()}","msg":"starting {name}","port":8080}}',
            "INFO:     Application startup complete."]
