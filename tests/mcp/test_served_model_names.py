"""vLLM labels a model's series with its served model name, which is the --model value (a Hugging Face id) unless
--served-model-name is given. On a fleet started without it (profile `hf-model-names`), the runbooks' vLLM
evidence finds the model's pods only when the tools are told the name (`served_model_names`), as the agent's
investigate step resolves it through the prometheus server's `served_model_name`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.diagnose.runbooks import IncidentContext, load_runbook
from agent.tools import ToolClient
from harness.sandbox_run import RunningSandbox
from tests.mcp.conftest import client_factory

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
LLAMA_HF = "meta-llama/Llama-3.3-70B-Instruct"
# The runbooks' evidence calls that select vLLM series by the model: (runbook, call id).
VLLM_CALLS = [("hung-pod", "progress"), ("traffic-surge", "waiting")]


@pytest.fixture(scope="module")
def hf_fleet() -> Iterator[RunningSandbox]:
    with RunningSandbox(profile="hf-model-names") as sandbox:
        sandbox.wait_for_first_scrapes()
        yield sandbox


async def _vllm_evidence(sandbox: RunningSandbox, **overrides: object) -> tuple[str, dict[str, Any]]:
    """The served name the tools give llama-70b, and each vLLM evidence call's pods, made as investigate makes them."""
    async with ToolClient(client_factory(sandbox)("all", **overrides)) as tools:
        served = (await tools.call("served_model_name", {"deployment": "llama-70b"})).data["model_name"]
        incident = IncidentContext(model="llama-70b", slo="availability", served_model=served)
        pods = {}
        for runbook, call_id in VLLM_CALLS:
            call = load_runbook(RUNBOOKS / f"{runbook}.md").calls(incident)[call_id]
            result = await tools.call(call.tool, call.args)
            assert result.ok, result.error
            pods[runbook] = sorted(s["labels"]["pod"] for s in result.data["series"]["items"])
    return served, pods


async def test_with_the_name_configured_the_vllm_evidence_finds_every_pod_of_the_model(
        hf_fleet: RunningSandbox) -> None:
    served, pods = await _vllm_evidence(hf_fleet)  # the harness configures the tools as the fleet's operator would
    for _ in range(10):  # hung-pod's query keeps the pods with requests running at that instant: a lull has none
        if pods["hung-pod"]:
            break
        await anyio.sleep(1)
        served, pods = await _vllm_evidence(hf_fleet)

    assert served == LLAMA_HF
    assert len(pods["traffic-surge"]) == 4 and all(p.startswith("llama-70b-") for p in pods["traffic-surge"])
    assert pods["hung-pod"] and set(pods["hung-pod"]) <= set(pods["traffic-surge"])


async def test_without_it_the_deployment_name_selects_nothing(hf_fleet: RunningSandbox) -> None:
    served, pods = await _vllm_evidence(hf_fleet, served_model_names={})

    assert served == "llama-70b"
    assert pods == {"hung-pod": [], "traffic-surge": []}

