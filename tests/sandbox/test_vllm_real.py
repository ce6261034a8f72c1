"""The sandbox's vLLM evidence against real vLLM output (tests/fixtures/real/vllm, see its README): the /metrics
page's families, types, label names and buckets; the log lines' prefixes and shapes. The logs tools' templates
and the runbooks' vLLM signals are tested on the real lines."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_servers.logs.templates import mask, mine
from sandbox import logtext
from tests.sandbox.fleet_under_test import Fleet, Samples

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "vllm"
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")
# the runbooks' patterns over vLLM logs (traffic-surge, bad-rollout, cuda-oom front matter)
NOT_UVICORN_INFO = re.compile(r"^(?!(\(\S+ pid=\S+\) )?INFO: )")
HTTP_5XX = re.compile(r'HTTP/1\.[01]" 5\d\d ')


def _lines(name: str) -> list[str]:
    return (REAL / name).read_text().splitlines()


def shape(text: str) -> dict[str, tuple[str, frozenset[frozenset[str]], frozenset[str]]]:
    """Per family (a counter named without `_total`; prometheus_client's `_created` gauges left out): its type,
    the label-name sets of its series (without `le`), and its bucket bounds."""
    types = {re.sub(r"_total$", "", m.group(1)) if m.group(2) == "counter" else m.group(1): m.group(2)
             for m in map(_TYPE.match, text.splitlines()) if m and not m.group(1).endswith("_created")}
    labels: dict[str, set[frozenset[str]]] = defaultdict(set)
    bounds: dict[str, set[str]] = defaultdict(set)
    for name, have, _ in Samples.parse(text).rows:
        family = next((f for f in (name, re.sub(r"_(total|bucket|sum|count)$", "", name)) if f in types), None)
        if family is None:  # a _created sample
            continue
        labels[family].add(frozenset(have) - {"le"})
        if "le" in have:
            bounds[family].add(str(float(have["le"])))
    return {f: (types[f], frozenset(labels[f]), frozenset(bounds[f])) for f in types}


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with Fleet() as f:
        f.run(20)
        yield f


def test_the_vllm_page_has_the_real_families_types_labels_and_buckets(fleet: Fleet) -> None:
    real = shape((REAL / "metrics.prom").read_text())
    pod = next(t["labels"]["pod"] for t in fleet.targets() if t["labels"].get("pod", "").startswith("qwen-7b-"))
    sandbox = shape(fleet.http.get(f"/metrics/pods/inference/{pod}").text)
    assert set(sandbox) == set(real) - {"vllm:iteration_tokens_total"}
    for family, (kind, label_sets, bounds) in sandbox.items():
        assert (kind, label_sets, bounds) == real[family], family


def test_the_sandbox_writes_vllms_lines_in_their_real_shapes() -> None:
    def shape_of(line: str) -> str:  # the masked line, with the source line number of the logger call left out
        return re.sub(r"\[(\w+\.py):\d+\]", r"[\1]", mask(line))
    real = {shape_of(line) for name in ("stats.log", "access.log", "generation-error.log", "engine-dead.log",
                                        "free-memory.log") for line in _lines(name)}
    pod = {"metadata": {"name": "qwen-7b-6c9f7d8b5-abcde", "uid": "u1"}, "spec": {"containers": [{"args": []}]}}
    written = [logtext.engine_stats(1843.2, 402.1, 12, 0, 0.31),
               logtext.access("10.244.1.17:51234", "POST", "/v1/chat/completions", 200),
               logtext.access("127.0.0.1:37932", "POST", "/v1/chat/completions", 500),
               logtext.generation_error("chatcmpl-8da6fc665494abe1"),
               *logtext.uvicorn_shutdown(logtext.API_SERVER),
               *[line for line in logtext.cuda_out_of_memory(pod, 79.19, 1.12) if "File " not in line],
               *[line for line in logtext.free_memory_below_utilization(pod, 71.88, 79.19, 0.98)
                 if "File " not in line]]
    assert [line for line in written if shape_of(line) not in real] == []


def test_the_logs_tools_fold_real_lines_into_templates_without_pids_or_request_ids() -> None:
    lines = _lines("generation-error.log") + _lines("stats.log")
    templates = {t.text for t in mine((line, None, None) for line in lines)}
    assert "(APIServer pid=<NUM>) ERROR <TS> [serving.py:175] Request chatcmpl-<HEX> failed with an internal error " \
           "during generation" in templates
    assert len(templates) == 3  # the generation error, uvicorn's 500 line, the stats line
    assert not any(re.search(r"pid=\d|8da6fc|37932", t) for t in templates)


def test_the_runbooks_vllm_signals_match_the_real_lines() -> None:
    errors, oom = _lines("generation-error.log"), _lines("engine-dead.log")
    assert [bool(HTTP_5XX.search(line)) for line in errors] == [False, True, False, True]  # bad-rollout
    assert not any(HTTP_5XX.search(line) for line in _lines("access.log"))
    assert all(NOT_UVICORN_INFO.match(line) for line in errors[::2])  # traffic-surge: engine errors count
    assert not any(NOT_UVICORN_INFO.match(line) for line in _lines("access.log"))  # uvicorn's lines do not
    oom_templates = [t.text for t in mine((line, None, None) for line in oom)]
    assert any("CUDA out of memory" in t for t in oom_templates)  # cuda-oom, bad-rollout's counter-signal
