"""The gpu server's tools: GPU health per node, the unhealthy GPUs with the pods on them, and the Xid catalogue;
each reads through the `GpuSource` its server holds. `TOOLS` is the table the server registers."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_servers.gpu.health import (
    GpuHealthReport,
    UnhealthyReport,
    XidExplanation,
    explain,
    health_report,
    unhealthy_report,
)
from mcp_servers.gpu.sources import GpuSource
from mcp_servers.toolkit import held, reads


async def gpu_health(
    node: Annotated[str | None, Field(description="only this node (default: every node with GPUs)")] = None,
    detail: Annotated[bool, Field(description="list every GPU, not only the abnormal ones")] = False,
    source: GpuSource = held(GpuSource),
) -> GpuHealthReport:
    """GPU health per node: GPU count, how many are abnormal, hottest GPU, mean utilisation, and per GPU
    utilisation, memory, temperatures, power, clocks, throttling, ECC, last Xid, remapped rows and its pod."""
    return health_report(await source.readings(), source.name, node=node, detail=detail)


async def unhealthy_gpus(source: GpuSource = held(GpuSource)) -> UnhealthyReport:
    """The abnormal GPUs, worst first, each with the pod on it, why it is flagged (Xid, double-bit ECC, row
    remap failure, lost GPU, thermal throttling, temperature) and the recommended action."""
    return unhealthy_report(await source.readings(), source.name)


def explain_xid(code: Annotated[int, Field(ge=0, description="the Xid number, e.g. 79")]) -> XidExplanation:
    """What an NVIDIA Xid error means, its usual cause, severity and recommended action."""
    return explain(code)


TOOLS = (
    reads(gpu_health, "GPU health per node"),
    reads(unhealthy_gpus, "Unhealthy GPUs"),
    reads(explain_xid, "Explain an Xid"),
)
