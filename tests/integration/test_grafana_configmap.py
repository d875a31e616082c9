"""The Grafana dashboard's ConfigMap (grafana_dashboard_enabled) on the local control plane: created with the sidecar's
label and the release's labels, unchanged on a second run, relabelled, removed when turned off.

The releases run in CPU mode on the simulated GPU nodes (no container runs; the dashboard's queries are checked
against the real Triton in test_grafana_dashboard.py).
"""

from __future__ import annotations

import json

from kubernetes import client

SIMULATED = {"type": "kwok", "nvidia.com/gpu.present": "true"}


def test_the_configmap_is_labelled_for_the_sidecar_idempotent_and_removed_when_off(runner, k8s, namespace):
    core = client.CoreV1Api(k8s)
    args = dict(name="dash", namespace=namespace, use_cpu=True, node_selector=SIMULATED)
    assert not runner.triton(**args).get("failed")
    planned = runner.triton(**args, grafana_dashboard_enabled=True, check=True)
    assert planned["actions"]["grafana_dashboard"] == "created", planned["actions"]
    assert not core.list_namespaced_config_map(namespace, label_selector="app.kubernetes.io/instance=dash").items
    first = runner.triton(**args, grafana_dashboard_enabled=True)
    assert not first.get("failed"), first.get("msg")
    assert first["actions"]["grafana_dashboard"] == "created", first["actions"]
    configmap = core.read_namespaced_config_map("dash-triton-dashboard", namespace)
    labels = configmap.metadata.labels
    assert labels["grafana_dashboard"] == "1"
    assert labels["app.kubernetes.io/instance"] == "dash"
    assert labels["app.kubernetes.io/managed-by"] == "inference.triton"
    (key,) = configmap.data
    assert key == f"triton-{namespace}-dash-triton.json"
    dashboard = json.loads(configmap.data[key])
    assert dashboard["title"].endswith(f"/ {namespace} / dash-triton")
    starts = {v["name"]: v["current"].get("value") for v in dashboard["templating"]["list"]}
    assert starts["namespace"] == namespace and starts["service"] == "dash-triton", starts

    again = runner.triton(**args, grafana_dashboard_enabled=True)
    assert again["changed"] is False, again["actions"]

    # Another label (the grafana chart's sidecar set to another label) replaces the default one.
    relabelled = runner.triton(**args, grafana_dashboard_enabled=True, grafana_dashboard_labels={"dashboards": "ml"})
    assert relabelled["actions"]["grafana_dashboard"] == "updated", relabelled["actions"]
    labels = core.read_namespaced_config_map("dash-triton-dashboard", namespace).metadata.labels
    assert labels["dashboards"] == "ml" and "grafana_dashboard" not in labels, labels

    off = runner.triton(**args)
    assert off["actions"]["grafana_dashboard"] == "deleted", off["actions"]
    assert not core.list_namespaced_config_map(namespace, label_selector="app.kubernetes.io/instance=dash").items
