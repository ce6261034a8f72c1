"""The sandbox's gateway and shared services expose what the real ones do: every family of the recorded LiteLLM
/metrics sample (tests/fixtures/real/gateway), with its type, label names and buckets, and nothing else; the
shared services' OpenTelemetry HTTP server histogram likewise."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.fleet_under_test import Fleet, Samples

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "gateway"
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$")


def shape(text: str) -> dict[str, tuple[str, frozenset[frozenset[str]], frozenset[str]]]:
    """Per family (as `# TYPE` names it: a counter without `_total`): its type, the label-name sets of its series
    (without `le`), and its bucket bounds."""
    types = {m.group(1): m.group(2) for m in map(_TYPE.match, text.splitlines()) if m}
    labels: dict[str, set[frozenset[str]]] = defaultdict(set)
    bounds: dict[str, set[str]] = defaultdict(set)
    for name, have, _ in Samples.parse(text).rows:
        family = next(f for f in (name, re.sub(r"_(total|bucket|sum|count)$", "", name)) if f in types)
        labels[family].add(frozenset(have) - {"le"})
        if "le" in have:
            bounds[family].add(str(float(have["le"])))
    return {f: (types[f], frozenset(labels[f]), frozenset(bounds[f])) for f in types}


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with Fleet() as f:
        f.run(10)
        f.inject("provider_rate_limit", {"provider": "openai"})  # so that failures and remaining requests show
        f.run(20)
        yield f


def test_the_gateway_exports_litellms_families_labels_and_buckets(fleet: Fleet) -> None:
    real = shape((REAL / "litellm-metrics.txt").read_text())
    pages = [t["labels"]["__metrics_path__"] for t in fleet.targets() if t["labels"]["job"] == "inference-gateway"]
    sandbox = shape("\n".join(fleet.http.get(p).text for p in pages))
    assert set(sandbox) == set(real)
    for family, (kind, label_sets, bounds) in real.items():
        assert sandbox[family][0] == kind, family
        assert sandbox[family][1] == label_sets, family
        assert sandbox[family][2] == bounds, family


def test_the_shared_services_export_otels_http_server_histogram(fleet: Fleet) -> None:
    real = shape((REAL / "otel-http-server-metrics.txt").read_text())
    pages = [t["labels"]["__metrics_path__"] for t in fleet.targets() if t["labels"]["job"] == "auth-service"]
    assert shape("\n".join(fleet.http.get(p).text for p in pages)) == real
