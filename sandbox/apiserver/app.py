"""The Starlette application: authentication, the public endpoints, discovery, and resource URLs."""

from __future__ import annotations

import hmac
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.apiserver import discovery, openapi, reviews
from sandbox.apiserver.handlers import Api, Reply, handle, read_body
from sandbox.apiserver.logs import LogReader
from sandbox.apiserver.paths import Target, parse_resource_path
from sandbox.apiserver.status import (
    error_response,
    json_response,
    method_not_allowed,
    path_not_found,
    status_object,
)
from sandbox.errors import ApiError
from sandbox.store import Store

log = logging.getLogger(__name__)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PUBLIC = ("/version", "/healthz", "/livez", "/readyz")  # what system:public-info-viewer lets anyone read


class BearerAuth:
    """401 unless `Authorization: Bearer <token>`; anonymous requests may read the public-info endpoints."""

    def __init__(self, app: ASGIApp, token: str):
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        public = any(scope["path"] == p or scope["path"].startswith(p + "/") for p in PUBLIC)
        valid = header is not None and hmac.compare_digest(header, self.expected)
        if valid or (header is None and public):
            await self.app(scope, receive, send)
            return
        unauthorized = ApiError(401, "Unauthorized", "Unauthorized")
        await error_response(unauthorized)(scope, receive, send)


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _version(request: Request) -> Response:
    return json_response(discovery.VERSION)


async def _api(request: Request) -> Response:
    host = request.url.netloc or "127.0.0.1"
    return json_response(discovery.api_versions(host))


async def _apis(request: Request) -> Response:
    return json_response(discovery.api_group_list())


async def _group(request: Request) -> Response:
    group = request.path_params["group"]
    if group not in {g for g, _ in discovery.group_versions()}:
        raise path_not_found()
    return json_response(discovery.api_group(group))


def _group_version(group: str, version: str) -> Response:
    resources = discovery.resource_list(group, version)
    if resources is None:
        raise path_not_found()
    return json_response(resources)


async def _review(request: Request, review: reviews.Review) -> Response:
    if request.method != "POST":
        raise method_not_allowed()
    return json_response(reviews.answer(review, await read_body(request)), 201)


async def _openapi_v3(request: Request) -> Response:
    parts = [p for p in request.path_params.get("rest", "").split("/") if p]
    if not parts:
        return json_response(openapi.root())
    if parts[0] == "api" and len(parts) == 2:
        doc = openapi.group_version_doc("", parts[1])
    elif parts[0] == "apis" and len(parts) == 3:
        doc = openapi.group_version_doc(parts[1], parts[2])
    else:
        doc = None
    if doc is None:
        raise path_not_found()
    return json_response(doc)


async def _openapi_v2(request: Request) -> Response:
    raise path_not_found()  # no schemas; see openapi.py for why v3's skeleton is enough


def build_app(store: Store, token: str, logs: LogReader) -> Starlette:
    api = Api(store, logs)

    async def core(request: Request) -> Reply:
        rest = [s for s in request.path_params["rest"].split("/") if s]
        if not rest:
            return _group_version("", "v1")
        return await _resources(request, parse_resource_path("", "v1", rest))

    async def named(request: Request) -> Reply:
        group, version = request.path_params["group"], request.path_params["version"]
        rest = [s for s in request.path_params["rest"].split("/") if s]
        if not rest:
            return _group_version(group, version)
        review = reviews.find(group, version, rest[0]) if len(rest) == 1 else None
        if review is not None:
            return await _review(request, review)
        return await _resources(request, parse_resource_path(group, version, rest))

    async def core_version(request: Request) -> Response:
        return _group_version("", "v1")

    async def named_version(request: Request) -> Response:
        return _group_version(request.path_params["group"], request.path_params["version"])

    async def _resources(request: Request, target: Target) -> Reply:
        try:
            return await handle(api, request, target)
        except ApiError as err:
            return error_response(err, target.resource, target.name)

    routes = [
        Route("/version", _version, methods=["GET"]),
        *(Route(p, _health, methods=["GET"]) for p in ("/healthz", "/livez", "/readyz")),
        Route("/api", _api, methods=["GET"]),
        Route("/api/v1", core_version, methods=["GET"]),
        Route("/api/v1/{rest:path}", core, methods=METHODS),
        Route("/apis", _apis, methods=["GET"]),
        Route("/apis/{group}", _group, methods=["GET"]),
        Route("/apis/{group}/{version}", named_version, methods=["GET"]),
        Route("/apis/{group}/{version}/{rest:path}", named, methods=METHODS),
        Route("/openapi/v2", _openapi_v2, methods=["GET"]),
        Route("/openapi/v3", _openapi_v3, methods=["GET"]),
        Route("/openapi/v3/{rest:path}", _openapi_v3, methods=["GET"]),
    ]
    # Every endpoint is async: the store lives on the event loop, and nothing here may run in a thread.
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error, Exception: _internal_error,
                                                       404: _not_found, 405: _not_allowed})
    app.add_middleware(BearerAuth, token=token)
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("API request %s %s failed", request.method, request.url.path, exc_info=exc)
    return json_response(status_object(ApiError(500, "InternalError", f"Internal error occurred: {exc}")), 500)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(path_not_found())


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(method_not_allowed())
