"""The logs server's summaries, alone: lines in, counts, budgets, templates and before/after changes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mcp_servers.logs.lines import Fetched, LogLine, Window
from mcp_servers.logs.views import (
    MAX_LINE_CHARS,
    MAX_SEARCH_CHARS,
    clip_line,
    compare,
    newest_within_budget,
    observed_windows,
    pod_counts,
    summarise_errors,
    top_pods,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def line(minute: float, text: str, pod: str = "llama-0") -> LogLine:
    return LogLine(timestamp=T0 + timedelta(minutes=minute), pod=pod, text=text)


def test_pods_are_counted_most_lines_first_and_named_by_count_then_name() -> None:
    lines = [line(0, "a", "p1"), line(1, "b", "p2"), line(2, "c", "p2")]
    assert [(c.pod, c.lines) for c in pod_counts(lines)] == [("p2", 2), ("p1", 1)]
    assert top_pods({"b": 2, "a": 2, "c": 5}) == ["c", "a", "b"]


def test_the_newest_lines_are_kept_clipped_and_within_the_character_budget() -> None:
    long = "x" * (MAX_LINE_CHARS + 100)
    assert clip_line(long).endswith("…[truncated]") and clip_line("short") == "short"
    lines = [line(i, f"line {i}") for i in range(10)]
    kept = newest_within_budget(lines, 3)
    assert [item.text for item in kept.items] == ["line 7", "line 8", "line 9"]
    assert (kept.total, kept.truncated) == (10, True)
    many = [line(i / 100, long) for i in range(200)]
    budgeted = newest_within_budget(many, 200)
    assert len(budgeted.items) * len(clip_line(long)) <= MAX_SEARCH_CHARS < (len(budgeted.items) + 1) * len(
        clip_line(long))
    assert budgeted.items[-1].timestamp == many[-1].timestamp


def test_error_and_warning_lines_become_templates_with_their_level_and_pods() -> None:
    lines = [line(i, f"ERROR request {i} failed: CUDA out of memory", f"p{i % 2}") for i in range(4)]
    lines += [line(5, "WARNING retrying connection to 10.0.0.7:8000"), line(6, "INFO all good")]
    templates, tally = summarise_errors(lines)
    assert tally == {"error": 4, "warning": 1}
    assert [(t.level, t.count) for t in templates] == [("error", 4), ("warning", 1)]
    assert templates[0].pods == ["p0", "p1"] and templates[0].first_seen == T0


def test_compare_finds_new_gone_and_changed_templates() -> None:
    at = T0 + timedelta(minutes=10)
    before, after = Window(T0, at), Window(at, at + timedelta(minutes=10))
    lines = [line(1, "INFO warming cache")]
    lines += [line(2 + i / 10, f"INFO served request {i}") for i in range(5)]
    lines += [line(11 + i / 10, f"INFO served request {i}") for i in range(20)]
    lines += [line(12, "ERROR CUDA error: an illegal memory access was encountered")]
    new, gone, changed = compare(lines, at, before, after)
    assert [(c.level, c.after) for c in new] == [("error", 1)]
    assert [c.before for c in gone] == [1]
    assert [(c.before, c.after, c.before_per_minute, c.after_per_minute) for c in changed] == [(5, 20, 0.5, 2.0)]


def test_the_before_window_starts_no_earlier_than_the_first_line() -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    fetched = Fetched([LogLine(timestamp=at - timedelta(minutes=2), pod="p", text="x")])
    before, after = observed_windows(fetched, at, timedelta(minutes=15))
    assert before == Window(at - timedelta(minutes=2), at)
    assert after.start == at and after.end <= datetime.now(UTC)
