"""The logs server: searching, error templates and before/after comparison, on the sandbox and on a Loki."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_loki import Entry, FakeLoki
from fastmcp import Client

from harness.sandbox_run import RunningSandbox
from mcp_servers.compose import build
from mcp_servers.logs.lines import Target
from mcp_servers.logs.loki import logql
from mcp_servers.logs.sources import parse_stamped
from mcp_servers.logs.views import severity
from mcp_servers.settings import HttpEndpoint, Settings
from tests.mcp.calls import call, refusal
from tests.polling import until

pytestmark = pytest.mark.anyio
WAIT_S = 40.0
ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]  # conftest's `mcp` fixtures


def template_with(templates: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    return next((t for t in templates if text in t["template"]), None)


# -- the pure parts ---------------------------------------------------------------------------------------
def test_stamped_log_text_is_parsed_with_nanoseconds_and_unstamped_continuations() -> None:
    text = ("2026-11-23T10:00:00.123456789Z RuntimeError: CUDA error: unspecified launch failure\n"
            "CUDA kernel errors might be asynchronously reported\n"
            "2026-11-23T10:00:01Z INFO:     Shutting down\n")
    lines = parse_stamped(text, "p")
    assert [(line.timestamp.isoformat(), line.text) for line in lines] == [
        ("2026-11-23T10:00:00.123456+00:00", "RuntimeError: CUDA error: unspecified launch failure"),
        ("2026-11-23T10:00:00.123456+00:00", "CUDA kernel errors might be asynchronously reported"),
        ("2026-11-23T10:00:01+00:00", "INFO:     Shutting down")]


@pytest.mark.parametrize(("line", "level"), [
    ("ERROR 11-23 10:00:00 [core.py:400] EngineCore encountered a fatal error.", "error"),
    ("Traceback (most recent call last):", "error"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB.", "error"),
    ("I1123 10:00:00.1 1 health.go:183] XidCriticalError: Xid=79 on Device=GPU-1", "error"),
    ('INFO:     10.244.1.2:40000 - "POST /v1/chat/completions HTTP/1.1" 503 Service Unavailable', "error"),
    ("[rank0]:[E1123 23:11:05.1 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught collective timeout", "error"),
    ("WARNING 11-23 10:00:00 [scheduler.py:1560] Sequence group 7 is preempted", "warning"),
    ('INFO:     10.244.1.2:40000 - "POST /v1/chat/completions HTTP/1.1" 200 OK', None),
    ("INFO 11-23 10:00:00 [loggers.py:111] Engine 000: Avg prompt throughput: 12.0 tokens/s", None),
])
def test_lines_are_classified_by_what_a_person_would_grep_for(line: str, level: str | None) -> None:
    assert severity(line) == level


def test_logql_quotes_values_as_go_strings() -> None:
    assert logql(Target("inference", pod='we"ird'), None) == '{namespace="inference", pod="we\\"ird"}'
    assert logql(Target("inference"), r"a\d") == '{namespace="inference"} |~ "a\\\\d"'


# -- on the shared sandbox ---------------------------------------------------------------------------------
async def test_search_of_a_deployment_returns_its_pods_vllm_lines_newest_last(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        found = await call(client, "search_logs", deployment="qwen-7b")

    lines = found["lines"]["items"]
    assert found["target"] == "deployment qwen-7b in namespace inference"
    assert found["source"] == "kubernetes"
    assert found["lines_matched"] == found["lines"]["total"] >= len(lines) > 0
    assert {p["pod"].rsplit("-", 2)[0] for p in found["pods"]} == {"qwen-7b"}
    assert len(found["pods"]) == 3
    assert sum(p["lines"] for p in found["pods"]) == found["lines_matched"]
    assert all(line["pod"].startswith("qwen-7b-") for line in lines)
    assert any('"POST /v1/chat/completions HTTP/1.1" 200 OK' in line["text"] for line in lines)
    stamps = [line["timestamp"] for line in lines]
    assert stamps == sorted(stamps)


async def test_regex_keeps_only_matching_lines(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        everything = await call(client, "search_logs", deployment="mistral-7b")
        stats = await call(client, "search_logs", deployment="mistral-7b", regex=r"Engine \d+: Avg prompt")

    assert 0 < stats["lines_matched"] < everything["lines_matched"]
    assert all("Avg prompt throughput" in line["text"] for line in stats["lines"]["items"])


async def test_limit_caps_the_lines_keeping_the_newest_and_says_so(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        capped = await call(client, "search_logs", deployment="llama-70b", limit=3)

    lines = capped["lines"]
    assert len(lines["items"]) == 3
    assert lines["truncated"] is True and lines["total"] == capped["lines_matched"] > 3
    assert capped["pods"], "the summary still counts every matched line's pod"


async def test_one_pod_and_the_whole_namespace_can_be_searched(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        namespace = await call(client, "search_logs")
        pod = namespace["pods"][0]["pod"]
        one = await call(client, "search_logs", pod=pod, limit=5)

    assert namespace["target"] == "namespace inference"
    assert {p["pod"].rsplit("-", 2)[0] for p in namespace["pods"]} >= {"qwen-7b", "llama-70b", "mistral-7b"}
    assert {line["pod"] for line in one["lines"]["items"]} == {pod}


@pytest.mark.parametrize(("args", "message"), [
    ({"pod": "nope-0"}, "pod nope-0 not found in namespace inference"),
    ({"deployment": "nope"}, "deployment nope not found in namespace inference"),
    ({"deployment": "qwen-7b", "pod": "x"}, "give either a deployment or a pod, not both"),
    ({"deployment": "qwen-7b", "regex": "(unclosed"}, "invalid regex '(unclosed': missing ), unterminated"),
    ({"deployment": "qwen-7b", "until": "yesterday"}, "until must be an RFC 3339 time"),
    ({"deployment": "qwen-7b", "limit": 0}, "limit"),
])
async def test_bad_search_input_gets_a_clear_error(mcp: ClientFactory, args: dict[str, Any], message: str) -> None:
    async with mcp("logs") as client:
        assert message in await refusal(client, "search_logs", **args)


async def test_compare_refuses_a_time_that_is_not_one(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        assert "at must be an RFC 3339 time" in await refusal(client, "compare_logs", deployment="qwen-7b", at="soon")
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert "is in the future" in await refusal(client, "compare_logs", deployment="qwen-7b", at=future)
        assert "deployment nope not found" in await refusal(client, "compare_logs", deployment="nope",
                                                            at="latest-rollout")


async def test_previous_of_a_container_that_never_restarted_is_explained(mcp: ClientFactory) -> None:
    async with mcp("logs") as client:
        found = await call(client, "search_logs", deployment="qwen-7b", previous=True)

    assert found["lines_matched"] == 0
    assert len(found["notes"]) == 3
    assert all("previous terminated container" in note for note in found["notes"])


# -- faults on a sandbox of its own ------------------------------------------------------------------------
async def test_a_bad_rollout_and_a_crash_show_up_as_new_error_templates(fresh_fleet: RunningSandbox,
                                                                      fresh_mcp: ClientFactory) -> None:
    fresh_fleet.inject([
        {"kind": "bad_rollout", "target": {"deployment": "qwen-7b"}, "params": {"error_share": 0.4}},
        {"kind": "gpu_xid", "target": {"node": "gpu-node-2", "gpu": 0}, "params": {"xid": 13}},  # llama-70b #1
    ])
    async with fresh_mcp("logs") as client:
        async def template_of(deployment: str, text: str) -> dict[str, Any] | None:
            summary = await call(client, "log_error_summary", deployment=deployment)
            return template_with(summary["templates"]["items"], text)

        broken_template = await until(lambda: template_of("qwen-7b", "failed with an internal error during generation"),
                                      "the failing requests' error grouped into a template", timeout_s=WAIT_S)
        crash = await until(lambda: template_of("llama-70b", "CUDA error: unspecified launch failure"),
                            "the crashed container's traceback", timeout_s=WAIT_S)
        comparison = await call(client, "compare_logs", deployment="qwen-7b", at="latest-rollout")

    assert broken_template is not None, "the failing requests' error is grouped into a template"
    assert broken_template["level"] == "error" and broken_template["count"] >= 1
    assert broken_template["first_seen"] <= broken_template["last_seen"]
    assert broken_template["example"].startswith("(APIServer pid=1) ERROR ")  # vLLM's process prefix is kept

    assert crash is not None, "the crashed container's traceback is read from its previous incarnation"
    assert len(crash["pods"]) == 1

    replicaset = comparison["at_from"].split("ReplicaSet ")[1].split()[0]
    assert comparison["at_from"].startswith("latest-rollout: ReplicaSet qwen-7b-")
    new = comparison["new"]["items"]
    assert template_with(new, "internal error during generation") is not None
    assert new[0]["level"] == "error", "new error templates come first"
    assert all(pod.startswith(replicaset) for pod in template_with(new, "internal error during generation")["pods"])
    assert comparison["new_templates"] == comparison["new"]["total"] >= 1


# -- on a Loki ---------------------------------------------------------------------------------------------
OLD, NEW = "qwen-7b-5d8f7c9b4-ab1cd", "qwen-7b-7c9f8d6b5-xy9zq"


def entries(rollout: datetime) -> list[Entry]:
    def at(minutes: float) -> int:
        return int((rollout + timedelta(minutes=minutes)).timestamp()) * 1_000_000_000

    def entry(pod: str, minutes: float, line: str, namespace: str = "inference") -> Entry:
        return Entry({"namespace": namespace, "pod": pod, "container": "vllm"}, at(minutes), line)

    ok = 'INFO:     10.244.1.{n}:4{n:04d} - "POST /v1/chat/completions HTTP/1.1" 200 OK'
    fail = 'INFO:     10.244.2.{n}:5{n:04d} - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error'
    found = [entry(OLD, -5 + i / 10, ok.format(n=i)) for i in range(50)]  # 10 a minute before
    preempted = "WARNING 11-23 10:0{i}:00 [scheduler.py:1560] Sequence group {i} is preempted"
    found += [entry(OLD, -4 + i, preempted.format(i=i)) for i in range(3)]
    found += [entry(NEW, 0.5 + i / 2, ok.format(n=i)) for i in range(9)]  # 2 a minute after
    for i in range(4):
        found += [entry(NEW, 1 + i, fail.format(n=i)),
                  entry(NEW, 1 + i, "jinja2.exceptions.UndefinedError: 'dict object' has no attribute 'tool_calls'")]
    found += [entry("mistral-7b-6b7d8c9f5-qq1ww", 1, "ERROR 11-23 10:00:00 [core.py:400] not this deployment"),
              entry("qwen-7b-5d8f7c9b4-zz9yy", 1, "ERROR 11-23 10:00:00 [core.py:400] other namespace", "staging")]
    return found


@pytest.fixture
def rollout() -> datetime:
    """Five minutes ago, taken when the test starts: the default windows are relative to now."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture
