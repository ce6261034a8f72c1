"""One Prometheus client per endpoint, shared by the servers that read metrics (prometheus, gpu, gateway) and the
harness, and a pooled HTTP client for the APIs prometheus-api-client does not cover (Alertmanager, a gateway's
own API).

Both fail with a `BackendError` whose class is the kind, chosen by the type of what went wrong: a transport
error by its class, an HTTP error by its status, read off the response itself as it arrives (a session hook),
never out of an exception's text. The message is a sentence: the API's own error for bad PromQL, "Prometheus at
URL is unreachable: why" when it cannot be reached (the agent reads that as "I am blind"), and the variable to
set when nothing is configured.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from tenacity import retry, retry_if_exception_type, stop_after_attempt
from urllib3.util.retry import Retry

from mcp_servers.errors import BackendError, TimedOut, Unreachable, backend_error, transport_kind
from mcp_servers.failures import kind_of_status
from mcp_servers.settings import HttpEndpoint

TIMEOUT_S = 15
POOL_SIZE = 32  # connections kept per endpoint: more than the concurrent queries of one investigation
# One quick retry for a dropped connection or a restarting server (502, 503, 504 read as unreachable or timeout);
# the watcher calls every few seconds, so a blind Prometheus must be reported in well under a second.
once_more_when_unreachable = retry(retry=retry_if_exception_type((Unreachable, TimedOut)), stop=stop_after_attempt(2),
                                   reraise=True)


class HttpApi:
    """One HTTP API (Alertmanager, a gateway's admin API) over a pooled client made at the first call and kept
    until `close`."""

    def __init__(self, name: str, env_var: str, endpoint: HttpEndpoint | None, timeout_s: float = TIMEOUT_S) -> None:
        self.name, self.env_var, self._endpoint, self._timeout_s = name, env_var, endpoint, timeout_s
        self._client: httpx.Client | None = None
        self._made = threading.Lock()  # tools run in worker threads: two first calls must not make two pools

    @property
    def endpoint(self) -> HttpEndpoint:
        return configured(self.name, self.env_var, self._endpoint)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON of a call; an error status becomes the API's own message, with its kind."""
        try:
            response = self._pool().request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise unreachable(self.name, self.endpoint.base, error) from error
        if response.status_code >= 400:
            raise refusal(self.name, response.status_code, response.content)
        return response.json() if response.content else None

    def close(self) -> None:
        with self._made:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _pool(self) -> httpx.Client:
        with self._made:
            if self._client is None:
                endpoint = self.endpoint
                self._client = httpx.Client(base_url=endpoint.base, headers=endpoint.headers(), auth=endpoint.auth(),
                                            verify=endpoint.tls(), timeout=self._timeout_s)
            return self._client


class PrometheusApi:
    """prometheus-api-client's `PrometheusConnect` for one endpoint (made at the first call), failing with
    `BackendError`s. Get it with `prometheus_api`, so every reader of an endpoint shares one."""

    name = "Prometheus"

    def __init__(self, endpoint: HttpEndpoint | None) -> None:
        self._endpoint = endpoint
        self._opened: tuple[requests.Session, PrometheusConnect] | None = None
        self._opening = threading.Lock()  # the first calls race from worker threads (gathered queries)

    @property
    def endpoint(self) -> HttpEndpoint:
        return configured(self.name, "PROMETHEUS_URL", self._endpoint)

    def _open(self) -> tuple[requests.Session, PrometheusConnect]:
        """The session and the library's client over it, made once."""
        with self._opening:
            if self._opened is None:
                endpoint = self.endpoint
                session = session_for(endpoint)
                # retries are `once_more_when_unreachable`'s, so that they see the typed errors
                no_retry = Retry(total=0, raise_on_status=False)
                connect = PrometheusConnect(url=endpoint.base, headers=endpoint.headers() or None,
                                            auth=endpoint.auth(), session=session, retry=no_retry, timeout=TIMEOUT_S)
                # The library mounts requests' default pool of 10 connections for its URL; an investigation's
                # concurrent queries share this client from worker threads, and past the pool's size each extra
                # connection would be opened, used once and dropped.
                session.mount(connect.url, HTTPAdapter(max_retries=no_retry, pool_maxsize=POOL_SIZE))
                self._opened = session, connect
            return self._opened

    def query(self, promql: str, **params: str) -> list[Any]:
        """`data.result` of an instant query: a vector's or matrix's series, or a scalar's [time, value]."""
        return list(self._call(lambda api: api.custom_query(promql, params=params or None)))

    def query_range(self, promql: str, start: datetime, end: datetime, step: str) -> list[Any]:
        return list(self._call(lambda api: api.custom_query_range(promql, start_time=start, end_time=end, step=step)))

    def targets(self, state: str) -> dict[str, Any]:
        return dict(self._call(lambda api: api.get_targets(state=state)))

    def label_values(self, label: str) -> list[str]:
        return list(self._call(lambda api: api.get_label_values(label)))

    def metric_metadata(self) -> dict[str, dict[str, str]]:
        """Every metric family's metadata by name (type, help, unit)."""
        return {m["metric_name"]: m for m in self._call(lambda api: api.get_metric_metadata(metric=None))}

    def series(self, start: datetime, end: datetime, match: str) -> list[dict[str, str]]:
        return list(self._call(lambda api: api.get_series(start, end, params={"match[]": match})))

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts of Prometheus's rules (prometheus-api-client has no call for them)."""
        def get(_: PrometheusConnect) -> Any:
            endpoint = self.endpoint
            response = self._open()[0].get(f"{endpoint.base}/api/v1/alerts", headers=endpoint.headers(),
                                         auth=endpoint.auth(), timeout=TIMEOUT_S)
            return response.json()["data"]["alerts"]
        return list(self._call(get))

    @once_more_when_unreachable
    def _call(self, call: Callable[[PrometheusConnect], Any]) -> Any:  # the library's answers are untyped JSON
        try:
            return call(self._open()[1])
        except (requests.ConnectionError, requests.Timeout) as error:
            raise unreachable(self.name, self.endpoint.base, error) from error
        except PrometheusApiClientException as error:  # an answer that was no error status, yet no result
            raise BackendError(f"Prometheus refused the request: {str(error)[:500]}") from error


@functools.lru_cache(maxsize=8)  # bounded: an eval's many sandboxes each bring a Prometheus of their own
def prometheus_api(endpoint: HttpEndpoint | None) -> PrometheusApi:
    """The one client of this endpoint in this process (None: a client that says what to configure)."""
    return PrometheusApi(endpoint)


def session_for(endpoint: HttpEndpoint) -> requests.Session:
    """A session that takes the environment's proxy and CA bundle settings once, when made: left to requests, it
    reads the whole environment again before every query. Credentials come from the settings only, never from
    ~/.netrc. An error status raises its `BackendError` as the response arrives."""
    session = requests.Session()
    found = session.merge_environment_settings(endpoint.base, {}, None, endpoint.verify(), None)
    session.proxies, session.verify = found["proxies"], found["verify"]
    session.trust_env = False
    session.hooks["response"].append(_raise_error_status)
    return session


def _raise_error_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code >= 400:
        raise refusal("Prometheus", response.status_code, response.content)


def refusal(name: str, status: int, body: bytes) -> BackendError:
    """An error status, as the error of its kind in the API's own words."""
    return backend_error(kind_of_status(status), explain(name, status, body))


def configured(name: str, env_var: str, endpoint: HttpEndpoint | None) -> HttpEndpoint:
    if endpoint is None:
        raise Unreachable(f"{name} is not configured: set {env_var} (or `{name.lower()}: {{url: ...}}` in the config "
                          "file)")
    return endpoint


def unreachable(name: str, base: str, error: Exception) -> BackendError:
    """A failure to get an answer at all, as "NAME at URL is unreachable: why"."""
    kind = "timeout" if isinstance(error, requests.Timeout) else transport_kind(error)
    return backend_error(kind, f"{name} at {base} is unreachable: {_reason(error)}")


def _reason(error: Exception) -> str:
    """The root cause of a connection failure, without a pool's worth of repr."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    if isinstance(error, (requests.Timeout, httpx.TimeoutException)):
        return f"no answer within {TIMEOUT_S} s"
    return text[:300] or type(error).__name__


def explain(name: str, status: int, body: bytes) -> str:
    """An API's error JSON ("invalid parameter \"query\": 1:5: parse error: ...") as one sentence."""
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body.decode(errors="replace").strip()
    if isinstance(decoded, dict):
        message = str(decoded.get("error") or decoded.get("message") or decoded)
        if decoded.get("errorType") == "execution":
            return f"the query failed in {name}: {message}"
    else:
        message = str(decoded)
    bad = re.match(r'invalid parameter "([^"]+)": (.*)', message, re.S)
    if bad:
        what = {"query": "PromQL", "match[]": "series selector"}.get(bad.group(1), bad.group(1))
        return f"bad {what}: {bad.group(2)}"
    return f"{name} answered HTTP {status}: {message[:500]}"
