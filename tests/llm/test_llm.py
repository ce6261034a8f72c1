"""The Claude path of diagnose: the real `anthropic` SDK over real HTTP against a scripted Messages API, and the
fleet's tools through ToolClient over a tiny in-memory MCP server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from fake_anthropic import FakeAnthropic, Reply, error, message, text, tool_use
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from agent.diagnose.diagnosis import Diagnosis, diagnose
from agent.diagnose.llm import SUBMIT, ClaudeDiagnoser, LlmUsage, build_claude_diagnoser
from agent.diagnose.runbooks import READ_TOOLS, IncidentContext, RunbookSet, load_runbook
from agent.tools import ToolClient
from mcp_servers.compose import build
from mcp_servers.settings import Settings

XID = load_runbook(Path(__file__).resolve().parents[1] / "runbooks" / "fixtures" / "gpu-xid.md")
RUNBOOKS = RunbookSet(runbooks=[XID])
LLAMA = IncidentContext(model="llama-70b", slo="availability", alert="SLOAvailabilityBurn")

GPUS = {"total": 1, "gpus": {"items": [
    {"node": "gpu-node-2", "gpu": 1, "xid": 79, "xid_meaning": "GPU has fallen off the bus",
     "pods": [{"name": "llama-70b-7f9c-1", "namespace": "inference"}]},
], "total": 1, "truncated": False}}
PODS = {"total": 2, "unhealthy": 1, "pods": {"total": 2, "items": [
    {"name": "llama-70b-7f9c-0", "node": "gpu-node-1", "status": "Running", "ready": "1/1", "restarts": 0},
    {"name": "llama-70b-7f9c-1", "node": "gpu-node-2", "status": "CrashLoopBackOff", "ready": "0/1", "restarts": 3},
]}}
NODES = {"total": 2, "nodes": [{"name": f"gpu-node-{i}", "ready": True, "cordoned": False} for i in (1, 2)]}
EVIDENCE = {"unhealthy_gpus()": GPUS, 'list_pods(deployment="llama-70b", namespace="inference")': PODS,
            "list_nodes()": NODES}
OFFLINE = diagnose(RUNBOOKS.runbooks, LLAMA, EVIDENCE, burning=True)

VALID = {"root_cause": "gpu_xid", "component": "node/gpu-node-2", "confidence": 0.9,
         "evidence": ["gpu-node-2 GPU 1 reports Xid 79 under llama-70b-7f9c-1"], "runbook": "gpu-xid",
         "remediation": ["cordon_node", "delete_pod"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fleet_server() -> tuple[FastMCP, list[str]]:
    """A few read tools and one write tool, which Claude must never be offered; `writes` records its calls."""
    mcp = FastMCP("tiny-fleet")
    writes: list[str] = []

    @mcp.tool
    def unhealthy_gpus() -> dict[str, Any]:
        return GPUS

    @mcp.tool
    def list_pods(deployment: str, namespace: str = "inference") -> dict[str, Any]:
        return PODS

    @mcp.tool
    def describe_node(name: str) -> dict[str, Any]:
        raise ToolError(f"node {name} not found")

    @mcp.tool
    def cordon_node(name: str) -> dict[str, Any]:
        writes.append(name)
        return {"cordoned": name}

    return mcp, writes


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[ToolClient, list[str]]]:
    server, writes = fleet_server()
    async with ToolClient(Client(server)) as tools:
        yield tools, writes


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic([]) as fake:
        yield fake


async def run(api: FakeAnthropic, tools: ToolClient, script: list[Reply], *, max_turns: int = 8,
              burning: bool = True) -> tuple[Diagnosis, LlmUsage]:
    api.script[:] = script
    client = anthropic.AsyncAnthropic(api_key="test-key", base_url=api.url, max_retries=0)
    diagnoser = ClaudeDiagnoser(client, model="claude-test", max_turns=max_turns, max_tokens=1024)
    return await diagnoser.diagnose(LLAMA, RUNBOOKS, tools, OFFLINE, burning=burning)


def submit(tool_input: Any, **usage: int) -> Reply:
    return message(tool_use(SUBMIT, tool_input), **usage)


def last_user_blocks(request: dict[str, Any]) -> list[dict[str, Any]]:
    last = request["messages"][-1]
    assert last["role"] == "user"
    return last["content"]


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in last_user_blocks(request) if b["type"] == "tool_result"]


def fell_back(diagnosis: Diagnosis, *reason: str) -> bool:
    """The offline diagnosis unchanged but for one problem line that says why Claude's was not used."""
    added = diagnosis.problems[len(OFFLINE.problems):]
    return (diagnosis.model_copy(update={"problems": OFFLINE.problems}) == OFFLINE and len(added) == 1
            and added[0].startswith("Claude's diagnosis not used") and all(word in added[0] for word in reason))


