"""Template mining: lines of one log statement become one template; different statements stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mcp_servers.logs.templates import TemplateMiner, mask, mine, similarity

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def vllm_stats(i: int) -> str:
    return (f"INFO 11-23 10:{i % 60:02d}:{(7 * i) % 60:02d} [loggers.py:111] Engine 000: Avg prompt throughput: "
            f"{100 + 13.7 * i:.1f} tokens/s, Avg generation throughput: {40 + 2.1 * i:.1f} tokens/s, Running: {i % 9} "
            f"reqs, Waiting: {i % 3} reqs, GPU KV cache usage: {i % 100}.{i % 10}%, Prefix cache hit rate: 38.6%")


def access(i: int, code: int, phrase: str) -> str:
    client = f"10.244.{i % 4 + 1}.{i % 30 + 2}:{33000 + i}"
    return f'INFO:     {client} - "POST /v1/chat/completions HTTP/1.1" {code} {phrase}'


@pytest.mark.parametrize(("line", "masked"), [
    ("Loading weights took 52.50 seconds", "Loading weights took <NUM> seconds"),
    ("INFO 11-23 10:00:01 [loader.py:458] done", "INFO <TS> [loader.py:458] done"),
    ("at 2026-11-23T10:00:01.123456Z ok", "at <TS> ok"),
    ("from 10.244.2.5:49198 to 10.0.0.1", "from <IP> to <IP>"),
    ("Device=GPU-1b2c3d4e-aaaa-bbbb-cccc-0123456789ab gone", "Device=GPU-<UUID> gone"),
    ("request chatcmpl-3f9a0c2b1d4e5f60 at 0x7f3a2b", "request chatcmpl-<HEX> at <HEX>"),
    ("pod llama-70b-7c9f8d-x2kq and qwen-7b-hcj56c5vlj-pbwwz", "pod <POD> and <POD>"),
    ("retry in 350ms then 2s", "retry in <DUR> then <DUR>"),
    ("model='Qwen/Qwen2.5-7B-Instruct' mode='fast'", "model=<STR> mode='fast'"),
    ('{"level":"error","msg":"routes reload failed"}', '{"level":"error","msg":"routes reload failed"}'),
])
def test_masking_replaces_variables_by_their_kind(line: str, masked: str) -> None:
    assert mask(line) == masked


@pytest.mark.parametrize("line", [
    'INFO:     <IP> - "POST /v1/chat/completions HTTP/1.1" 503 Service Unavailable',
    "XidCriticalError: Xid=79 on Device",
    "ERROR [core.py:400] EngineCore failed",
    "I1123 10:00:00.1 1 health.go:183] marking device",
    "vLLM API server version v0.8.5",
])
def test_masking_keeps_numbers_that_tell_statements_apart(line: str) -> None:
    kept = {"503", "Xid=79", "core.py:400", "health.go:183", "v0.8.5"}
    assert any(token in mask(line) for token in kept)


def test_vllm_lines_that_differ_only_in_numbers_collapse_to_one_template() -> None:
    miner = TemplateMiner()
    for i in range(50):
        miner.add(vllm_stats(i), T0 + timedelta(seconds=i), f"qwen-7b-{i % 3}")

    [template] = miner.templates()
    assert template.count == 50
    assert template.text.startswith("INFO <TS> [loggers.py:111] Engine <NUM>: Avg prompt throughput: <NUM> tokens/s")
    assert template.first_seen == T0 and template.last_seen == T0 + timedelta(seconds=49)
    assert template.pods == {"qwen-7b-0": 17, "qwen-7b-1": 17, "qwen-7b-2": 16}
    assert template.example == vllm_stats(0)


def test_different_messages_stay_apart_even_with_the_same_header_and_length() -> None:
    lines = [access(i, 200, "OK") for i in range(20)] + [access(i, 500, "Internal Server Error") for i in range(5)]
    lines += ["ERROR 11-23 10:00:01 [core.py:400] disk full", "ERROR 11-23 10:00:02 [core.py:400] quota gone"]
    templates = mine((line, None, None) for line in lines)

    by_text = {t.text: t.count for t in templates}
    assert by_text == {'INFO: <IP> - "POST /v1/chat/completions HTTP/<NUM>" 200 OK': 20,
                       'INFO: <IP> - "POST /v1/chat/completions HTTP/<NUM>" 500 Internal Server Error': 5,
                       "ERROR <TS> [core.py:400] disk full": 1, "ERROR <TS> [core.py:400] quota gone": 1}


def test_unmasked_variables_become_wildcards_when_most_of_the_line_agrees() -> None:
    templates = mine((f"Started container {name} on node gpu-node-{i}", None, None)
                     for i, name in enumerate(["vllm", "gateway", "exporter"]))

    [template] = templates
    assert template.text == "Started container <*> on node gpu-node-<NUM>"
    assert template.count == 3


def test_templates_come_most_frequent_first_then_in_order_of_appearance() -> None:
    lines = ["alpha happened", "beta happened twice", "gamma happened here now", "beta happened twice"]
    assert [t.text for t in mine((line, None, None) for line in lines)] == [
        "beta happened twice", "alpha happened", "gamma happened here now"]


def test_mining_is_deterministic() -> None:
    lines = [(vllm_stats(i), T0, "p") for i in range(10)] + [(access(i, 200, "OK"), T0, "p") for i in range(10)]
    first, second = mine(lines), mine(lines)
    assert [(t.id, t.text, t.count) for t in first] == [(t.id, t.text, t.count) for t in second]


def test_similarity_counts_only_literal_tokens_of_the_template() -> None:
    assert similarity(["<TS>", "disk", "full"], ["<TS>", "disk", "gone"]) == 0.5
    assert similarity(["<TS>", "<*>"], ["<TS>", "anything"]) == 1.0
