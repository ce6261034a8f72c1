"""Checks a policy directory the way the agent loads it:

    python -m agent.policy check policies/     # exit 0 and "OK ..." when the policy loads, else the error
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from agent.policy.gate import PolicyGate, dir_label


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.policy", description="Check the remediation policy.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="load the policy directory and report OK or its error")
    check.add_argument("policy_dir", type=Path)
    args = parser.parse_args(argv)
    gate = PolicyGate.load(args.policy_dir)
    if gate.error is not None:
        print(f"policy failed to load: {gate.error}")
        return 1
    print(f"OK {dir_label(args.policy_dir)} {gate.policy_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