pytestmark = pytest.mark.anyio


async def test_happy_path_reads_the_fleet_then_submits_and_maps_onto_the_runbooks_plan(api, fleet) -> None:
    tools, writes = fleet
    call = tool_use("unhealthy_gpus", {})
    thinking = {"type": "thinking", "thinking": "An availability burn: GPUs first.", "signature": "sig-1"}
    turn = [thinking, text("Checking GPU health first."), call]
    diagnosis, usage = await run(api, tools, [
        message(*turn, input_tokens=1200, output_tokens=40),
        submit(VALID, input_tokens=1500, output_tokens=90),
    ])

    assert (diagnosis.outcome, diagnosis.root_cause, diagnosis.component) == ("diagnosed", "gpu_xid", "node/gpu-node-2")
    assert diagnosis.confidence == 0.9
    assert diagnosis.evidence[0] == VALID["evidence"][0]
    top = diagnosis.top
    assert top is not None and top.runbook == "gpu-xid"
    assert [(a.action, a.target) for a in top.remediation] == [
        ("cordon_node", "node/gpu-node-2"), ("delete_pod", "pod/llama-70b-7f9c-1")]
    assert top.remediation == OFFLINE.hypotheses[0].remediation  # the runbook's own filled plan, untouched
    assert usage == LlmUsage(calls=2, input_tokens=2700, output_tokens=130)
    assert tools.calls == 1 and writes == []

    first, second = api.requests
    offered = {t["name"] for t in first["tools"]}
    assert offered == {"unhealthy_gpus", "list_pods", "describe_node", SUBMIT}
    assert offered - {SUBMIT} <= READ_TOOLS
    assert first["model"] == "claude-test" and "tool_choice" not in first  # forced choice is a 400 on new models
    assert "gpu-xid" in first["system"][0]["text"] and "outcome diagnosed" in first["system"][0]["text"]
    assert "llama-70b" in first["messages"][0]["content"][0]["text"]
    sent = api.headers[0]
    assert "test-key" in {sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer ")}
    assert second["messages"][1] == {"role": "assistant", "content": turn}  # thinking included, unchanged
    [result] = tool_results(second)
    assert result["tool_use_id"] == call["id"] and result["is_error"] is False
    assert '"xid": 79' in result["content"]


async def test_over_the_real_servers_only_the_read_tools_are_offered(api) -> None:
    server = build("all", Settings.load(env={}))  # listing tools reaches no backend
    async with ToolClient(Client(server)) as tools:
        await run(api, tools, [submit(VALID)])
        writes = {name for name in tools.names if name not in READ_TOOLS}

    offered = {t["name"] for t in api.requests[0]["tools"]}
    assert offered == READ_TOOLS | {SUBMIT}
    assert {"cordon_node", "scale_deployment", "set_route_weights"} <= writes
    list_pods = next(t for t in api.requests[0]["tools"] if t["name"] == "list_pods")
    assert list_pods["input_schema"]["properties"]["deployment"]  # the server's own schema


async def test_a_malformed_submit_is_answered_with_an_error_result_and_corrected_once(api, fleet) -> None:
    tools, _ = fleet
    bad = tool_use(SUBMIT, {**VALID, "component": "gpu-node-2"})
    diagnosis, usage = await run(api, tools, [message(bad), submit(VALID)])

    assert diagnosis.outcome == "diagnosed" and diagnosis.component == "node/gpu-node-2"
    assert usage.calls == 2
    retry = api.requests[1]
    [result] = tool_results(retry)
    assert result["tool_use_id"] == bad["id"] and result["is_error"] is True
    assert "component" in result["content"]
    assert last_user_blocks(retry)[-1]["text"].startswith(f"Not accepted: the {SUBMIT} input is invalid")


@pytest.mark.parametrize("bad_input", [
    "{'root_cause': 'gpu_xid', ",  # not a JSON object
    {**VALID, "root_cause": "cosmic_rays"},  # not in the vocabulary
    {**VALID, "runbook": "reboot-everything"},  # no such runbook
    {**VALID, "root_cause": "hung_pod"},  # the runbook is for another root cause
    {**VALID, "evidence": ["x" * 5000]},  # over-long
])
async def test_malformed_twice_falls_back_to_the_offline_diagnosis_with_the_reason(api, fleet, bad_input) -> None:
    tools, _ = fleet
    diagnosis, usage = await run(api, tools, [submit(bad_input), submit(bad_input)])

    assert fell_back(diagnosis, "after one corrective retry")
    assert usage.calls == 2 and len(api.requests) == 2
    [echoed] = api.requests[1]["messages"][1]["content"]
    assert isinstance(echoed["input"], dict)  # the API takes only objects back


async def test_output_cut_at_max_tokens_is_dropped_and_asked_again(api, fleet) -> None:
    tools, _ = fleet
    cut = message(text("Let me explain at length " + "very " * 50), tool_use(SUBMIT, {"root_cause": "gpu"}),
                  stop_reason="max_tokens")
    diagnosis, _ = await run(api, tools, [cut, submit(VALID)])

    assert diagnosis.outcome == "diagnosed"
    retry = api.requests[1]
    assert [m["role"] for m in retry["messages"]] == ["user"]  # the cut turn is not echoed back
    assert "max_tokens" in last_user_blocks(retry)[-1]["text"]


async def test_output_cut_at_max_tokens_twice_falls_back(api, fleet) -> None:
    tools, _ = fleet
    cut = message(text("…"), stop_reason="max_tokens")
    diagnosis, usage = await run(api, tools, [cut, cut])

    assert fell_back(diagnosis, "max_tokens")
    assert usage.calls == 2


async def test_an_invented_action_kind_never_reaches_the_plan(api, fleet) -> None:
    tools, _ = fleet
    invented = {**VALID, "remediation": ["reboot_gpu"]}
    unplanned = {**VALID, "remediation": ["scale_deployment", "cordon_node"]}
    diagnosis, _ = await run(api, tools, [submit(invented), submit(unplanned)])

    assert "remediation" in tool_results(api.requests[1])[0]["content"]  # the invented kind was rejected
    actions = {a.action for h in diagnosis.hypotheses for a in h.remediation}
    assert actions == {"cordon_node", "delete_pod"}
    assert any("ignored Claude's remediation scale_deployment" in p for p in diagnosis.problems)


async def test_text_without_a_submit_is_corrected_then_falls_back(api, fleet) -> None:
    tools, _ = fleet
    diagnosis, _ = await run(api, tools, [message(text("It is probably the GPU.")), message(text("Really."))])

    assert fell_back(diagnosis, f"without calling {SUBMIT}")
    assert "Not accepted" in last_user_blocks(api.requests[1])[-1]["text"]


async def test_running_out_of_turns_answers_pending_calls_and_asks_for_a_submit(api, fleet) -> None:
    tools, _ = fleet
    pending = tool_use("list_pods", {"deployment": "llama-70b"})
    diagnosis, usage = await run(api, tools, [
        message(tool_use("unhealthy_gpus", {})), message(pending), submit(VALID),
    ], max_turns=2)

    assert diagnosis.outcome == "diagnosed" and usage.calls == 3
    assert tools.calls == 1  # the call asked for on the last turn was not run
    [result] = tool_results(api.requests[2])
    assert result["tool_use_id"] == pending["id"] and result["is_error"] is True
    assert result["content"].startswith("not run: no submit_diagnosis call within 2 turns")


async def test_tool_errors_and_tools_not_offered_come_back_as_error_results(api, fleet) -> None:
    tools, writes = fleet
    failing, write = tool_use("describe_node", {"name": "gpu-node-9"}), tool_use("cordon_node", {"name": "gpu-node-2"})
    diagnosis, _ = await run(api, tools, [message(failing, write), submit(VALID)])

    assert diagnosis.outcome == "diagnosed"
    failed, refused = tool_results(api.requests[1])
    assert failed["tool_use_id"] == failing["id"] and failed["is_error"] is True
    assert "node gpu-node-9 not found" in failed["content"]
    assert refused["tool_use_id"] == write["id"] and refused["is_error"] is True
    assert "not one of the tools offered" in refused["content"]
    assert writes == [] and tools.calls == 1


@pytest.mark.parametrize(("reply", "words"), [
    (error(500, "api_error", "Internal server error"), ["500"]),
    (error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit"), ["429"]),
    (error(529, "overloaded_error", "Overloaded"), ["529"]),
])
async def test_api_errors_fall_back_without_raising(api, fleet, reply, words) -> None:
    tools, _ = fleet
    diagnosis, usage = await run(api, tools, [reply])

    assert fell_back(diagnosis, *words)
    assert usage == LlmUsage()


async def test_an_api_error_mid_conversation_keeps_the_usage_spent_so_far(api, fleet) -> None:
    tools, _ = fleet
    diagnosis, usage = await run(api, tools, [message(tool_use("unhealthy_gpus", {}), input_tokens=7, output_tokens=3),
                                              error(500, "api_error", "boom")])

    assert fell_back(diagnosis, "500")
    assert usage == LlmUsage(calls=1, input_tokens=7, output_tokens=3)


async def test_an_unreachable_api_falls_back(fleet) -> None:
    tools, _ = fleet
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = anthropic.AsyncAnthropic(api_key="k", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    diagnosis, _ = await ClaudeDiagnoser(client).diagnose(LLAMA, RUNBOOKS, tools, OFFLINE, burning=True)

    assert fell_back(diagnosis, "cannot reach the Anthropic API")


async def test_nothing_burning_costs_no_call(api, fleet) -> None:
    tools, _ = fleet
    quiet = diagnose(RUNBOOKS.runbooks, LLAMA, EVIDENCE, burning=False)
    client = anthropic.AsyncAnthropic(api_key="k", base_url=api.url, max_retries=0)
    diagnosis, usage = await ClaudeDiagnoser(client).diagnose(LLAMA, RUNBOOKS, tools, quiet, burning=False)

    assert diagnosis == quiet and usage == LlmUsage() and api.requests == []


async def test_a_root_cause_without_a_runbook_gives_a_hypothesis_with_nothing_to_act_on(api, fleet) -> None:
    tools, _ = fleet
    latency = {"root_cause": "dependency_latency", "component": "dependency/tokenizer-service", "confidence": 0.8,
               "evidence": ["gateway upstream p99 to tokenizer-service is 2.4 s"]}
    diagnosis, _ = await run(api, tools, [submit(latency)])

    assert (diagnosis.outcome, diagnosis.root_cause) == ("diagnosed", "dependency_latency")
    top = diagnosis.top
    assert top is not None and top.runbook == "claude" and top.remediation == []
    assert "nothing to act on" in top.escalation.message
    assert [h.runbook for h in diagnosis.hypotheses] == ["claude", "gpu-xid"]  # offline's next in line


@pytest.mark.parametrize(("answer", "evidence_head"), [
    ({"root_cause": "unknown", "confidence": 0.2, "evidence": ["nothing in GPUs, pods or logs explains it"]},
     "nothing in GPUs, pods or logs explains it"),
    ({**VALID, "confidence": 0.3}, "Claude's best guess gpu_xid is below confidence 0.5"),
])
async def test_unknown_or_unsure_answers_are_unexplained(api, fleet, answer, evidence_head) -> None:
    tools, _ = fleet
    diagnosis, _ = await run(api, tools, [submit(answer)])

    assert (diagnosis.outcome, diagnosis.root_cause, diagnosis.top) == ("unexplained", "unknown", None)
    assert diagnosis.evidence[0] == evidence_head


def test_claude_is_built_only_with_an_api_key() -> None:
    assert build_claude_diagnoser({}) is None
    assert build_claude_diagnoser({"ANTHROPIC_API_KEY": ""}) is None
    diagnoser = build_claude_diagnoser({"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
                                        "FIREBREAK_CLAUDE_MODEL": "claude-opus-4-5"})
    assert diagnoser is not None and diagnoser.model == "claude-opus-4-5"
    assert str(diagnoser.client.base_url) == "http://127.0.0.1:9/"
    default = build_claude_diagnoser({"ANTHROPIC_API_KEY": "k"})
    assert default is not None and default.model == "claude-sonnet-5-5"