def loki(rollout: datetime) -> Any:
    with FakeLoki(entries(rollout), token="loki-token") as server:
        yield server


def loki_client(loki: FakeLoki, token: str = "loki-token") -> Client:
    return Client(build("logs", Settings(loki=HttpEndpoint(url=loki.url, bearer_token=token))))


async def test_loki_search_sends_logql_and_reads_the_streams(loki: FakeLoki) -> None:
    async with loki_client(loki) as client:
        found = await call(client, "search_logs", deployment="qwen-7b", regex=r" 5\d\d Internal")

    assert loki.queries[-1]["query"] == ('{namespace="inference", pod=~"qwen\\\\-7b-[a-z0-9]+-[a-z0-9]+"} '
                                         '|~ " 5\\\\d\\\\d Internal"')
    assert found["source"] == "loki"
    assert found["lines_matched"] == 4 and found["error_lines"] == 4
    assert found["pods"] == [{"pod": NEW, "lines": 4}]


async def test_loki_error_summary_groups_the_new_errors(loki: FakeLoki) -> None:
    async with loki_client(loki) as client:
        summary = await call(client, "log_error_summary", deployment="qwen-7b")

    templates = summary["templates"]["items"]
    undefined = template_with(templates, "UndefinedError")
    assert undefined is not None and undefined["count"] == 4 and undefined["pods"] == [NEW]
    assert template_with(templates, "500 Internal Server Error")["count"] == 4
    assert template_with(templates, "is preempted")["level"] == "warning"
    assert template_with(templates, "not this deployment") is None
    assert template_with(templates, "other namespace") is None
    assert summary["error_lines"] == 8 and summary["warning_lines"] == 3


