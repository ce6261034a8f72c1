"""The sandbox's control API, on its own port and token: fault injection for the harness and for people.

Nothing in the fleet's own APIs (Kubernetes, metrics, gateway) exposes it or what it holds.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultSpec

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

_SPECS = TypeAdapter(list[FaultSpec])


def control_app(sandbox: Sandbox, token: str) -> Starlette:
    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    async def faults(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if request.method == "POST":
            try:
                added = sandbox.faults.add(_SPECS.validate_json(await request.body()))
            except (ValidationError, ValueError) as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            return JSONResponse({"scheduled": [_entry(sandbox, e) for e in added]}, status_code=201)
        return JSONResponse({"faults": [_entry(sandbox, e) for e in sandbox.faults.entries]})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "uptime_s": round(sandbox.clock.now(), 1), "ticks": sandbox.ticks,
                             "time_scale": sandbox.clock.time_scale})

    return Starlette(routes=[Route("/faults", faults, methods=["GET", "POST"]), Route("/healthz", health)])


def _entry(sandbox: Sandbox, entry: object) -> dict[str, object]:
    spec, due = entry.spec, entry.due  # type: ignore[attr-defined]
    return {"kind": spec.kind, "target": spec.target, "params": spec.params,
            "in_s": round(max(0.0, due - sandbox.clock.now()), 2),
            "fired": entry.fired, "result": entry.result}  # type: ignore[attr-defined]
