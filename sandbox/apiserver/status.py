"""`Status` objects, the way the API server reports errors and some successes, and JSON responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from sandbox.errors import ApiError
from sandbox.store import Resource

Obj = dict[str, Any]


class DetailedError(ApiError):
    """An `ApiError` that carries the `details` a client may read (name, group, kind, causes)."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None):
        super().__init__(code, reason, message)
        self.details = details or {}


def details_for(res: Resource | None, name: str | None) -> Obj:
    if res is None:
        return {}
    details: Obj = {"name": name} if name else {}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return details


def status_object(err: ApiError, res: Resource | None = None, name: str | None = None) -> Obj:
    # Name and kind like the real server's NotFound/Conflict/Invalid errors, plus what the error carries.
    details = details_for(res, name) if err.code in (404, 409, 422) else {}
    details.update(getattr(err, "details", None) or {})
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": err.message, "reason": err.reason, "code": err.code}
    if details:
        body["details"] = details
    return body


def success_status(code: int = 200, details: Obj | None = None) -> Obj:
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        body["details"] = details
    if code != 200:
        body["code"] = code
    return body


def json_response(body: Obj, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Compact separators like Go's encoder; clients only care that it is JSON, humans reading logs like less.
    return Response(json.dumps(body, separators=(",", ":")), status_code=status_code,
                     media_type="application/json", headers=headers)


def error_response(err: ApiError, res: Resource | None = None, name: str | None = None) -> Response:
    return json_response(status_object(err, res, name), status_code=err.code)


# -- the errors the API layer raises itself, with the real server's wording ---------------------------------
def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def path_not_found() -> ApiError:
    return DetailedError(404, "NotFound", "the server could not find the requested resource")


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}" if content_type else "unsupported media type")


def invalid(res: Resource, name: str, causes: list[tuple[str, str, str]]) -> DetailedError:
    """422 Invalid; each cause is (reason, field, message) as in `field.ErrorList`."""
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    messages = [f"{field}: {message}" for _, field, message in causes]
    text = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    details: Obj = {"name": name, "kind": res.kind,
                    "causes": [{"reason": reason, "message": message, "field": field}
                               for reason, field, message in causes]}
    if res.group:
        details["group"] = res.group
    return DetailedError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', details)