async def test_loki_compare_finds_new_gone_and_changed_templates(loki: FakeLoki, rollout: datetime) -> None:
    async with loki_client(loki) as client:
        comparison = await call(client, "compare_logs", deployment="qwen-7b", at=rollout.isoformat())

    assert comparison["at_from"] == "given"
    assert comparison["before"]["pods"] == [OLD] and comparison["after"]["pods"] == [NEW]
    assert [t["level"] for t in comparison["new"]["items"]] == ["error", "error"]
    assert template_with(comparison["new"]["items"], "UndefinedError")["after"] == 4
    assert template_with(comparison["gone"]["items"], "is preempted")["before"] == 3
    [changed] = comparison["changed"]["items"]
    assert "200 OK" in changed["template"] and (changed["before"], changed["after"]) == (50, 9)
    assert changed["before_per_minute"] == 10.0 and changed["after_per_minute"] < 2.5


async def test_loki_refusals_are_reported_with_lokis_words(loki: FakeLoki) -> None:
    async with loki_client(loki, token="wrong") as client:
        assert "(401): no org id" in await refusal(client, "search_logs", deployment="qwen-7b")
    unreachable = Settings(loki=HttpEndpoint(url="http://127.0.0.1:9"))
    async with Client(build("logs", unreachable)) as client:
        assert "Loki at http://127.0.0.1:9 is unreachable" in await refusal(client, "search_logs", pod="p")
