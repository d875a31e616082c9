# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""The release's Grafana dashboard: templates/triton_server/dashboard.json, made the release's own.

The file is a plain Grafana dashboard (it can be imported by hand); for a release, its uid and title name the release
and its namespace and service variables start on the release's Service, as Prometheus labels its series when the
release's ServiceMonitor scrapes it. Pure functions: the same release always gives the same text.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

DASHBOARD_FILE = "dashboard.json"
# Grafana's dashboard sidecar (the grafana and kube-prometheus-stack Helm charts) loads ConfigMaps carrying this
# label; kube-prometheus-stack asks for the value "1", the grafana chart for any value (docs/observability.md).
DEFAULT_LABELS = {"grafana_dashboard": "1"}
UID_MAX = 40  # Grafana's limit for a dashboard uid


def configmap_name(fullname: str) -> str:
    return f"{fullname[:53].rstrip('-')}-dashboard"


def file_name(namespace: str, fullname: str) -> str:
    """The ConfigMap key, which the sidecar writes as a file: one folder may hold the dashboards of many releases."""
    return f"triton-{namespace}-{fullname}.json"


def uid(namespace: str, fullname: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{fullname}".encode()).hexdigest()[:10]
    return f"triton-{fullname}"[: UID_MAX - 11].rstrip("-") + f"-{digest}"


def load(template_dir: str) -> dict[str, Any]:
    with open(os.path.join(template_dir, DASHBOARD_FILE), encoding="utf-8") as handle:
        dashboard: dict[str, Any] = json.load(handle)
    return dashboard


def for_release(dashboard: dict[str, Any], namespace: str, fullname: str) -> dict[str, Any]:
    """The dashboard with the release's uid, title and the namespace and service variables set to the release."""
    result = copy.deepcopy(dashboard)
    result["uid"] = uid(namespace, fullname)
    result["title"] = f"{dashboard['title']} / {namespace} / {fullname}"
    starts = {"namespace": namespace, "service": fullname}
    for variable in result["templating"]["list"]:
        if variable["name"] in starts:
            value = starts[variable["name"]]
            variable["current"] = {"text": value, "value": value}
    return result


def context(template_dir: str, namespace: str, fullname: str, o: dict[str, Any]) -> dict[str, Any]:
    """Rendering context of configmap-dashboard.yaml.j2 (the JSON only when the ConfigMap is wanted)."""
    if not o.get("grafana_dashboard_enabled"):
        return {}
    labels = DEFAULT_LABELS if o.get("grafana_dashboard_labels") is None else o["grafana_dashboard_labels"]
    text = json.dumps(for_release(load(template_dir), namespace, fullname), indent=1, sort_keys=True)
    return {
        "grafana_dashboard_name": configmap_name(fullname),
        "grafana_dashboard_labels": {str(k): str(v) for k, v in labels.items()},
        "grafana_dashboard_annotations": {
            str(k): str(v) for k, v in (o.get("grafana_dashboard_annotations") or {}).items()
        },
        "grafana_dashboard_files": {file_name(namespace, fullname): text},
    }
