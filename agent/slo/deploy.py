"""The command behind `firebreak slo rules`, and the committed production files generated from specs.

`deploy/prometheus/slo-rules.yml` (K=1) and `deploy/alertmanager/alertmanager.yml` are generated from
`deploy/slo/*.yaml`; `firebreak slo regenerate` rewrites them, and a test fails when they are stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.slo.alertmanager import render_alertmanager_config
from agent.slo.rules import render_rules
from agent.slo.spec import load_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path("deploy/slo")
RULES_FILE = Path("deploy/prometheus/slo-rules.yml")
ALERTMANAGER_FILE = Path("deploy/alertmanager/alertmanager.yml")
# In a cluster the agent's Service receives the webhook, and its token comes from a Secret mounted the
# way the Prometheus Operator mounts `alertmanager.spec.secrets` (never inline in a committed file).
PRODUCTION_WEBHOOK_URL = "http://firebreak.firebreak.svc:8080/webhook/alertmanager"
PRODUCTION_TOKEN_FILE = "/etc/alertmanager/secrets/firebreak-webhook/token"


def slo_rules_command(
    spec_path: str | Path | Sequence[str | Path],
    time_scale: float = 1.0,
    out: str | Path | None = None,
    *,
    scrape_interval_s: float = 1.0,
    watch_agent: bool = True,
) -> str:
    """Rules for one spec file (or several, or a directory of them); also written to `out` if given.

    Raises `SpecError` (a `ValueError`) naming the file and field when a spec is invalid.
    """
    paths = [spec_path] if isinstance(spec_path, str | Path) else list(spec_path)
    text = render_rules(load_specs(paths), time_scale, scrape_interval_s=scrape_interval_s, watch_agent=watch_agent)
    if out is not None:
        Path(out).write_text(text)
    return text


def generated_files(root: Path = REPO_ROOT) -> dict[Path, str]:
    """What the committed generated files should contain, by path."""
    specs = load_specs([root / SPEC_DIR])
    return {
        root / RULES_FILE: render_rules(specs, 1.0),
        root / ALERTMANAGER_FILE: render_alertmanager_config(
            PRODUCTION_WEBHOOK_URL, None, 1.0, bearer_token_file=PRODUCTION_TOKEN_FILE
        ),
    }


def stale_generated_files(root: Path = REPO_ROOT) -> list[Path]:
    """Generated files that are missing or differ from what the specs give."""
    return [p for p, text in generated_files(root).items() if not p.is_file() or p.read_text() != text]


def regenerate(root: Path = REPO_ROOT) -> list[Path]:
    """Rewrite the stale generated files; returns those it wrote."""
    stale = stale_generated_files(root)
    files = generated_files(root)
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
    return stale
