"""The Kubernetes API as the kubernetes and logs servers use it: one long-lived client, answers as plain JSON.

Responses are read raw (`_preload_content=False`) and parsed as the API's own JSON: the tools summarise a few
fields of many objects, and building the client's typed models for every pod would cost more than the call.
Every failure is raised here as a `BackendError` of its kind, with a sentence a person understands: a missing
object by its name, an unreachable server by its URL, anything else with the API server's own message. The
few statuses a caller routes on have a class of their own (`Forbidden`, `VersionConflict`, `Gone`, `Throttled`),
and so does a request that got no answer at all (`Unanswered`: a write may or may not have been done).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.utils.keepalive import tcp_keepalive_socket_options

from mcp_servers.errors import (
    BackendError,
    Conflict,
    NotFound,
    TimedOut,
    Unauthorized,
    Unreachable,
    backend_error,
    transport_kind,
)
from mcp_servers.failures import kind_of_status
from mcp_servers.kubernetes.objects import ApiObject
from mcp_servers.settings import Settings

TIMEOUT = (5, 30)  # seconds to connect, to read
KEEPALIVE = (10, 5, 3)  # TCP keepalive: first probe after 10 s idle, then every 5 s, dead after 3 unanswered
WRITE_VERBS = ("create_", "patch_", "replace_", "delete_")  # the client's method names for writes
PAGE = 500  # objects per request of a cluster-wide list, as client-go's pager asks

_requests_barred: ContextVar[bool] = ContextVar("kube_requests_barred", default=False)
P = ParamSpec("P")
T = TypeVar("T")


class Forbidden(Unauthorized):
    """403: the credentials are known, the request is not allowed to them (RBAC)."""


class VersionConflict(Conflict):
    """409: the object changed since it was read (its resourceVersion no longer matches): read it again."""


class Gone(NotFound):
    """410: a resourceVersion or `continue` token older than the API server's history."""


class Throttled(Conflict):
    """429: refused for now, as an eviction that a PodDisruptionBudget blocks."""


class Unanswered(BackendError):
    """No answer came (no connection, or none in time): a write may or may not have been done."""


class ConnectionFailed(Unanswered, Unreachable):
    pass


class AnswerTimedOut(Unanswered, TimedOut):
    pass


class KubeConfigMissing(Unreachable):
    """No kubeconfig, context or service account to reach a cluster with."""


_BY_STATUS: dict[int, type[BackendError]] = {403: Forbidden, 409: VersionConflict, 410: Gone, 429: Throttled}


def refusal(status: int, message: str) -> BackendError:
    """The error of an API server's answer with this HTTP status."""
    routed = _BY_STATUS.get(status)
    return routed(message) if routed else backend_error(kind_of_status(status), message)


class RequestNeeded(BaseException):
    """Raised instead of making a request where `no_requests` bars them. A BaseException, as GeneratorExit is:
    control flow that no handler of failures may take for one."""


@contextmanager
def no_requests() -> Iterator[None]:
    """Within it, a call that would reach the API server (or first load the client's configuration) raises
    RequestNeeded before doing any I/O: code on an event loop can try to answer from memory alone."""
    token = _requests_barred.set(True)
    try:
        yield
    finally:
        _requests_barred.reset(token)


def _before_io(what: str) -> None:
    if _requests_barred.get():
        raise RequestNeeded(what)


