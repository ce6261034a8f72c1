"""What the fleet's programs print: vLLM, uvicorn, the gateway, the NVIDIA device plugin, the kernel.

Lines follow the real programs' formats. They describe symptoms (a CUDA error, an I/O error, a timeout),
never the sandbox's name for the fault behind them.

vLLM (v0.32, the release `sandbox.fleet` deploys) prefixes every line a process writes to stdout and stderr
with `(<process name> pid=<pid>) ` (`vllm/utils/system_utils.py` `_add_prefix`, called by `decorate_logs`):
the API server is `APIServer` (PID 1 in the `vllm/vllm-openai` image, whose entrypoint is `vllm serve`), the
engine core `EngineCore` (`EngineCore_DP<n>` only with data parallelism, `vllm/v1/engine/core.py`
`run_engine_core`), tensor-parallel workers `Worker_TP<rank>`. uvicorn's own lines and tracebacks carry the
prefix too. The `[file.py:line]` numbers are those of recent published logs, not of one exact build.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

VLLM_VERSION = "0.32.0"
SITE = "/usr/local/lib/python3.12/dist-packages"
API_SERVER = "APIServer pid=1"


def _ts() -> str:
    return datetime.now(UTC).strftime("%m-%d %H:%M:%S")


def engine_process(pod_uid: str) -> str:
    """The engine core's prefix: its PID differs per pod (it is a child of the API server), and is stable for
    one pod so that a pod's lines agree."""
    return f"EngineCore pid={90 + zlib.crc32(pod_uid.encode()) % 400}"


def vllm(level: str, where: str, message: str, process: str = API_SERVER) -> str:
    return f"({process}) {level} {_ts()} [{where}] {message}"


def prefixed(line: str, process: str = API_SERVER) -> str:
    """A line a vLLM process writes without vLLM's logger (uvicorn's, a traceback's tail, print)."""
    return f"({process}) {line}"


def vllm_args(pod: dict[str, Any]) -> dict[str, str]:
    args = pod["spec"]["containers"][0].get("args", [])
    pairs = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            if not value and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
            pairs[key.replace("-", "_")] = value or "True"
    return pairs


def _uid(pod: dict[str, Any]) -> str:
    return str(pod["metadata"].get("uid") or pod["metadata"]["name"])


def vllm_startup(pod: dict[str, Any], weights_gib: float, load_s: float) -> list[str]:
    a = vllm_args(pod)
    tp = int(a.get("tensor_parallel_size", "1"))
    engine = engine_process(_uid(pod))
    model = a.get("model", "")
    served = a.get("served_model_name", model)
    lines = [
        vllm("INFO", "utils.py:253", f"non-default args: {a!r}"),
        vllm("INFO", "api_server.py:1896", f"vLLM API server version {VLLM_VERSION}"),
        vllm("INFO", "model.py:547", "Resolved architecture: LlamaForCausalLM"),
        vllm("INFO", "core.py:93", f"Initializing a V1 LLM engine (v{VLLM_VERSION}) with config: model='{model}', "
             f"tensor_parallel_size={tp}, max_seq_len={a.get('max_model_len')}, served_model_name={served}, "
             "enable_prefix_caching=True", engine),
    ]
    if tp > 1:
        lines += [vllm("INFO", "parallel_state.py:1208",
                       f"rank {r} in world size {tp} is assigned as DP rank 0, PP rank 0, TP rank {r}, EP rank {r}",
                       f"Worker_TP{r} pid={int(engine.rsplit('=', 1)[1]) + 60 + r}") for r in range(tp)]
    lines += [
        vllm("INFO", "gpu_model_runner.py:3338", f"Starting to load model {model}...", engine),
        vllm("INFO", "default_loader.py:267", f"Loading weights took {load_s * 0.7:.2f} seconds", engine),
        vllm("INFO", "gpu_model_runner.py:3420",
             f"Model loading took {weights_gib / tp:.4f} GiB and {load_s * 0.75:.6f} seconds", engine),
        vllm("INFO", "kv_cache_utils.py:1229",
             f"GPU KV cache size: {int(420_000 / max(1.0, weights_gib / 40)):,} tokens", engine),
        vllm("INFO", "gpu_model_runner.py:4337", "Graph capturing finished in 19 secs, took 1.45 GiB", engine),
        vllm("INFO", "core.py:246", f"init engine (profile, create kv cache, warmup model) took {load_s * 0.2:.2f} "
             "seconds", engine),
    ]
    return lines


