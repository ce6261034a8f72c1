"""Where a gateway keeps its routing table, behind one small interface, so the gateway tools work with any gateway.

An adapter reads the table (weights per model and backend, the store's version, the recent changes) and writes
a whole table back. Writes are optimistic: a table carries the version it was read at, and a write against an
older version raises `RoutesConflict` instead of overwriting someone else's edit; the caller reads again and
re-applies its change. Every write records its idempotency key in the store itself, in the same update, so a
key is applied at most once even when the caller retries or the server restarts.

`ConfigMapRoutes` serves gateways that read their routes from a Kubernetes ConfigMap (Firebreak's inference
gateway: `models: {model: {backend: weight}}` in key `routes.yaml`). Other gateways plug in as another class
with the same three members, chosen in `mcp_servers.gateway.server.build`:

- LiteLLM proxy: models are deployments sharing a `model_name`, each with `litellm_params.weight`. Read with
  `GET /model/info`; write each model's deployments with `POST /model/update` (master key from the settings).
  The proxy has no version to compare, so the adapter takes a hash of the model list as `version` and checks it
  again right before writing; idempotency keys go in each deployment's `model_info` metadata.
- Envoy AI Gateway: an `AIGatewayRoute` custom resource per route, whose rules list `backendRefs` with
  `weight`. Read and replace it through the Kubernetes CustomObjectsApi; `metadata.resourceVersion` gives the
  same optimistic concurrency as here, and the keys go in an annotation of the route, as here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from mcp_servers.errors import BackendError, Conflict, Unreachable, backend_error, transport_kind
from mcp_servers.failures import kind_of_status
from mcp_servers.gateway.table import RouteChange, RoutingTable, Weights
from mcp_servers.kubernetes.client import KubeConfigMissing, load_configuration

CHANGES_ANNOTATION = "firebreak.io/route-changes"
MAX_CHANGES = 50  # recent changes kept in the annotation: enough for any retry window, small enough for etcd
TIMEOUT_S = 10


class RoutesConflict(Conflict):
    """The table changed since it was read: read it again and re-apply the change."""


class GatewayAdapter(Protocol):
    kind: str
    location: str  # where the routes live, for messages: "ConfigMap inference/gateway-routes"

    def read_routes(self) -> RoutingTable: ...

    def write_routes(self, table: RoutingTable, reason: str, idempotency_key: str, dry_run: bool) -> RoutingTable:
        """Stores `table.models` if the store is still at `table.version`; returns what is (or would be) stored."""
        ...

    def close(self) -> None:
        """Releases connections when the server stops; a later call connects again."""
        ...


class ConfigMapRoutes:
    """The routing table in a ConfigMap key, written with the ConfigMap's resourceVersion as precondition."""

    kind = "configmap"

    def __init__(self, namespace: str, name: str, key: str = "routes.yaml", *, kubeconfig: str | None = None,
                 context: str | None = None) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        self.location = f"ConfigMap {namespace}/{name}"
        self._kubeconfig, self._context = kubeconfig, context
        self._core: client.CoreV1Api | None = None

    def read_routes(self) -> RoutingTable:
        return self._table(self._read())

    def write_routes(self, table: RoutingTable, reason: str, idempotency_key: str, dry_run: bool) -> RoutingTable:
        current = self._read()
        stored = self._table(current)
        if stored.version != table.version:
            raise RoutesConflict(f"{self.location} changed since it was read")
        changed = {m: w for m, w in table.models.items() if stored.models.get(m) != w}
        record = RouteChange(idempotency_key=idempotency_key, at=datetime.now(UTC).isoformat(timespec="seconds"),
                             reason=reason, changed=changed)
        history = [*stored.changes, record][-MAX_CHANGES:]
        current.data = {**(current.data or {}), self.key: self._render(current, table.models)}
        meta = self._metadata(current)
        meta.annotations = {**(meta.annotations or {}), CHANGES_ANNOTATION: json.dumps(
            [c.model_dump() for c in history], separators=(",", ":"))}
        # current.metadata.resource_version is table.version: the API server refuses the update if it moved on.
        written = self._call(lambda core: core.replace_namespaced_config_map(
            self.name, self.namespace, current, dry_run="All" if dry_run else None, _request_timeout=TIMEOUT_S))
        return self._table(written)

    def close(self) -> None:
        # Idle keep-alive connections would otherwise hold up the API server's graceful shutdown.
        if self._core is not None:
            self._core.api_client.close()
            self._core = None

    # -- the ConfigMap ----------------------------------------------------------------------------------------
    def _read(self) -> client.V1ConfigMap:
        return self._call(lambda core: core.read_namespaced_config_map(self.name, self.namespace,
                                                                        _request_timeout=TIMEOUT_S))

    def _table(self, cm: client.V1ConfigMap) -> RoutingTable:
        doc, meta = self._document(cm), self._metadata(cm)
        raw_changes = (meta.annotations or {}).get(CHANGES_ANNOTATION, "[]")
        try:
            models = doc.get("models") or {}
            changes = json.loads(raw_changes)
            return RoutingTable.model_validate({"models": models, "version": meta.resource_version,
                                                "changes": changes})
        except (ValidationError, json.JSONDecodeError) as error:
            raise BackendError(f"{self.location} does not hold a valid routing table: {error}") from None

    @staticmethod
    def _metadata(cm: client.V1ConfigMap) -> client.V1ObjectMeta:
        assert cm.metadata is not None  # the API server always sends it; the client's models type every field optional
        return cm.metadata

    def _document(self, cm: client.V1ConfigMap) -> dict[str, Any]:
        text = (cm.data or {}).get(self.key, "")
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise BackendError(f"{self.location} key {self.key} is not valid YAML: {error}") from None
        if not isinstance(doc, dict):
            raise BackendError(f"{self.location} key {self.key}: expected a mapping with 'models'")
        return doc

    def _render(self, cm: client.V1ConfigMap, models: dict[str, Weights]) -> str:
        """The new `routes.yaml`: other top-level keys the gateway may read are kept as they were."""
        return yaml.safe_dump({**self._document(cm), "models": models}, sort_keys=False)

    # -- the Kubernetes API -----------------------------------------------------------------------------------
    def _call(self, request: Any) -> Any:
        try:
            return request(self._api())
        except ApiException as error:
            raise self._api_error(error) from None
        except HTTPError as error:
            raise backend_error(transport_kind(error),
                                f"cannot reach the Kubernetes API for {self.location}: {error}") from None

    def _api_error(self, error: ApiException) -> BackendError:
        if error.status == 409:
            return RoutesConflict(f"{self.location} changed since it was read")
        if error.status == 404:
            return backend_error("not_found", f"{self.location} not found: is the gateway's routes ConfigMap named "
                                 "differently (GATEWAY_ROUTES_CONFIGMAP, GATEWAY_NAMESPACE)?")
        try:
            message = json.loads(error.body or "{}").get("message") or error.reason
        except json.JSONDecodeError:
            message = error.reason
        return backend_error(kind_of_status(int(error.status or 0)),
                             f"the Kubernetes API refused access to {self.location} ({error.status}): {message}")

    def _api(self) -> client.CoreV1Api:
        """Connects on first use, so a server without Kubernetes access still starts and says why on a call."""
        if self._core is None:
            try:
                configuration = load_configuration(self._kubeconfig, self._context)
            except KubeConfigMissing as error:
                raise Unreachable(str(error)) from None
            self._core = client.CoreV1Api(client.ApiClient(configuration))
        return self._core
