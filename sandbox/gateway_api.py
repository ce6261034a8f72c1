"""The gateway's own HTTP API: health, the routes in force (and the last reload error), the models it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


def gateway_app(sandbox: Sandbox) -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok" if sandbox.gateway.gateway_replicas else "no ready replicas"})

    async def routes(request: Request) -> Response:
        return JSONResponse(sandbox.gateway.snapshot())

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": m.name, "object": "model", "owned_by": "inference", "root": m.hf_model}
            for m in sandbox.fleet.models]})

    return Starlette(routes=[Route("/healthz", health), Route("/routes", routes), Route("/v1/models", models)])
