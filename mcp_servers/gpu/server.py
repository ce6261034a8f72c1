"""The gpu server: its tools (`tools.TOOLS`) over the reading source its settings choose."""

from __future__ import annotations

from contextlib import nullcontext

from fastmcp import FastMCP

from mcp_servers.gpu.sources import source_of
from mcp_servers.gpu.tools import TOOLS
from mcp_servers.settings import Settings
from mcp_servers.toolkit import holding, register


def build(settings: Settings) -> FastMCP:
    mcp = FastMCP("firebreak-gpu", instructions="GPU health from DCGM metrics (or local NVML): per node and GPU, "
                  "the unhealthy GPUs with the pods on them and what to do, and NVIDIA's Xid catalogue.",
                  lifespan=holding(lambda: nullcontext([source_of(settings)])))  # a source holds nothing to close
    return register(mcp, TOOLS)
