"""Where the MCP servers find the fleet: a YAML file (`--config`), and environment variables over it.

The variables are the well-known names (`KUBECONFIG`, `PROMETHEUS_URL` with `PROMETHEUS_BEARER_TOKEN[_FILE]`,
`_USERNAME`, `_PASSWORD[_FILE]`, `_CA_FILE`, `_INSECURE_SKIP_VERIFY`, `_GZIP`, the same for `ALERTMANAGER_` and
`LOKI_`, `GATEWAY_URL`, ...: `well_known_variables`), and any setting under the prefix `FIREBREAK_`
(`FIREBREAK_MAX_REPLICAS=8`, `FIREBREAK_LOKI__URL`), which wins over them.

Every endpoint is optional until a tool needs it; a tool whose backend is not configured says which variable to
set. Secrets (bearer tokens, passwords) are read here and never logged or echoed in a tool's output.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import InitSettingsSource, SettingsConfigDict

from mcp_servers.settings_sources import LayeredSettings, with_secret_files


class HttpEndpoint(BaseModel):
    """An HTTP API with optional bearer or basic auth and TLS settings (Prometheus, Alertmanager, Loki)."""

    model_config = ConfigDict(frozen=True)

    url: str
    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    # Ask for gzip-compressed answers only across a slow link (a Prometheus outside the cluster): on a LAN or
    # loopback, the server's compressing costs more than the bytes it saves (bench/prometheus_gzip.py).
    gzip: bool = False

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    def headers(self) -> dict[str, str]:
        """The headers of every request: the bearer token, if any, and the encoding asked for."""
        headers = {"Accept-Encoding": "gzip" if self.gzip else "identity"}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        return headers

    def auth(self) -> tuple[str, str] | None:
        if self.username is None:
            return None
        return self.username, self.password.get_secret_value() if self.password else ""

    def verify(self) -> bool | str:
        """The `verify` argument of requests."""
        if self.insecure_skip_verify:
            return False
        return self.ca_file or True

    def tls(self) -> ssl.SSLContext:
        """The `verify` argument of httpx for these TLS settings. Loading a CA bundle is costly: a client built
        once per endpoint calls this once."""
        return tls_context(self.verify())


def tls_context(verify: bool | str = True) -> ssl.SSLContext:
    """The TLS context of a verification setting: True, the CA bundle (or SSL_CERT_FILE / SSL_CERT_DIR); a CA
    file or directory; False, no verification."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


# Provider names (LiteLLM's api_provider and model prefix, OTel's gen_ai.provider.name) that are not the fleet's
# backend names; any other provider name is the backend's own.
PROVIDER_BACKENDS = {"hosted_vllm": "self-hosted", "vllm": "self-hosted", "gemini": "google", "vertex_ai": "google",
                     "gcp.vertex_ai": "google"}


class Settings(LayeredSettings):
    """The configuration of all five servers."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kubeconfig: str | None = None  # None: $KUBECONFIG, ~/.kube/config, then in-cluster
    kube_context: str | None = None
    namespace: str = "inference"
    prometheus: HttpEndpoint | None = None
    alertmanager: HttpEndpoint | None = None
    loki: HttpEndpoint | None = None
    gateway_url: str | None = None
    gateway_routes_configmap: str = "gateway-routes"
    gateway_namespace: str | None = None  # the ConfigMap's namespace; default: `namespace`
    gateway_backends: tuple[str, ...] = ("self-hosted", "anthropic", "openai", "google")
    gateway_flavor: Literal["litellm", "envoy-ai-gateway"] = Field(
        default="litellm", description="the gateway whose metrics and routes config the gateway server reads")
    gateway_provider_backends: dict[str, str] = Field(
        default_factory=lambda: dict(PROVIDER_BACKENDS),
        description="the gateway's provider names (LiteLLM api_provider, OTel gen_ai.provider.name) that differ "
        "from the backend names; others are the backend's own name")
    served_model_names: dict[str, str] = Field(
        default_factory=dict,
        description="deployment -> the name vLLM serves its model as (`--served-model-name`), which labels its "
        "metrics `model_name`; without `--served-model-name` vLLM uses the `--model` value, often a Hugging Face id. "
        "A deployment not listed serves under its own name")
    max_replicas: int = Field(default=32, ge=1, description="scale_deployment refuses more replicas than this")
    read_only: bool = False
    nvml: bool = Field(default=False, description="read GPUs through local NVML instead of DCGM metrics")
    kube_watch: bool = Field(default=True, description="serve reads of pods, nodes, replicasets and events from a "
                             "watch-fed mirror while its watches are live; false reads everything live")

    def served_model_name(self, deployment: str) -> str:
        return self.served_model_names.get(deployment, deployment)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
        """The config file (if any) first, then the well-known variables over it, then the prefixed ones."""
        env = os.environ if env is None else env
        return cls.from_sources(what="MCP server settings", env=env, yaml_file=config_file,
                                also=[InitSettingsSource(cls, well_known_variables(env))])


ENDPOINTS = {"prometheus": "PROMETHEUS", "alertmanager": "ALERTMANAGER", "loki": "LOKI"}
PLAIN_VARIABLES = {"kubeconfig": "KUBECONFIG", "kube_context": "KUBE_CONTEXT", "namespace": "FIREBREAK_NAMESPACE",
                   "gateway_url": "GATEWAY_URL", "gateway_routes_configmap": "GATEWAY_ROUTES_CONFIGMAP",
                   "gateway_namespace": "GATEWAY_NAMESPACE", "gateway_flavor": "GATEWAY_FLAVOR"}
FLAG_VARIABLES = {"read_only": "FIREBREAK_MCP_READ_ONLY", "nvml": "FIREBREAK_GPU_NVML",
                  "kube_watch": "FIREBREAK_KUBE_WATCH"}


def well_known_variables(env: Mapping[str, str]) -> dict[str, object]:
    """The settings under the names the ecosystem gives them (KUBECONFIG, PROMETHEUS_URL, ...), which the
    servers have always read. An endpoint named here replaces the file's as a whole, so that a token the file
    gives one server is never sent to another."""
    env = with_secret_files(env, [f"{prefix}_{secret}" for prefix in ENDPOINTS.values()
                                  for secret in ("BEARER_TOKEN", "PASSWORD")])
    values: dict[str, object] = {key: env[var] for key, var in PLAIN_VARIABLES.items() if env.get(var)}
    values.update({key: _flag(env, var) for key, var in FLAG_VARIABLES.items() if env.get(var)})
    for key, prefix in ENDPOINTS.items():
        if env.get(f"{prefix}_URL"):
            values[key] = _endpoint(env, prefix)
    return values


def _endpoint(env: Mapping[str, str], prefix: str) -> HttpEndpoint:
    fields = {"url": env[f"{prefix}_URL"], "bearer_token": env.get(f"{prefix}_BEARER_TOKEN"),
              "username": env.get(f"{prefix}_USERNAME"), "password": env.get(f"{prefix}_PASSWORD"),
              "ca_file": env.get(f"{prefix}_CA_FILE"),
              "insecure_skip_verify": _flag(env, f"{prefix}_INSECURE_SKIP_VERIFY"),
              "gzip": _flag(env, f"{prefix}_GZIP")}
    return HttpEndpoint.model_validate({k: v for k, v in fields.items() if v not in (None, "")})


def _flag(env: Mapping[str, str], var: str) -> bool:
    return env.get(var, "").lower() in {"1", "true", "yes"}