def vllm_ready() -> list[str]:
    return [vllm("INFO", "api_server.py:1634", "Starting vLLM API server 0 on http://0.0.0.0:8000"),
            *[prefixed(line) for line in ("INFO:     Started server process [1]",
                                          "INFO:     Waiting for application startup.",
                                          "INFO:     Application startup complete.")]]


def uvicorn_shutdown(process: str | None = None) -> list[str]:
    lines = ["INFO:     Shutting down", "INFO:     Waiting for application shutdown.",
             "INFO:     Application shutdown complete.", "INFO:     Finished server process [1]"]
    return [prefixed(line, process) for line in lines] if process else lines


def access(client: str, method: str, path: str, code: int) -> str:
    """uvicorn's access line, written by the API server once it answers (so never for a request it did not)."""
    phrase = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(code, "")
    return prefixed(f'INFO:     {client} - "{method} {path} HTTP/1.1" {code} {phrase}')


def engine_stats(prompt_tps: float, gen_tps: float, running: int, waiting: int, kv: float) -> str:
    """`LoggingStatLogger.log` (vllm/v1/metrics/loggers.py), logged by the API server's output handler."""
    return vllm("INFO", "loggers.py:271", f"Engine 000: Avg prompt throughput: {prompt_tps:.1f} tokens/s, "
                f"Avg generation throughput: {gen_tps:.1f} tokens/s, Running: {running} reqs, Waiting: {waiting} "
                f"reqs, GPU KV cache usage: {kv * 100:.1f}%, Prefix cache hit rate: 38.6%")


def _engine_traceback(pod: dict[str, Any], frames: list[tuple[str, int, str]], error: str) -> list[str]:
    """EngineCore dies of an exception in its busy loop; the API server's output handler then raises
    EngineDeadError, and the launcher's watchdog stops uvicorn (vllm/entrypoints/launcher.py
    `terminate_if_errored`): the process exits 0 unless VLLM_KEEP_ALIVE_ON_ENGINE_DEATH is set
    (vllm-project/vllm#48966)."""
    engine = engine_process(_uid(pod))
    head = [vllm("ERROR", "core.py:1108", "EngineCore encountered a fatal error.", engine),
            vllm("ERROR", "core.py:1108", "Traceback (most recent call last):", engine)]
    body = [vllm("ERROR", "core.py:1108", f'  File "{SITE}/vllm/{path}", line {line}, in {func}', engine)
            for path, line, func in frames]
    tail = [*(vllm("ERROR", "core.py:1108", part, engine) for part in error.split("\n")),
            vllm("ERROR", "async_llm.py:693", "AsyncLLM output_handler failed."),
            vllm("ERROR", "async_llm.py:693", "Traceback (most recent call last):"),
            vllm("ERROR", "async_llm.py:693", f'  File "{SITE}/vllm/v1/engine/async_llm.py", line 649, in '
                 "output_handler"),
            vllm("ERROR", "async_llm.py:693", "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered "
                 "an issue. See stack trace (above) for the root cause."),
            *uvicorn_shutdown(API_SERVER)]
    return head + body + tail


_STEP = [("v1/engine/core.py", 1099, "run_engine_core"), ("v1/engine/core.py", 1140, "run_busy_loop"),
         ("v1/engine/core.py", 438, "step"), ("v1/executor/abstract.py", 109, "execute_model"),
         ("v1/worker/gpu_model_runner.py", 3012, "execute_model")]


def cuda_device_error(pod: dict[str, Any], gpu_index: int) -> list[str]:
    return _engine_traceback(pod, _STEP, "RuntimeError: CUDA error: unspecified launch failure\n"
                             "CUDA kernel errors might be asynchronously reported at some other API call, so the "
                             "stacktrace below might be incorrect.\nFor debugging consider passing "
                             f"CUDA_LAUNCH_BLOCKING=1 (device {gpu_index})")


