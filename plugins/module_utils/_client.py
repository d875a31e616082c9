# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Talking to the API server: connection options, one client per process and server, retries."""

from __future__ import annotations

import os
import random
import time
from typing import Any, Callable, TypeVar

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
    from kubernetes.dynamic.resource import Resource

    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module with missing_required_lib
    HAS_K8S = False
    K8S_IMPORT_ERROR = exc

    class DynamicApiError(Exception):  # type: ignore[no-redef]
        """Stand-in so that except clauses stay valid without the library."""

    class ResourceNotFoundError(Exception):  # type: ignore[no-redef]
        """Stand-in so that except clauses stay valid without the library."""


from ._discovery import lookup

T = TypeVar("T")

AUTH_ARG_SPEC: dict[str, dict[str, Any]] = {
    "kubeconfig": {"type": "raw", "fallback": ("env", ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": ("env", ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": ("env", ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": ("env", ["K8S_AUTH_API_KEY"])},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": ("env", ["K8S_AUTH_SSL_CA_CERT"])},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": ("env", ["K8S_AUTH_CERT_FILE"])},
    "client_key": {
        "type": "path",
        "aliases": ["key_file"],
        "no_log": False,
        "fallback": ("env", ["K8S_AUTH_KEY_FILE"]),
    },
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": ("env", ["K8S_AUTH_VERIFY_SSL"])},
    "in_cluster": {"type": "bool", "default": False},
    "request_timeout": {"type": "float", "default": 30.0},
}
AUTH_OPTIONS = tuple(AUTH_ARG_SPEC)

# Answers worth another try: conflicts on optimistic updates, throttling, and the server's own trouble.
RETRY_STATUSES = {409, 429, 500, 502, 503, 504}
RETRY_ATTEMPTS = 5


class ClusterError(Exception):
    """A failure talking to the cluster, with a message fit for a user."""


def _fallback_env(params: dict[str, Any]) -> dict[str, Any]:
    # AnsibleModule applies env fallbacks; an action plugin or a test calling us directly may not have.
    resolved = dict(params)
    for option, spec in AUTH_ARG_SPEC.items():
        if resolved.get(option) is None and "fallback" in spec:
            for var in spec["fallback"][1]:
                if os.environ.get(var):
                    resolved[option] = os.environ[var]
                    break
    if isinstance(resolved.get("validate_certs"), str):
        resolved["validate_certs"] = resolved["validate_certs"].lower() in ("1", "true", "yes", "on")
    return resolved


def configuration(params: dict[str, Any]) -> Any:
    """A kubernetes.client.Configuration from the module's connection options (kubernetes.core's order)."""
    p = _fallback_env(params)
    config = k8s_client.Configuration()
    kubeconfig = p.get("kubeconfig")
    try:
        if p.get("in_cluster"):
            k8s_config.load_incluster_config(client_configuration=config)
        elif isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, context=p.get("context"), client_configuration=config)
        elif kubeconfig or not p.get("host"):
            path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
            if not os.path.exists(path):
                if not kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    k8s_config.load_incluster_config(client_configuration=config)
                else:
                    raise ClusterError(f"kubeconfig: file {path!r} does not exist")
            else:
                k8s_config.load_kube_config(config_file=path, context=p.get("context"), client_configuration=config)
    except ConfigException as exc:
        text = str(exc)
        if p.get("context") and "context" in text.lower():
            raise ClusterError(f"context: {p['context']!r} is not in the kubeconfig ({text})") from exc
        raise ClusterError(f"kubeconfig: cannot load it: {text}") from exc
    if p.get("host"):
        config.host = p["host"]
    if p.get("api_key"):
        config.api_key = {"authorization": f"Bearer {p['api_key']}"}
    if p.get("ca_cert"):
        config.ssl_ca_cert = p["ca_cert"]
    if p.get("client_cert"):
        config.cert_file = p["client_cert"]
    if p.get("client_key"):
        config.key_file = p["client_key"]
    if p.get("validate_certs") is not None:
        config.verify_ssl = bool(p["validate_certs"])
    config.retries = False  # our own bounded retries below; urllib3's would multiply them
    return config


class Cluster:
    """One API client per server and process, kinds found without reading the whole API (``_discovery``), and
    helpers that retry transient failures with bounded backoff."""

    def __init__(self, params: dict[str, Any], field_manager: str = "inference.triton"):
        self.params = params
        self.field_manager = field_manager
        self.timeout = float(params.get("request_timeout") or 30.0)
        self.config, self.api, self.dynamic = _client_for(params, self.timeout)
        self._resources: dict[tuple[str, str], Any] = {}
        self.retries = 0

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic resource for api_version/kind, or None when the server does not serve it."""
        key = (api_version, kind)
        if key not in self._resources:
            found = self.call(
                lambda: lookup(self.config.host, api_version, kind, self._read_group_version), f"discovering {kind}"
            )
            self._resources[key] = None if found is None else _resource(self.dynamic, api_version, kind, *found)
        return self._resources[key]

    def _read_group_version(self, path: str) -> dict[str, Any] | None:
        try:
            return self.dynamic.request("GET", path, _request_timeout=self.timeout).to_dict()
        except DynamicApiError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def call(self, fn: Callable[[], T], what: str, retry_conflicts: bool = True) -> T:
        """Run one API call; retry 409/429/5xx and connection failures up to RETRY_ATTEMPTS times.

        A server-side apply's 409 is a field-ownership conflict, which no retry resolves: its callers pass
        ``retry_conflicts=False``.
        """
        statuses = RETRY_STATUSES if retry_conflicts else RETRY_STATUSES - {409}
        delay = 0.2
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return fn()
            except DynamicApiError as exc:
                status = getattr(exc, "status", None)
                if status not in statuses or attempt == RETRY_ATTEMPTS:
                    _note_attempts(exc, attempt, what)
                    raise
                retry_after = _retry_after(exc)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt == RETRY_ATTEMPTS:
                    raise ClusterError(
                        f"{what}: cannot reach the API server at {self.config.host}: {_reason(exc)} "
                        f"(gave up after {attempt} attempts)"
                    ) from exc
                retry_after = None
            except k8s_client.ApiException as exc:
                if exc.status not in statuses or attempt == RETRY_ATTEMPTS:
                    _note_attempts(exc, attempt, what)
                    raise
                retry_after = None
            self.retries += 1
            time.sleep(min(retry_after if retry_after is not None else delay * (1 + random.random()), 5.0))
            delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")

    def request_kwargs(self) -> dict[str, Any]:
        return {"_request_timeout": self.timeout}


# One client per connection settings in a process: a task that runs several modules in the controller's task process
# (triton_server and its rollout slices) opens one connection pool.
_CLIENTS: dict[str, tuple[Any, Any, Any]] = {}


def _client_for(params: dict[str, Any], timeout: float) -> tuple[Any, Any, Any]:
    import json

    resolved = _fallback_env(params)
    key = json.dumps(
        [{k: resolved.get(k) for k in AUTH_OPTIONS}, os.environ.get("KUBECONFIG"), timeout], sort_keys=True, default=str
    )
    if key not in _CLIENTS:
        config = configuration(params)
        api = k8s_client.ApiClient(config)
        _bound_every_request(api, timeout)
        _CLIENTS[key] = (config, api, DynamicClient(api, discoverer=_NoDiscovery))
    return _CLIENTS[key]


class _NoDiscovery:
    """The dynamic client's discoverer, unused: :meth:`Cluster.resource` finds kinds through ``_discovery``."""

    def __init__(self, client: Any, cache_file: Any = None):
        self.client = client

    def get(self, **kwargs: Any) -> Any:
        raise ResourceNotFoundError(f"not looked up through the dynamic client: {kwargs}")


def _resource(dynamic: Any, api_version: str, kind: str, name: str, namespaced: bool) -> Any:
    group, _sep, version = api_version.rpartition("/")
    return Resource(
        prefix="apis" if group else "api",
        group=group or None,
        api_version=version,
        kind=kind,
        name=name,
        namespaced=namespaced,
        preferred=True,
        client=dynamic,
    )


class WatchBackoff:
    """Between two watches of a wait loop: transient failures wait with the same bounded backoff as
    :meth:`Cluster.call`, so that a server refusing watches is neither a failure nor a busy loop."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.delay = 0.2

    def reset(self) -> None:
        """The watch delivered: the next failure starts from the shortest wait again."""
        self.delay = 0.2

    def failed(self, exc: BaseException, deadline: float) -> None:
        """Wait before the next watch after ``exc``; raise ``exc`` when it is not worth another try.

        410 (the resourceVersion expired) is the normal end of a long watch: the caller re-reads at once.
        """
        status = getattr(exc, "status", None)
        if status == 410:
            return
        if status is not None and status not in RETRY_STATUSES:
            raise exc
        self.cluster.retries += 1
        # Retry-After is a minimum here: a wait loop has no attempt budget, so "0" must not make it spin.
        wait = max(_retry_after(exc) or 0.0, self.delay * (1 + random.random()))
        time.sleep(max(0.0, min(wait, 5.0, deadline - time.monotonic())))
        self.delay = min(self.delay * 2, 3.0)


def _bound_every_request(api: Any, timeout: float) -> None:
    """Give every request of this client a timeout, not only those that pass one.

    The client sends requests without a timeout unless the caller passes ``_request_timeout``, and the
    dynamic client's discovery never does: a hung API server would hang the task. A watch may stay silent for
    as long as its server-side timeout, so its read timeout leaves room for that.
    """
    rest = api.rest_client
    request = rest.request

    def bounded(method: str, url: str, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        if _request_timeout is None:
            watching = "watch=true" in url.lower()
            _request_timeout = (timeout, timeout + 60.0) if watching else (timeout, timeout)
        return request(method, url, *args, _request_timeout=_request_timeout, **kwargs)

    rest.request = bounded


def _note_attempts(exc: BaseException, attempts: int, what: str) -> None:
    """Remember on the error what was asked and how many attempts were made, for its message."""
    try:
        exc.api_request = what  # type: ignore[attr-defined]
        if attempts > 1:
            exc.attempts = attempts  # type: ignore[attr-defined]
    except AttributeError:
        pass


def _retry_after(exc: Any) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def api_error_message(exc: Any) -> str:
    """The API server's own message from a failed call (its Status body), else the exception text; says how many
    attempts were made when the answer was retried."""
    attempts = getattr(exc, "attempts", None)
    suffix = f" (gave up after {attempts} attempts)" if isinstance(attempts, int) else ""
    return _server_message(exc) + suffix


def _server_message(exc: Any) -> str:
    import json

    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            status = json.loads(body)
            if isinstance(status, dict) and status.get("message"):
                return str(status["message"])
        except ValueError:
            pass
    summary = getattr(exc, "summary", None)
    if callable(summary):
        return str(summary())
    return str(exc)


def unexpected_failure_message(exc: BaseException) -> str:
    """The message of a failure no caller handled: for an API server's answer, the request and the server's own
    reason (not the client library's dump of headers and traceback); else the exception's text."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        what = getattr(exc, "api_request", None) or "a request to the API server"
        return f"{what}: the API server answered {status}: {api_error_message(exc)}"
    return f"unexpected error talking to the cluster: {exc}"


def is_status(exc: BaseException, status: int) -> bool:
    return getattr(exc, "status", None) == status
