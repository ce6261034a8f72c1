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
from pydantic import ValidationError

from mcp_servers.errors import BackendError, Conflict
from mcp_servers.gateway.table import RouteChange, RoutingTable, Weights
from mcp_servers.kubernetes.client import Kube, VersionConflict
from mcp_servers.kubernetes.objects import ApiObject, annotations_of

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
    """The routing table in a ConfigMap key, written with the ConfigMap's resourceVersion as precondition.

    It reaches the cluster through `kube`, which it owns from then on: `close` closes it."""

    kind = "configmap"

    def __init__(self, kube: Kube, namespace: str, name: str, key: str = "routes.yaml") -> None:
        self.namespace, self.name, self.key = namespace, name, key
        self.location = f"ConfigMap {namespace}/{name}"
        self._kube = kube

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
        current["data"] = {**(current.get("data") or {}), self.key: self._render(current, table.models)}
        current["metadata"]["annotations"] = {**annotations_of(current), CHANGES_ANNOTATION: json.dumps(
            [c.model_dump() for c in history], separators=(",", ":"))}
        # current's metadata.resourceVersion is table.version: the API server refuses the update if it moved on.
        try:
            written = self._kube.call(self._kube.core.replace_namespaced_config_map, self.name, self.namespace,
                                      current, dry_run="All" if dry_run else None, missing=self._missing(),
                                      _request_timeout=TIMEOUT_S)
        except VersionConflict:
            raise RoutesConflict(f"{self.location} changed since it was read") from None
        return self._table(written)

    def close(self) -> None:
        self._kube.close()

    # -- the ConfigMap ----------------------------------------------------------------------------------------
    def _read(self) -> ApiObject:
        return self._kube.call(self._kube.core.read_namespaced_config_map, self.name, self.namespace,
                               missing=self._missing(), _request_timeout=TIMEOUT_S)

    def _missing(self) -> str:
        return (f"{self.location} not found: is the gateway's routes ConfigMap named differently "
                "(GATEWAY_ROUTES_CONFIGMAP, GATEWAY_NAMESPACE)?")

    def _table(self, cm: ApiObject) -> RoutingTable:
        doc = self._document(cm)
        raw_changes = annotations_of(cm).get(CHANGES_ANNOTATION, "[]")
        try:
            models = doc.get("models") or {}
            changes = json.loads(raw_changes)
            return RoutingTable.model_validate({"models": models, "version": cm["metadata"].get("resourceVersion"),
                                                "changes": changes})
        except (ValidationError, json.JSONDecodeError) as error:
            raise BackendError(f"{self.location} does not hold a valid routing table: {error}") from None

    def _document(self, cm: ApiObject) -> dict[str, Any]:
        text = (cm.get("data") or {}).get(self.key, "")
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise BackendError(f"{self.location} key {self.key} is not valid YAML: {error}") from None
        if not isinstance(doc, dict):
            raise BackendError(f"{self.location} key {self.key}: expected a mapping with 'models'")
        return doc

    def _render(self, cm: ApiObject, models: dict[str, Weights]) -> str:
        """The new `routes.yaml`: other top-level keys the gateway may read are kept as they were."""
        return yaml.safe_dump({**self._document(cm), "models": models}, sort_keys=False)
