"""The gateway's own HTTP API, asked at best: the routes it reports in force and the models it serves. A gateway
without it (or one that cannot be reached) only leaves those answers unknown."""

from __future__ import annotations

from mcp_servers.errors import BackendError
from mcp_servers.gateway.table import Weights
from mcp_servers.prometheus.client import HttpApi
from mcp_servers.settings import HttpEndpoint

TIMEOUT_S = 10.0
UNREADABLE = (BackendError, ValueError, KeyError, TypeError)  # no answer, or not the answer expected


class GatewayApi:
    """Over one pooled client, made at the first call; None from every call when no URL is configured."""

    def __init__(self, url: str | None) -> None:
        self._api = HttpApi("the gateway", "GATEWAY_URL", HttpEndpoint(url=url), TIMEOUT_S) if url else None

    def routes_in_force(self) -> tuple[dict[str, Weights], str | None] | None:
        """The routes the gateway itself says it uses, and its last error loading them."""
        if self._api is None:
            return None
        try:
            body = self._api.request("GET", "/routes")
            return dict(body["routes"]), body.get("reload_error")
        except UNREADABLE:
            return None

    def models(self) -> list[str] | None:
        """The models the gateway serves (its /v1/models)."""
        if self._api is None:
            return None
        try:
            return [str(m["id"]) for m in self._api.request("GET", "/v1/models")["data"]]
        except UNREADABLE:
            return None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
