"""A Kubernetes-API-compatible HTTP layer over the sandbox's `Store`, for kubectl, client-go and the Python
client. `build_app(store, token, logs)` returns the ASGI application."""

from sandbox.apiserver.app import build_app
from sandbox.apiserver.logs import LogReader

__all__ = ["LogReader", "build_app"]
