"""hung-pod's progress query, run by the real promtool over series named and labelled as vLLM exports them
(tests/fixtures/real/vllm/metrics.prom) plus the `pod` and `namespace` labels a PodMonitor's scrape adds, under
the Hugging Face id vLLM serves by default: a wedged engine's frozen counter reads as no progress with requests
running, its siblings as progress, and an idle pod not at all."""

from __future__ import annotations

from pathlib import Path

from agent.diagnose.runbooks import IncidentContext
from tests.signals import RUNBOOKS
from tests.slo.promtool import promtool_test

SERVED = "meta-llama/Llama-3.3-70B-Instruct"
REAL_PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "vllm" / "metrics.prom"


def progress_query() -> str:
    runbook = RUNBOOKS.get("hung-pod")
    assert runbook is not None
    incident = IncidentContext(model="llama-70b", served_model=SERVED, rate_window="2m")
    return str(runbook.calls(incident)["progress"].args["promql"])


def series(name: str, pod: str, values: str) -> dict[str, str]:
    labels = f'engine="0",model_name="{SERVED}",namespace="inference",pod="{pod}"'
    return {"series": f"{name}{{{labels}}}", "values": values}


def test_the_query_reads_the_names_vllm_exports() -> None:
    page = REAL_PAGE.read_text()
    for name in ("vllm:generation_tokens_total{", "vllm:num_requests_running{", f'model_name="{SERVED}"'):
        assert name in page and name.rstrip("{") in progress_query()


def test_a_frozen_engine_shows_no_progress_beside_siblings_that_generate(tmp_path: Path) -> None:
    tokens, running = "vllm:generation_tokens_total", "vllm:num_requests_running"
    promtool_test(tmp_path, "groups: []\n", [{
        "interval": "1m",
        "input_series": [
            series(tokens, "llama-70b-7f9c-0", "0+600x10"), series(running, "llama-70b-7f9c-0", "12x10"),
            series(tokens, "llama-70b-7f9c-1", "5000x10"), series(running, "llama-70b-7f9c-1", "12x10"),  # wedged
            series(tokens, "llama-70b-7f9c-2", "0+500x10"), series(running, "llama-70b-7f9c-2", "9x10"),
            series(tokens, "llama-70b-7f9c-3", "800x10"), series(running, "llama-70b-7f9c-3", "0x10"),  # idle
        ],
        "promql_expr_test": [{"expr": progress_query(), "eval_time": "10m", "exp_samples": [
            {"labels": '{pod="llama-70b-7f9c-0"}', "value": 1200},
            {"labels": '{pod="llama-70b-7f9c-1"}', "value": 0},
            {"labels": '{pod="llama-70b-7f9c-2"}', "value": 1000},
        ]}],
    }], evaluation_interval="1m")
