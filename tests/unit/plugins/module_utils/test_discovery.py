"""_discovery: which URL serves a kind. Built-in kinds come from a table and cost no request; any other kind costs one
read of its group version, once per process and API server; a group version the server does not serve means the kind
is not served. That the table matches a real API server is checked on the local cluster
(tests/integration/test_in_controller.py::test_builtin_kinds_table_matches_the_server)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils import _discovery
from ansible_collections.inference.triton.plugins.module_utils._discovery import (
    BUILTIN_KINDS,
    group_version_path,
    kinds_of,
    lookup,
)

HOST = "https://127.0.0.1:6443"

# An APIResourceList as GET /apis/monitoring.coreos.com/v1 returns it (shortened).
MONITORING = {
    "kind": "APIResourceList",
    "groupVersion": "monitoring.coreos.com/v1",
    "resources": [
        {"name": "servicemonitors", "singularName": "servicemonitor", "namespaced": True, "kind": "ServiceMonitor"},
        {"name": "servicemonitors/status", "namespaced": True, "kind": "ServiceMonitor"},
        {"name": "prometheuses", "namespaced": True, "kind": "Prometheus"},
        {"name": "prometheuses/scale", "namespaced": True, "kind": "Scale"},
    ],
}


class Reads:
    """A read function that answers from a table of paths and counts what it is asked."""

    def __init__(self, answers: dict[str, dict[str, Any] | None]):
        self.answers = answers
        self.paths: list[str] = []

    def __call__(self, path: str) -> dict[str, Any] | None:
        self.paths.append(path)
        return self.answers.get(path)


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """What a new process knows: nothing read yet."""
    monkeypatch.setattr(_discovery, "_SERVED", {})


@pytest.mark.parametrize(
    ("api_version", "path"),
    [("v1", "/api/v1"), ("apps/v1", "/apis/apps/v1"), ("route.openshift.io/v1", "/apis/route.openshift.io/v1")],
)
def test_group_version_path(api_version, path):
    assert group_version_path(api_version) == path


def test_kinds_of_maps_each_kind_to_its_resource_and_scope_without_subresources():
    assert kinds_of(MONITORING) == {"ServiceMonitor": ("servicemonitors", True), "Prometheus": ("prometheuses", True)}
    # A subresource such as prometheuses/scale names another kind (Scale): it is not that kind's resource either.
    assert "Scale" not in kinds_of(MONITORING)
    assert kinds_of({"resources": [{"name": "nodes", "kind": "Node", "namespaced": False}]}) == {
        "Node": ("nodes", False)
    }
    assert kinds_of({}) == {}


@pytest.mark.parametrize(("api_version", "kind"), sorted(BUILTIN_KINDS))
def test_a_builtin_kind_costs_no_request(api_version, kind):
    reads = Reads({})
    assert lookup(HOST, api_version, kind, reads) == BUILTIN_KINDS[(api_version, kind)]
    assert reads.paths == []


def test_the_builtin_table_knows_scopes():
    assert BUILTIN_KINDS[("apps/v1", "Deployment")] == ("deployments", True)
    assert BUILTIN_KINDS[("v1", "Node")] == ("nodes", False)
    assert BUILTIN_KINDS[("rbac.authorization.k8s.io/v1", "ClusterRole")] == ("clusterroles", False)


def test_another_kind_costs_one_read_of_its_group_version_per_process():
    reads = Reads({"/apis/monitoring.coreos.com/v1": MONITORING})
    assert lookup(HOST, "monitoring.coreos.com/v1", "ServiceMonitor", reads) == ("servicemonitors", True)
    assert lookup(HOST, "monitoring.coreos.com/v1", "ServiceMonitor", reads) == ("servicemonitors", True)
    assert lookup(HOST, "monitoring.coreos.com/v1", "Prometheus", reads) == ("prometheuses", True)
    assert reads.paths == ["/apis/monitoring.coreos.com/v1"]


def test_a_kind_missing_from_a_served_group_version_is_not_served():
    reads = Reads({"/apis/monitoring.coreos.com/v1": MONITORING})
    assert lookup(HOST, "monitoring.coreos.com/v1", "PodMonitor", reads) is None
    assert reads.paths == ["/apis/monitoring.coreos.com/v1"]


def test_a_group_version_the_server_does_not_serve_is_read_once_and_serves_nothing():
    reads = Reads({})  # every path answers 404, which the read function returns as None
    assert lookup(HOST, "route.openshift.io/v1", "Route", reads) is None
    assert lookup(HOST, "route.openshift.io/v1", "Route", reads) is None
    assert reads.paths == ["/apis/route.openshift.io/v1"]


def test_each_api_server_is_read_on_its_own():
    reads = Reads({"/apis/monitoring.coreos.com/v1": MONITORING})
    lookup(HOST, "monitoring.coreos.com/v1", "ServiceMonitor", reads)
    lookup("https://198.18.0.10:6443", "monitoring.coreos.com/v1", "ServiceMonitor", reads)
    assert reads.paths == ["/apis/monitoring.coreos.com/v1"] * 2


def test_a_builtin_kind_under_another_version_is_looked_up():
    # Only the exact (apiVersion, kind) pairs of the table are free: an older or newer version is asked for.
    reads = Reads({"/apis/policy/v1beta1": None})
    assert lookup(HOST, "policy/v1beta1", "PodDisruptionBudget", reads) is None
    assert reads.paths == ["/apis/policy/v1beta1"]
