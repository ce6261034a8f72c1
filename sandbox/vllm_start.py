"""How `vllm serve` fails before it serves: arguments it does not know, a model it cannot find, a SIGTERM while
it is still loading. The texts and exit statuses are what the real programs print and return.

- Unknown arguments: vLLM's `serve` subparser (usage "vllm serve [model_tag] [options]",
  vllm/entrypoints/cli/serve.py) is an argparse parser, so `parse_args` ends in `parser.error(...)`: the usage
  line, then "vllm serve: error: unrecognized arguments: ..." on stderr, and exit status 2 (CPython argparse).
  FlexibleArgumentParser accepts `--max_model_len` as `--max-model-len` (vllm/utils FlexibleArgumentParser).
- A model that is neither a local directory with a config nor a reachable Hugging Face repository:
  `get_config` (vllm/transformers_utils/config.py) raises ValueError "Invalid repository ID or local directory
  specified: ..."; nothing catches it, so Python prints the traceback and exits 1.
- A `VLLM_PORT` that is not a number: `get_vllm_port` (vllm/envs.py) raises ValueError when the engine reads it at
  start, "appears to be a URI" for a value with a scheme (what Kubernetes' service links give `VLLM_PORT` when the
  namespace has a Service named `vllm`: tcp://IP:PORT), "must be a valid integer" otherwise; exit 1.
- SIGTERM while loading (a liveness kill): the API server's handler "Interrupt server on sigterm while
  initializing" raises KeyboardInterrupt("terminated") (vllm/entrypoints/openai/api_server.py); an unhandled
  KeyboardInterrupt makes CPython exit through SIGINT, status 130 (Modules/main.c, exit_sigint).
"""

from __future__ import annotations

from urllib.parse import urlparse

ARGPARSE_EXIT, UNCAUGHT_EXIT, SIGINT_EXIT = 2, 1, 130
USAGE = "usage: vllm serve [model_tag] [options]"
CONSOLE_SCRIPT = '  File "/usr/local/bin/vllm", line 8, in <module>\n    sys.exit(main())'
SITE = "/usr/local/lib/python3.12/dist-packages/vllm"
# Options of `vllm serve` that take a value and switches that take none (vllm/engine/arg_utils.py and
# vllm/entrypoints/openai/cli_args.py); a subset, covering what the fleet and everyday changes use.
VALUE_OPTIONS = frozenset({
    "--model", "--served-model-name", "--tensor-parallel-size", "--pipeline-parallel-size",
    "--data-parallel-size", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs",
    "--max-num-batched-tokens", "--port", "--host", "--dtype", "--quantization", "--kv-cache-dtype",
    "--tokenizer", "--revision", "--download-dir", "--load-format", "--seed", "--swap-space",
    "--block-size", "--chat-template", "--uvicorn-log-level", "--api-key", "--tool-call-parser",
    "--reasoning-parser", "--limit-mm-per-prompt", "--max-logprobs", "--generation-config",
    "--override-generation-config", "--speculative-config", "--compilation-config", "--hf-overrides",
})
SWITCHES = frozenset({
    "--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
    "--no-enable-chunked-prefill", "--trust-remote-code", "--enforce-eager", "--disable-log-stats",
    "--disable-log-requests", "--enable-log-requests", "--enable-auto-tool-choice",
    "--disable-frontend-multiprocessing",
    "--disable-custom-all-reduce", "--disable-fastapi-docs", "--enable-prompt-tokens-details",
})


def unrecognized(args: list[str]) -> list[str]:
    """What argparse leaves over: unknown options, and positionals after the one `model_tag` takes."""
    extras, model_tag_taken, i = [], False, 0
    while i < len(args):
        token = args[i]
        if token.startswith("--"):
            option = token.split("=", 1)[0].replace("_", "-")
            if option in VALUE_OPTIONS:
                i += 1 if "=" in token else 2
                continue
            if option not in SWITCHES:
                extras.append(token)
        elif model_tag_taken:
            extras.append(token)
        else:
            model_tag_taken = True
        i += 1
    return extras


def usage_error(extras: list[str]) -> list[str]:
    return [USAGE, f"vllm serve: error: unrecognized arguments: {' '.join(extras)}"]


def model_not_found(model: str) -> list[str]:
    return ["Traceback (most recent call last):", *CONSOLE_SCRIPT.splitlines(),
            f'  File "{SITE}/transformers_utils/config.py", in get_config',
            "    raise ValueError(error_message) from e",
            f"ValueError: Invalid repository ID or local directory specified: '{model}'.",
            "Please verify the following requirements:",
            "1. Provide a valid Hugging Face repository ID.",
            "2. Specify a local directory that contains a recognized configuration file.",
            "   - For Hugging Face models: ensure the presence of a 'config.json'.",
            "   - For Mistral models: ensure the presence of a 'params.json'."]


def bad_vllm_port(value: str) -> list[str] | None:
    """vLLM's traceback for a `VLLM_PORT` it cannot use; None for a valid one."""
    try:
        int(value)
        return None
    except ValueError:
        pass
    message = (f"VLLM_PORT '{value}' appears to be a URI. This may be caused by a Kubernetes service discovery "
               "issue,check the warning in: https://docs.vllm.ai/en/stable/serving/env_vars.html"
               if urlparse(value).scheme else f"VLLM_PORT '{value}' must be a valid integer")
    return ["Traceback (most recent call last):", *CONSOLE_SCRIPT.splitlines(),
            f'  File "{SITE}/utils.py", in _get_open_port', "    port = envs.VLLM_PORT",
            f'  File "{SITE}/envs.py", in __getattr__', "    return environment_variables[name]()",
            f'  File "{SITE}/envs.py", in get_vllm_port', "    raise ValueError(", f"ValueError: {message}"]


def interrupted_while_loading() -> list[str]:
    return ["Traceback (most recent call last):", *CONSOLE_SCRIPT.splitlines(),
            f'  File "{SITE}/entrypoints/openai/api_server.py", in signal_handler',
            '    raise KeyboardInterrupt("terminated")',
            "KeyboardInterrupt: terminated"]
