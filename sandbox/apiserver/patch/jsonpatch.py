"""JSON patch (RFC 6902), `application/json-patch+json`: add, remove, replace, move, copy, test.

Malformed patches are 400s; operations that do not apply are 422s, as in the real server.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.apiserver.status import DetailedError
from sandbox.errors import ApiError


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _unprocessable(message: str, path: str = "") -> ApiError:
    # A cause naming the path, so kubectl prints the reason and not just "... is invalid".
    return DetailedError(422, "Invalid", message,
                         {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": path}]})


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _unprocessable(f'JSON pointer "{pointer}" must start with "/"', pointer)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, pointer: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit():
        raise _unprocessable(f"invalid array index {token!r} in {pointer}", pointer)
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise _unprocessable(f"array index out of bounds: {pointer}", pointer)
    return index


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise _unprocessable("cannot operate on the document root")
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, pointer, for_add=False)]
        else:
            raise _unprocessable(f"doc is missing path: {pointer}: missing value", pointer)
    return node, tokens[-1]


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in _tokens(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, pointer, for_add=False)]
        else:
            raise _unprocessable(f"doc is missing key: {pointer}: missing value", pointer)
    return node


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, pointer, for_add=True), value)
    else:
        raise _unprocessable(f"add operation does not apply: doc is missing path: {pointer}: missing value", pointer)
    return doc


def _remove(doc: Any, pointer: str) -> Any:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict) and token in parent:
        del parent[token]
    elif isinstance(parent, list):
        del parent[_index(parent, token, pointer, for_add=False)]
    else:
        raise _unprocessable(f"remove operation does not apply: doc is missing path: {pointer}: missing value", pointer)
    return doc


def _replace(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    _get(doc, pointer)  # must exist
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    else:
        parent[_index(parent, token, pointer, for_add=False)] = value
    return doc


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's, `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _operation(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op.get("op"), op.get("path")
    if not isinstance(path, str):
        raise _bad(f"missing 'path' in JSON patch operation {op}")
    if kind in ("add", "replace", "test") and "value" not in op:
        raise _bad(f"missing 'value' in JSON patch {kind} operation")
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)
    if kind == "replace":
        return _replace(doc, path, copy.deepcopy(op["value"]))
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise _bad(f"missing 'from' in JSON patch {kind} operation")
        value = copy.deepcopy(_get(doc, source))
        if kind == "move":
            doc = _remove(doc, source)
        return _add(doc, path, value)
    if kind == "test":
        if not _same(_get(doc, path), op["value"]):
            raise _unprocessable(f"testing value {path} failed: test failed", path)
        return doc
    raise _bad(f"Unexpected kind: {kind}")


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise _bad("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in operations:
        doc = _operation(doc, op)
    return doc
