"""The size of a "what is wrong with this pod" answer: ours (`describe_pod`) against what a person or a model would
otherwise read (`kubectl describe pod` + `kubectl logs --previous --tail=100`), and the kubernetes peer's three calls
(`pods_get` + `pods_log` previous + `events_list`), with a check that ours lost nothing essential.

Run from bench/mcp_latency.py, on its sandbox and sessions. The fault is Xid 79 on gpu-node-2 GPU 1: it takes
the GPU off the node, so llama-70b replica 1 (GPUs 0-1 there) crash-loops with a CUDA error, exit code 1, a
growing restart count and BackOff warnings: every field of the checklist is there to be lost.

No tokenizer package is needed: tokens are estimated three ways, all printed. `pretokens` (the verdict's) counts
the pieces of GPT-4's cl100k pre-tokenizer pattern, re-written for `re`: BPE never merges across pieces, so it
is a lower bound that real counts exceed mostly on long rare words (hashes, UUIDs), and it treats JSON's `":"`
and kubectl's column padding the way BPE does. `chars/4` is the usual rule of thumb; it flatters padded text.
`word pieces` (`\\w+|[^\\w\\s]`, every punctuation character one token) is harsh on JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

from mcp import ClientSession

from harness.sandbox_run import RunningSandbox

NAMESPACE = "inference"
FAULT = {"kind": "gpu_xid", "at_s": 0, "target": {"node": "gpu-node-2", "gpu": 1}, "params": {"xid": 79}}
NODE = "gpu-node-2"
DEPLOYMENT = "llama-70b"
CRASH_TIMEOUT_S = 120
EXCEPTION = re.compile(r"\b\w+(?:Error|Exception): .*")  # "RuntimeError: CUDA error: ..." without the log prefix
WORD_PIECE = re.compile(r"\w+|[^\w\s]")
# cl100k: \p{L} is [^\W\d_], \p{N} is \d, and "neither letter, digit nor space" is (?:[^\s\w]|_)
PRETOKEN = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}| ?(?:[^\s\w]|_)+[\r\n]*"
                      r"|\s*[\r\n]+|\s+(?!\S)|\s+")
ESTIMATES = ("pretokens", "chars_div_4", "word_pieces")


def tokens(text: str) -> dict[str, int]:
    return {"chars": len(text), "pretokens": len(PRETOKEN.findall(text)), "chars_div_4": round(len(text) / 4),
            "word_pieces": len(WORD_PIECE.findall(text))}


def kubectl(sandbox: RunningSandbox, *args: str) -> str:
    done = subprocess.run(["kubectl", *args], env={**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)},
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _crashed_pod(sandbox: RunningSandbox) -> dict[str, Any] | None:
    pods = json.loads(kubectl(sandbox, "get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
    for pod in pods:
        if pod["spec"].get("nodeName") != NODE or not pod["metadata"]["name"].startswith(DEPLOYMENT):
            continue
        container = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        if container.get("restartCount", 0) >= 1 and (container.get("lastState") or {}).get("terminated"):
            return pod
    return None


def _warnings(sandbox: RunningSandbox, pod: str) -> set[str]:
    events = json.loads(kubectl(sandbox, "get", "events", "-n", NAMESPACE, "-o", "json",
                                "--field-selector", f"involvedObject.name={pod}"))["items"]
    return {e["reason"] for e in events if e.get("type") == "Warning"}


def wait_for_crash(sandbox: RunningSandbox) -> str:
    """The name of the llama-70b pod on gpu-node-2 once it has crashed and been warned about."""
    deadline = time.monotonic() + CRASH_TIMEOUT_S
    while time.monotonic() < deadline:
        pod = _crashed_pod(sandbox)
        if pod is not None and _warnings(sandbox, pod["metadata"]["name"]):
            return str(pod["metadata"]["name"])
        time.sleep(1)
    raise RuntimeError(f"no {DEPLOYMENT} pod on {NODE} crashed within {CRASH_TIMEOUT_S} s of the Xid")


def _truth(sandbox: RunningSandbox, pod: str) -> dict[str, Any]:
    raw = json.loads(kubectl(sandbox, "get", "pod", pod, "-n", NAMESPACE, "-o", "json"))
    container = raw["status"]["containerStatuses"][0]
    ended = container["lastState"]["terminated"]
    return {"reason": ended["reason"], "exit_code": ended["exitCode"], "restarts": container["restartCount"],
            "node": raw["spec"]["nodeName"]}


async def _text(session: ClientSession, tool: str, arguments: dict[str, Any]) -> str:
    result = await session.call_tool(tool, arguments)
    text = "".join(getattr(block, "text", "") for block in getattr(result, "content", []) or [])
    if getattr(result, "is_error", False):
        raise RuntimeError(f"{tool} failed: {text[:500]}")
    return text


def checklist(answer: dict[str, Any], before: dict[str, Any], after: dict[str, Any], raw_log: str,
              warnings: set[str]) -> dict[str, bool]:
    """What a diagnosis needs, read from the API itself, against our answer. The pod keeps crash-looping, so the
    restart count may move between the reads: ours must lie between the counts read before and after it."""
    endings = [c.get("last_termination") or {} for c in answer["containers"]]
    restarts = sum(c["restarts"] for c in answer["containers"])
    tail = "\n".join(answer["previous_log_tail"])
    key_lines = {m.group(0) for m in map(EXCEPTION.search, raw_log.splitlines()) if m}
    ours_warnings = {e["reason"] for e in answer["events"]["items"] if e["type"] == "Warning"}
    return {
        f"termination reason ({before['reason']})": any(e.get("reason") == before["reason"] for e in endings),
        f"exit code ({before['exit_code']})": any(e.get("exit_code") == before["exit_code"] for e in endings),
        f"restart count ({before['restarts']}..{after['restarts']})":
            before["restarts"] <= restarts <= after["restarts"],
        f"node ({before['node']})": answer["node"] == before["node"],
        f"key error log lines ({len(key_lines)})": bool(key_lines) and all(line in tail for line in key_lines),
        f"warning events ({', '.join(sorted(warnings))})": bool(warnings) and warnings <= ours_warnings,
    }


async def measure_answer_size(sandbox: RunningSandbox, ours: ClientSession, peer: ClientSession,
                              progress: Callable[[str], None]) -> dict[str, Any]:
    sandbox.inject([FAULT])
    pod = wait_for_crash(sandbox)
    progress(f"answer size: {pod} crashed; reading it three ways")
    before = _truth(sandbox, pod)
    answer_text = await _text(ours, "describe_pod", {"name": pod, "namespace": NAMESPACE})
    after = _truth(sandbox, pod)
    describe = kubectl(sandbox, "describe", "pod", pod, "-n", NAMESPACE)
    logs = kubectl(sandbox, "logs", pod, "-n", NAMESPACE, "--previous", "--tail=100")
    peer_text = "\n".join([
        await _text(peer, "pods_get", {"name": pod, "namespace": NAMESPACE}),
        await _text(peer, "pods_log", {"name": pod, "namespace": NAMESPACE, "previous": True, "tail": 100}),
        await _text(peer, "events_list", {"namespace": NAMESPACE, "fieldSelector": f"involvedObject.name={pod}"}),
    ])
    checks = checklist(json.loads(answer_text), before, after, logs, _warnings(sandbox, pod))
    ours_size, raw_size, peer_size = tokens(answer_text), tokens(describe + logs), tokens(peer_text)
    return {"pod": pod, "fault": FAULT, "ours": ours_size, "raw_kubectl": raw_size, "peer": peer_size,
            "ratio": {e: round(ours_size[e] / raw_size[e], 2) for e in ESTIMATES},
            "checklist": checks, "nothing_essential_lost": all(checks.values()),
            "texts": {"ours": answer_text, "raw_kubectl": describe + logs, "peer": peer_text}}


def print_answer_size(result: dict[str, Any]) -> None:
    print(f"\n\"What is wrong with this pod\" ({result['pod']}, after Xid 79 on gpu-node-2 GPU 1)")
    print(f"{'answer':<58}{'chars':>7}{'pretokens':>11}{'chars/4':>9}{'word pieces':>13}")
    rows = (("ours: describe_pod (1 call)", result["ours"]),
            ("raw: kubectl describe pod + logs --previous --tail=100", result["raw_kubectl"]),
            ("peer: pods_get + pods_log previous + events_list", result["peer"]))
    for label, size in rows:
        print(f"{label:<58}{size['chars']:>7}{size['pretokens']:>11}{size['chars_div_4']:>9}{size['word_pieces']:>13}")
    ratio = result["ratio"]
    print(f"ours / raw: {ratio['pretokens']:.2f} pretokens, {ratio['chars_div_4']:.2f} chars/4, "
          f"{ratio['word_pieces']:.2f} word pieces; target <= 0.50 (pretokens): "
          f"{'met' if ratio['pretokens'] <= 0.5 else 'NOT met'}")
    for item, ok in result["checklist"].items():
        print(f"  [{'x' if ok else ' '}] {item}")
    print(f"nothing essential lost: {'yes' if result['nothing_essential_lost'] else 'NO'}")
