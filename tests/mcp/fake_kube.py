"""A read-only Kubernetes API that serves fixed objects: real clusters' objects (tests/fixtures/real/kubernetes)
read by the kubernetes MCP tools as they read any cluster's, with list, get and label/field selectors."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


class _Handler(BaseHTTPRequestHandler):
    objects: dict[str, list[Obj]] = {}

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        if not match or match.group(2) not in self.objects:
            return self._answer(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                                      "message": f"the server could not find the requested resource ({url.path})"})
        namespace, resource, name = match.groups()
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        items = [o for o in self.objects[resource] if namespace in (None, o["metadata"].get("namespace"))
                 and _selected(o, query.get("labelSelector", ""), query.get("fieldSelector", ""))]
        if name is None:
            return self._answer(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                                      "items": items})
        found = [o for o in items if o["metadata"]["name"] == name]
        if not found:
            return self._answer(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                                      "message": f'{resource} "{name}" not found'})
        return self._answer(200, found[0])

    def _answer(self, status: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the standard library's signature)
        pass


@contextmanager
def serving(fixtures: Path, workdir: Path) -> Iterator[Path]:
    """Serves every `<resource>.json` List in `fixtures`; yields a kubeconfig that points at it."""
    handler = type("Handler", (_Handler,), {"objects": {
        path.stem: json.loads(path.read_text())["items"] for path in fixtures.glob("*.json")}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fixtures",
        "clusters": [{"name": "fixtures", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "reader", "user": {}}],
        "contexts": [{"name": "fixtures", "context": {"cluster": "fixtures", "user": "reader",
                                                      "namespace": "inference"}}]}))
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
