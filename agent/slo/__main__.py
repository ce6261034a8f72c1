"""`python -m agent.slo`: regenerate the committed Prometheus rules and Alertmanager config."""

import sys

from agent.slo.deploy import REPO_ROOT, regenerate

for written in regenerate():
    print(f"wrote {written.relative_to(REPO_ROOT)}", file=sys.stderr)