def _startup_failure(pod: dict[str, Any], frame: tuple[str, int, str], error: str) -> list[str]:
    """EngineCore fails in its constructor: the API server raises and `vllm serve` exits 1."""
    engine = engine_process(_uid(pod))
    path, line, func = frame
    return [vllm("ERROR", "core.py:1108", "EngineCore failed to start.", engine),
            vllm("ERROR", "core.py:1108", "Traceback (most recent call last):", engine),
            vllm("ERROR", "core.py:1108", f'  File "{SITE}/vllm/{path}", line {line}, in {func}', engine),
            vllm("ERROR", "core.py:1108", error, engine),
            prefixed("RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): "
                     "{}")]


def cuda_unavailable_at_start(pod: dict[str, Any]) -> list[str]:
    return _startup_failure(pod, ("v1/worker/gpu_worker.py", 227, "init_device"),
                            "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable")


def free_memory_below_utilization(pod: dict[str, Any], free_gib: float, total_gib: float,
                                  utilization: float) -> list[str]:
    """vllm/v1/worker/gpu_worker.py `init_device`: the GPU has less free memory at start than the share asked."""
    return _startup_failure(pod, ("v1/worker/gpu_worker.py", 245, "init_device"),
                            f"ValueError: Free memory on device cuda:0 ({free_gib:.2f}/{total_gib:.2f} GiB) on "
                            f"startup is less than desired GPU memory utilization ({utilization}, "
                            f"{utilization * total_gib:.2f} GiB). Decrease GPU memory utilization or reduce GPU "
                            "memory used by other processes.")


def cuda_out_of_memory(pod: dict[str, Any], total_gib: float, free_gib: float) -> list[str]:
    frames = [*_STEP, ("v1/sample/sampler.py", 96, "forward")]
    return _engine_traceback(pod, frames, f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. "
                             f"GPU 0 has a total capacity of {total_gib:.2f} GiB of which {free_gib:.2f} GiB is free. "
                             f"Process 1 has {total_gib - free_gib:.2f} GiB memory in use. Of the allocated memory "
                             f"{total_gib - free_gib - 1.9:.2f} GiB is allocated by PyTorch, and 1.87 GiB is reserved "
                             "by PyTorch but unallocated.")


def engine_crash_on_request(pod: dict[str, Any]) -> list[str]:
    frames = [*_STEP, ("v1/worker/gpu_model_runner.py", 1484, "_prepare_inputs")]
    return _engine_traceback(pod, frames, "IndexError: index 8192 is out of bounds for dimension 0 with size 8192")


def generation_error(request_id: str) -> str:
    """A request the engine finished with finish_reason "error": the serving layer logs this one line (no
    traceback unless --log-error-stack) and answers 500 {"type": "InternalServerError"}
    (vllm/entrypoints/openai/engine/serving.py `_raise_if_error`, `GenerationError`)."""
    return vllm("ERROR", "serving.py:562", f"Request {request_id} failed with an internal error during generation")


def device_plugin_xid(xid: int, uuid: str) -> str:
    """k8s-device-plugin v0.18.0-v0.20.0 internal/rm/health.go:169 (klog); Device is the device ID, its UUID."""
    stamp = datetime.now(UTC).strftime("%m%d %H:%M:%S.%f")
    return (f"I{stamp}       1 health.go:169] XidCriticalError: Xid={xid} on Device={uuid}; marking device as "
            "unhealthy.")


def device_plugin_startup(gpus: int) -> list[str]:
    stamp = datetime.now(UTC).strftime("%m%d %H:%M:%S.%f")
    return [f"I{stamp}       1 main.go:235] Starting NVIDIA Device Plugin version v0.20.0",
            f"I{stamp}       1 server.go:176] Starting GRPC server for 'nvidia.com/gpu'",
            f"I{stamp}       1 server.go:138] Registered device plugin for 'nvidia.com/gpu' with Kubelet ({gpus} "
            "devices)"]


def dcgm_exporter_startup() -> list[str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [f'time="{stamp}" level=info msg="Starting dcgm-exporter" Version=4.5.3-4.8.2',
            f'time="{stamp}" level=info msg="DCGM successfully initialized!"',
            f'time="{stamp}" level=info msg="Collecting DCP Metrics"',
            f'time="{stamp}" level=info msg="Kubernetes metrics collection enabled!"',
            f'time="{stamp}" level=info msg="Starting webserver"']


def service_startup(name: str) -> list[str]:
    return [f'{{"level":"info","ts":"{datetime.now(UTC).isoformat()}","msg":"starting {name}","port":8080}}',
            "INFO:     Application startup complete."]