def on_loop_else_thread(read: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """A read tool that runs on the event loop as long as it makes no request (the watch mirror holds all it
    reads), and starts over in a worker thread at its first one: a read has no effect to undo. FastMCP runs a
    plain function in a worker thread on every call, a hop that costs more than a mirrored read itself
    (bench/README.md)."""
    @functools.wraps(read)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            with no_requests():
                return read(*args, **kwargs)
        except RequestNeeded:
            return await anyio.to_thread.run_sync(functools.partial(read, *args, **kwargs))
    return run


class Kube:
    """The cluster of one server's settings, for the server's lifetime; the API client is made on the first call,
    so a server builds without a cluster, and reuses its connections from then on."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._api: client.ApiClient | None = None
        self._lock = threading.Lock()
        self._after_write: list[Callable[[str], None]] = []

    def after_write(self, listener: Callable[[str], None]) -> None:
        """`listener(method_name)` runs after every write this client makes (not a dry run) that may have changed
        something: one that succeeded, or whose answer was a server error or never came. A refusal (4xx) did not."""
        self._after_write.append(listener)

    @property
    def api(self) -> client.ApiClient:
        api = self._api
        if api is not None:
            return api
        _before_io("load the client configuration")  # before the lock, which a thread loading it may hold long
        with self._lock:
            if self._api is None:
                self._api = client.ApiClient(
                    load_configuration(self.settings.kubeconfig, self.settings.kube_context))
            return self._api

    def close(self) -> None:
        """Closes idle keep-alive connections, which would hold an API server's graceful shutdown open."""
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.close()

    @property
    def url(self) -> str:
        return str(self.api.configuration.host)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def policy(self) -> client.PolicyV1Api:
        return client.PolicyV1Api(self.api)

    def namespace(self, requested: str | None) -> str | None:
        """The settings' namespace by default; None (every namespace) for "*" or "all"."""
        if requested in ("*", "all"):
            return None
        return requested or self.settings.namespace

    def call(self, method: Callable[..., Any], *args: Any, missing: str | None = None, **kwargs: Any) -> ApiObject:
        """Calls one API method; `missing` is the message for a 404 ("pod X not found in namespace Y")."""
        data = self._raw(method, *args, missing=missing, **kwargs)
        return json.loads(data) if data else {}

    def list_all(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> ApiObject:
        """A list call's whole answer, asked for PAGE objects at a time as client-go's pager asks, so that the API
        server never builds one answer of every pod or event of a large cluster. The answer carries the first
        page's resourceVersion: every page comes from that snapshot, and a watch resumed from it misses nothing.
        When the server has forgotten a `continue` (410 Gone), the list is made again in one request."""
        first = self.call(method, *args, limit=PAGE, **kwargs)
        items = list(first.get("items") or [])
        token = (first.get("metadata") or {}).get("continue")
        while token:
            try:
                page = self.call(method, *args, limit=PAGE, _continue=token, **kwargs)
            except Gone:
                return self.call(method, *args, **kwargs)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
        paging = ("continue", "remainingItemCount")
        metadata = {k: v for k, v in (first.get("metadata") or {}).items() if k not in paging}
        return {**first, "metadata": metadata, "items": items}

    def text(self, method: Callable[..., Any], *args: Any, missing: str | None = None, **kwargs: Any) -> str:
        """Like `call`, for the few endpoints that answer plain text (pod logs)."""
        return self._raw(method, *args, missing=missing, **kwargs).decode("utf-8", errors="replace")

    def stream(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """The open urllib3 response of a streaming call (a watch): read it as it comes, then `release_conn()`."""
        return self._request(method, *args, missing=None, **kwargs)

    def _raw(self, method: Callable[..., Any], *args: Any, missing: str | None, **kwargs: Any) -> bytes:
        return bytes(self._request(method, *args, missing=missing, **kwargs).data or b"")

    def _request(self, method: Callable[..., Any], *args: Any, missing: str | None, **kwargs: Any) -> Any:
        name = getattr(method, "__name__", "")
        _before_io(name)
        kwargs.setdefault("_request_timeout", TIMEOUT)
        changed = name.startswith(WRITE_VERBS) and not kwargs.get("dry_run")
        try:
            return method(*args, _preload_content=False, **kwargs)
        except ApiException as error:
            changed = changed and int(error.status or 0) >= 500
            if error.status == 404 and missing:
                raise refusal(404, missing) from None
            raise refusal(int(error.status or 0), api_message(error)) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            unanswered = AnswerTimedOut if transport_kind(error) == "timeout" else ConnectionFailed
            raise unanswered(f"the Kubernetes API at {self.url} is unreachable: {_reason(error)}") from None
        finally:
            if changed:
                for listener in self._after_write:
                    listener(name)


def load_configuration(kubeconfig: str | None, context: str | None = None) -> client.Configuration:
    """The given kubeconfig ($KUBECONFIG), else ~/.kube/config, else the pod's service account."""
    configuration = client.Configuration()
    try:
        default = Path.home() / ".kube" / "config"
        kubeconfig = kubeconfig or (str(default) if default.exists() else None)
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
    except (ConfigException, OSError) as error:
        raise KubeConfigMissing(f"no usable Kubernetes configuration (set KUBECONFIG or run in a cluster): "
                                f"{error}") from None
    configuration.retries = 1  # an unreachable server is reported in seconds, not after urllib3's three retries
    # A watch whose far end vanished without a word (a partition, a lost node) would hang until its read timeout:
    # keepalive probes find that out within KEEPALIVE's 25 s.
    configuration.socket_options = tcp_keepalive_socket_options(*KEEPALIVE)
    # Pin the proxy the environment names now. Left to follow the environment, the client re-reads all of it
    # whenever `host` is assigned, and a token's refresh hook assigns it before every request.
    configuration.proxy = configuration.proxy
    return configuration


def api_message(error: ApiException) -> str:
    """The API server's own message (its Status object), with the HTTP status as a fallback."""
    try:
        message = json.loads(error.body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"the Kubernetes API refused ({error.status}): {message or error.reason}"


def _reason(error: BaseException) -> str:
    """urllib3 wraps the socket error in object reprs; keep the part a person reads."""
    text = str(getattr(error, "reason", None) or error)
    return re.sub(r"<[^>]*>:?\s*", "", text).strip() or type(error).__name__
