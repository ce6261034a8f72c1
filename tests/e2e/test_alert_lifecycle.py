"""End to end with the real Prometheus, Alertmanager and kubectl: a bad rollout pages, `kubectl rollout undo`
fixes it, and the page resolves — the path `make demo` shows."""

import asyncio

import pytest

from harness.demo import MODEL, SLO, demo

pytestmark = pytest.mark.slow


def test_bad_rollout_pages_and_resolves_after_rollout_undo(capsys: pytest.CaptureFixture[str]) -> None:
    assert asyncio.run(demo()) == 0
    out = capsys.readouterr().out
    firing = [line for line in out.splitlines() if "webhook <- Alertmanager: firing" in line
              and f"slo={SLO} model={MODEL} severity=page" in line]
    resolved = [line for line in out.splitlines() if "webhook <- Alertmanager: resolved" in line
                and f"slo={SLO} model={MODEL} severity=page" in line]
    assert firing, out
    assert resolved, out
    assert out.index(firing[0]) < out.index("rolled back") < out.index(resolved[0])
