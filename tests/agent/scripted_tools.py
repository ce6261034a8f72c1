"""The MCP tools of a small, scripted fleet (`ScriptedTools`), for testing the agent's graph without a sandbox.

It answers the handful of tools the test runbook reads, and its write tools change the script the way the
real fleet would change (cordoning the bad node stops the burn). Writes remember their idempotency keys,
as the real servers do, so a repeated key is a replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastmcp import FastMCP

from mcp_servers.answers import WriteResult
from mcp_servers.errors import KindedErrors, fail
from mcp_servers.toolkit import read_tool, write_tool

# Every way `slo_status` fails to tell the burn, as the prometheus server (or a library under it) fails.
SLO_FAILURES: dict[str, Exception] = {
    "unreachable": fail("unreachable", "Prometheus at http://127.0.0.1:1 is unreachable: [Errno 111] Connection "
                        "refused"),
    "answers_503": fail("unreachable", "Prometheus answered HTTP 503: Service Unavailable"),
    "no_rules": fail("not_found", "Prometheus has no slo:* recording rules: load the rules `firebreak slo rules` "
                     "generates"),
    "timeout": fail("timeout", "Prometheus at http://127.0.0.1:9090 did not answer within 15 s"),
    "crashes": RuntimeError("the answer could not be decoded"),  # no kind of its own: `internal`
}


@dataclass
class ScriptedTools:
    """The fleet's state as a script, and the real MCP server (`server()`) whose tools read and change it."""

    burn: float = 20.0  # the model's short-window burn rate
    first_burns: list[float] = field(default_factory=list)  # what the first slo_status reads say, before `burn`
    slo_failure: str = ""  # a key of SLO_FAILURES; "no_burn": an answer without the model's burn rate
    gpus_unreadable: bool = False  # unhealthy_gpus fails (DCGM's Prometheus gone)
    bad_gpu: bool = True
    cordon_heals: bool = True  # False: the diagnosis was wrong, cordoning changes nothing
    replicas: int = 4
    cordoned: set[str] = field(default_factory=set)
    applied: list[tuple[str, str]] = field(default_factory=list)  # (tool, idempotency key) that changed something
    keys: set[str] = field(default_factory=set)

    def server(self) -> FastMCP:
        mcp = FastMCP("scripted-fleet")
        mcp.add_middleware(KindedErrors())

        @read_tool(mcp, "SLO status")
        def slo_status(slo: str | None = None, model: str | None = None) -> dict[str, Any]:
            if self.slo_failure in SLO_FAILURES:
                raise SLO_FAILURES[self.slo_failure]
            burn = self.first_burns.pop(0) if self.first_burns else self.burn
            burn = None if self.slo_failure == "no_burn" else burn  # no traffic series in the window
            status = "burning-page" if burn is not None and burn >= 14.4 else "ok"
            items = [{"slo": "availability", "model": "llama-70b", "status": status,
                      "windows": [{"window": "5m", "burn_rate": burn}]}]
            return {"slos": {"items": items, "total": 1, "truncated": False}}

        @read_tool(mcp, "Unhealthy GPUs")
        def unhealthy_gpus() -> dict[str, Any]:
            if self.gpus_unreadable:
                raise fail("unreachable", "Prometheus at http://127.0.0.1:1 is unreachable: [Errno 111] Connection "
                           "refused")
            gpus = [{"node": "gpu-node-2", "gpu": 1, "xid": 79, "pod": "llama-70b-abc-1"}] if self.bad_gpu else []
            return {"gpus": {"items": gpus, "total": len(gpus), "truncated": False}}

        @write_tool(mcp, "Cordon a node", destructive=False, idempotent=True)
        def cordon_node(node: str, reason: str, idempotency_key: str, dry_run: bool = False) -> WriteResult:
            return self._write("cordon_node", f"node/{node}", reason, idempotency_key, lambda: self._cordon(node))

        @write_tool(mcp, "Scale a deployment", destructive=True, idempotent=True)
        def scale_deployment(deployment: str, replicas: int, reason: str, idempotency_key: str,
                             namespace: str | None = None, dry_run: bool = False) -> WriteResult:
            before = {"replicas": self.replicas}
            result = self._write("scale_deployment", f"deployment/{deployment}", reason, idempotency_key,
                                 lambda: setattr(self, "replicas", replicas))
            return result.model_copy(update={"before": before, "after": {"replicas": self.replicas}})

        return mcp

    def _cordon(self, node: str) -> None:
        self.cordoned.add(node)
        if self.cordon_heals:
            self.burn = 0.0

    def _write(self, tool: str, target: str, reason: str, key: str, change: Any) -> WriteResult:
        replayed = key in self.keys
        if not replayed:
            self.keys.add(key)
            self.applied.append((tool, key))
            change()
        return WriteResult(action=tool, target=target, dry_run=False, reason=reason, idempotency_key=key,
                           replayed=replayed, before={}, after={}, message="replayed" if replayed else "done")


RUNBOOK = """---
id: test-xid
title: Hardware Xid under the model
root_cause: gpu_xid
applies_to: {slos: [availability]}
component: "node/{gpu.node}"
evidence_calls:
  - {id: gpus, tool: unhealthy_gpus, args: {}}
signals:
  - id: xid
    description: a GPU under the model reports Xid 79
    required: true
    weight: 1.0
    when: {from: gpus, path: "gpus.items[*]", where: {xid: 79}}
    bind: {gpu: "$"}
    evidence: "{$.node} GPU {$.gpu} Xid {$.xid}"
remediation:
  - action: cordon_node
    target: "node/{gpu.node}"
verification:
  slo_burn_below: 1.0
  window_s: 60
---
# Test runbook
"""

# A runbook whose fix does nothing for this fleet's burn, and can be undone: scaling out.
WRONG_FIX_RUNBOOK = RUNBOOK.replace("""remediation:
  - action: cordon_node
    target: "node/{gpu.node}"
""", """remediation:
  - action: scale_deployment
    target: "deployment/{model}"
    params: {namespace: "{namespace}", replicas: 6}
    reversible: true
    revert: scale_deployment
""")

# The same runbook, whose verification also asks the GPUs again: the bad one must be gone from the list.
CHECKED_RUNBOOK = RUNBOOK.replace("""  window_s: 60
""", """  window_s: 60
  checks:
    - description: no GPU under the model reports an Xid
      tool: unhealthy_gpus
      args: {}
      path: "gpus.items[*]"
      where: {xid: 79}
      count: "== 0"
""")
