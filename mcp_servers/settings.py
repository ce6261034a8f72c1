"""Where the MCP servers find the fleet: environment variables, or a YAML file with the same keys in lower case.

Every endpoint is optional until a tool needs it; a tool whose backend is not configured says which variable to
set. Secrets (bearer tokens, passwords) are read here and never logged or echoed in a tool's output.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from pathlib import Path

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr


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
        """The `verify` argument of httpx: the shared context for these TLS settings, made again when the CA file
        changes (a rotated Secret)."""
        verify = self.verify()
        return tls_context(verify, _modified(verify) if isinstance(verify, str) else None)


@functools.lru_cache(maxsize=16)
def tls_context(verify: bool | str = True, ca_modified: int | None = None) -> ssl.SSLContext:
    """One TLS context per setting (True: the CA bundle, SSL_CERT_FILE or SSL_CERT_DIR; a CA file or directory,
    with its modification time; False: no verification), shared by every httpx client: building one loads the CA
    bundle, which each tool call paid when it made its own client (bench/README.md). SSL_CERT_FILE and SSL_CERT_DIR are
    read at the first use. A caller never changes the context it gets (mTLS or HTTP/2 would need their own)."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


def _modified(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None  # then loading it says what is wrong


class Settings(BaseModel):
    """The configuration of all five servers."""

    model_config = ConfigDict(frozen=True)

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
    max_replicas: int = Field(default=32, ge=1, description="scale_deployment refuses more replicas than this")
    read_only: bool = False
    nvml: bool = Field(default=False, description="read GPUs through local NVML instead of DCGM metrics")
    kube_watch: bool = Field(default=True, description="serve reads of pods, nodes, replicasets and events from a "
                             "watch-fed mirror while its watches are live; false reads everything live")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
        """The config file (if any) first, then environment variables over it."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if config_file is not None:
            loaded = yaml.safe_load(config_file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{config_file}: expected a mapping of settings")
            values.update(loaded)
        values.update(_from_env(env))
        return cls.model_validate(values)


def _endpoint(env: Mapping[str, str], prefix: str) -> dict[str, object] | None:
    url = env.get(f"{prefix}_URL")
    if not url:
        return None
    token = env.get(f"{prefix}_BEARER_TOKEN")
    token_file = env.get(f"{prefix}_BEARER_TOKEN_FILE")
    if token_file and not token:
        token = Path(token_file).read_text().strip()
    fields = {"url": url, "bearer_token": token, "username": env.get(f"{prefix}_USERNAME"),
              "password": env.get(f"{prefix}_PASSWORD"), "ca_file": env.get(f"{prefix}_CA_FILE"),
              "insecure_skip_verify": _flag(env, f"{prefix}_INSECURE_SKIP_VERIFY"),
              "gzip": _flag(env, f"{prefix}_GZIP")}
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _from_env(env: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, prefix in (("prometheus", "PROMETHEUS"), ("alertmanager", "ALERTMANAGER"), ("loki", "LOKI")):
        endpoint = _endpoint(env, prefix)
        if endpoint is not None:
            values[key] = endpoint
    plain = {"kubeconfig": "KUBECONFIG", "kube_context": "KUBE_CONTEXT", "namespace": "FIREBREAK_NAMESPACE",
             "gateway_url": "GATEWAY_URL", "gateway_routes_configmap": "GATEWAY_ROUTES_CONFIGMAP",
             "gateway_namespace": "GATEWAY_NAMESPACE"}
    values.update({key: env[var] for key, var in plain.items() if env.get(var)})
    flags = {"read_only": "FIREBREAK_MCP_READ_ONLY", "nvml": "FIREBREAK_GPU_NVML", "kube_watch": "FIREBREAK_KUBE_WATCH"}
    values.update({key: _flag(env, var) for key, var in flags.items() if env.get(var)})
    return values


def _flag(env: Mapping[str, str], var: str) -> bool:
    return env.get(var, "").lower() in {"1", "true", "yes"}
