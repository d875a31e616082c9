"""Test configuration of the local-cluster tool: the session fixture and the `integration` marker."""

from __future__ import annotations

import pytest

from tools.localcluster.pytest_fixture import kube_cluster  # noqa: F401 (re-exported fixture)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs the real local control plane (slow the first time)")
    config.addinivalue_line("markers", "ns_labels(labels): labels of the namespace made by the `namespace` fixture")
