"""Where a gateway keeps its routing table, behind one small interface, so the gateway tools work with any gateway.

An adapter reads the table (weights per model and backend, the store's version, the recent changes) and writes
a whole table back. Writes are optimistic: a table carries the version it was read at, and a write against an
older version raises `RoutesConflict` instead of overwriting someone else's edit; the caller reads again and
re-applies its change. Every write records its idempotency key in the store itself, in the same update, so a
key is applied at most once even when the caller retries or the server restarts.

`ConfigMapRoutes` serves a LiteLLM proxy whose config.yaml lives in a Kubernetes ConfigMap (as LiteLLM's helm
chart mounts it): `model_list` entries share a `model_name` per model, one per backend, each with
`litellm_params.weight` for the simple-shuffle strategy; the backend is told by the provider prefix of
`litellm_params.model` (`hosted_vllm/...` is self-hosted). A write sets the weights of existing entries only: a
new backend needs its credentials, which are no routing decision. Other gateways plug in as another class with
the same three members, chosen in `mcp_servers.gateway.server.build`:

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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from mcp_servers.errors import BackendError, Conflict
from mcp_servers.failures import Failure
from mcp_servers.gateway.table import RouteChange, RoutingTable, Weights
from mcp_servers.kubernetes.client import Kube, VersionConflict
from mcp_servers.kubernetes.objects import ApiObject, annotations_of
from mcp_servers.settings import PROVIDER_BACKENDS

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

    def __init__(self, kube: Kube, namespace: str, name: str, key: str = "config.yaml",
                 provider_backends: Mapping[str, str] | None = None) -> None:
        self.namespace, self.name, self.key = namespace, name, key
        self.provider_backends = dict(PROVIDER_BACKENDS if provider_backends is None else provider_backends)
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
            models = self._weights(doc)
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
            raise BackendError(f"{self.location} key {self.key}: expected LiteLLM's config with a model_list")
        return doc

    def _backend(self, entry: Any) -> tuple[str, str]:
        """(model group, backend) of a model_list entry."""
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        if not isinstance(params, dict) or not isinstance(params.get("model"), str):
            raise BackendError(f"{self.location} key {self.key}: a model_list entry lacks litellm_params.model")
        provider = params["model"].split("/", 1)[0]
        return str(entry.get("model_name")), self.provider_backends.get(provider, provider)

    def _weights(self, doc: dict[str, Any]) -> dict[str, Weights]:
        models: dict[str, Weights] = {}
        for entry in doc.get("model_list") or []:
            model, backend = self._backend(entry)
            models.setdefault(model, {})[backend] = round(entry["litellm_params"].get("weight", 0))
        return models

    def _render(self, cm: ApiObject, models: dict[str, Weights]) -> str:
        """The new config.yaml: each entry's weight set from the table, everything else kept as it was."""
        doc = self._document(cm)
        present = set()
        for entry in doc.get("model_list") or []:
            model, backend = self._backend(entry)
            present.add((model, backend))
            if model in models:  # a backend the new weights leave out gets none
                entry["litellm_params"]["weight"] = models[model].get(backend, 0)
        missing = sorted(f"{m}/{b}" for m, weights in models.items() for b, w in weights.items()
                         if w > 0 and (m, b) not in present)
        if missing:
            raise Failure("bad_input", f"{self.location} has no model_list entry for {', '.join(missing)}: a "
                          "backend must be configured (with its credentials) before traffic can move to it")
        return yaml.safe_dump(doc, sort_keys=False)
