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
import re
from typing import Any

DASHBOARD_FILE = "dashboard.json"
# Grafana's dashboard sidecar (the grafana and kube-prometheus-stack Helm charts) loads ConfigMaps carrying this
# label; kube-prometheus-stack asks for the value "1", the grafana chart for any value (docs/observability.md).
DEFAULT_LABELS = {"grafana_dashboard": "1"}
UID_MAX = 40  # Grafana's limit for a dashboard uid


# PromQL words that are not metric names; functions and aggregations are recognised by the "(" that follows them.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}
_STRIPPED = (
    r'"(?:[^"\\]|\\.)*"',  # quoted strings (label values, legends)
    r"\{[^}]*\}",  # label matchers
    r"\[[^\]]*\]",  # range selectors
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",  # label lists
)


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana's $variables and numbers left out)."""
    text = expression
    for pattern in _STRIPPED:
        text = re.sub(pattern, " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$:])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word not in _KEYWORDS:
            names.add(word)
    return names


def queries(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(panel, PromQL expression) for every query of every panel, rows' nested panels included."""
    found: list[tuple[dict[str, Any], str]] = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found.extend((inner, target["expr"]) for target in inner.get("targets", []))
    return found


def variable_metrics(dashboard: dict[str, Any]) -> set[str]:
    """The metrics that the template variables' label_values(metric{...}, label) queries read."""
    names = set()
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else ""
        match = re.match(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)", query)
        if match:
            names.add(match.group(1))
    return names


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
