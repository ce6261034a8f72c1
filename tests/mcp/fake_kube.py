"""A read-only Kubernetes API that serves fixed objects: real clusters' objects (tests/fixtures/real/kubernetes)
read by the kubernetes MCP tools as they read any cluster's, with list, get and label/field selectors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.json_server import json_server

Obj = dict[str, Any]
# /api/v1[/namespaces/NS]/RESOURCE[/NAME] and /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME]
_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/v1)(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?$")


def _fields(obj: Obj, path: str) -> Any:
    value: Any = obj
    for step in path.split("."):
        value = (value or {}).get(step)
    return value


def _selected(obj: Obj, labels: str, fields: str) -> bool:
    have = obj["metadata"].get("labels") or {}
    wanted_labels = [term.split("=", 1) for term in labels.split(",") if term]
    wanted_fields = [term.split("=", 1) for term in fields.split(",") if term]
    return (all(have.get(k) == v for k, v in wanted_labels)
            and all(str(_fields(obj, k) or "") == v for k, v in wanted_fields))


def _not_found(message: str) -> tuple[int, Obj]:
    return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": message}


def _answer(objects: dict[str, list[Obj]], path: str) -> tuple[int, Obj]:
    url = urlsplit(path)
    match = _PATH.match(url.path)
    if not match or match.group(2) not in objects:
        return _not_found(f"the server could not find the requested resource ({url.path})")
    namespace, resource, name = match.groups()
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    items = [o for o in objects[resource] if namespace in (None, o["metadata"].get("namespace"))
             and _selected(o, query.get("labelSelector", ""), query.get("fieldSelector", ""))]
    if name is None:
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
    found = [o for o in items if o["metadata"]["name"] == name]
    return (200, found[0]) if found else _not_found(f'{resource} "{name}" not found')


@contextmanager
def serving(fixtures: Path, workdir: Path) -> Iterator[Path]:
    """Serves every `<resource>.json` List in `fixtures`; yields a kubeconfig that points at it."""
    objects = {path.stem: json.loads(path.read_text())["items"] for path in fixtures.glob("*.json")}
    with json_server(lambda path: _answer(objects, path)) as url:
        yield _kubeconfig(url, workdir)


def _kubeconfig(server: str, workdir: Path) -> Path:
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fixtures",
        "clusters": [{"name": "fixtures", "cluster": {"server": server}}],
        "users": [{"name": "reader", "user": {}}],
        "contexts": [{"name": "fixtures", "context": {"cluster": "fixtures", "user": "reader",
                                                      "namespace": "inference"}}]}))
    return kubeconfig
