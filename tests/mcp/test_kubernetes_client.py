"""The Kubernetes client's typed errors and the mirror's backoff, without a cluster: each API status becomes
the error class a caller routes on, and a mirror that keeps failing waits longer each time, starting over
once a watch has run its course."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from mcp_servers.errors import BackendError, NotFound, TimedOut, Unauthorized, Unreachable
from mcp_servers.kubernetes.client import (
    AnswerTimedOut,
    ConnectionFailed,
    Forbidden,
    Gone,
    Throttled,
    Unanswered,
    VersionConflict,
    refusal,
)
from mcp_servers.kubernetes.mirror import Collection


@pytest.mark.parametrize(("status", "cls", "kind"), [
    (403, Forbidden, "unauthorized"), (401, Unauthorized, "unauthorized"), (404, NotFound, "not_found"),
    (409, VersionConflict, "conflict"), (410, Gone, "not_found"), (429, Throttled, "conflict"),
    (500, BackendError, "internal"), (503, Unreachable, "unreachable"),
])
def test_each_status_is_raised_as_the_class_a_caller_routes_on(status: int, cls: type[BackendError],
                                                                kind: str) -> None:
    error = refusal(status, "the Kubernetes API refused")
    assert type(error) is cls and error.kind == kind and str(error) == "the Kubernetes API refused"


def test_no_answer_is_told_apart_from_an_answer() -> None:
    assert isinstance(ConnectionFailed("x"), Unreachable) and ConnectionFailed("x").kind == "unreachable"
    assert isinstance(AnswerTimedOut("x"), TimedOut) and AnswerTimedOut("x").kind == "timeout"
    assert isinstance(AnswerTimedOut("x"), Unanswered) and not isinstance(refusal(504, "x"), Unanswered)


class RecordedPauses(threading.Event):
    """A `stopping` event whose waits return at once and are written down."""

    def __init__(self) -> None:
        super().__init__()
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(float(timeout or 0))
        return self.is_set()


class OneWatchEvent:
    """A watch stream that brings one event, then ends as a watch's server-side timeout ends it."""

    def stream(self, amt: Any = None, decode_content: bool = False) -> list[bytes]:
        added = {"type": "ADDED", "object": {"metadata": {"name": "p", "namespace": "ns", "resourceVersion": "8"}}}
        return [json.dumps(added).encode() + b"\n"]

    def close(self) -> None: ...

    def release_conn(self) -> None: ...


def scripted_kube(lists: list[Callable[[], dict[str, Any]]], watches: list[Callable[[], Any]]) -> Any:
    def list_all(method: Any) -> dict[str, Any]:
        return lists.pop(0)()

    def stream(method: Any, **query: Any) -> Any:
        return watches.pop(0)()
    return SimpleNamespace(core=SimpleNamespace(list_pod_for_all_namespaces=None), list_all=list_all, stream=stream)


def fails(error: BackendError) -> Callable[[], Any]:
    def raise_it() -> Any:
        raise error
    return raise_it


def test_a_failing_mirror_backs_off_exponentially_and_starts_over_after_a_sound_watch() -> None:
    listed = {"metadata": {"resourceVersion": "7"}, "items": []}
    lists = [fails(ConnectionFailed("refused")), lambda: listed, fails(ConnectionFailed("refused")),
             fails(ConnectionFailed("refused")), fails(Forbidden("not allowed"))]
    watches = [OneWatchEvent, fails(AnswerTimedOut("silent"))]
    collection = Collection(scripted_kube(lists, watches), "pods")
    stopping = RecordedPauses()

    collection.run(stopping)  # returns at the 403: the mirror is not allowed, reads go live

    # 0.5 after the first failed list; the sound watch starts the backoff over: 0.5, 1, 2 after the next failures
    assert stopping.pauses == [0.5, 0.5, 1.0, 2.0]
    assert not lists and not watches and not collection.live
    assert collection.get("ns", "p") is not None
