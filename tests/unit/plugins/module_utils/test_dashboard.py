"""The Grafana dashboard file, its ConfigMap, and the OpenShift rendering (Route, restricted-v2 pod) without a cluster.

That every metric the dashboard queries exists in a real Triton's /metrics is tests/integration/
test_grafana_dashboard.py; here: the file parses, every panel queries something, every query is filtered to the
release and names only Triton metrics, and the rendering of the options.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.inference.triton.plugins.module_utils import _dashboard
from ansible_collections.inference.triton.plugins.module_utils._render import TEMPLATE_DIR, render
from ansible_collections.inference.triton.plugins.module_utils._validate import ValidationError, validate
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options
from tests.integration.dashboard_promql import metric_names, panel_queries, parse, selectors, variable_queries

DASHBOARD = Path(TEMPLATE_DIR) / "dashboard.json"
GPU_METRICS = {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes", "nv_gpu_power_usage"}


def objects(native=None, release="demo", namespace="ml"):
    return render(release, namespace, merge_options(native or {}, [])[0])


def check(native):
    merged, origin = merge_options(native, [])
    return validate(merged, origin, native)


def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


# -- the dashboard file -------------------------------------------------------------------------------------------


def test_the_dashboard_parses_and_every_panel_has_a_query():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["panels"] and dashboard["templating"]["list"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_query_parses_is_filtered_to_the_release_and_reads_only_triton_metrics():
    dashboard = _dashboard.load(TEMPLATE_DIR)
    for panel, expr in panel_queries(dashboard):
        parse(expr)  # a syntax error raises ValueError naming it
        found = selectors(expr)
        assert found, (panel["title"], expr)
        for name, matchers in found:
            assert name.startswith("nv_"), (panel["title"], name)
            # the release: the labels Prometheus gives the series it scrapes through the release's ServiceMonitor
            assert matchers["namespace"] == ("Equal", "$namespace"), (panel["title"], expr)
            assert matchers["service"] == ("Equal", "$service"), (panel["title"], expr)
    variables = {variable["name"]: (selector, label) for variable, selector, label in variable_queries(dashboard)}
    assert {name: label for name, (_selector, label) in variables.items()} == {
        "namespace": "namespace",
        "service": "service",
        "model": "model",
    }
    assert all(metric_names(selector) == {"nv_inference_count"} for selector, _label in variables.values())


def test_gpu_panels_say_that_cpu_servers_have_no_gpu_metrics():
    dashboard = _dashboard.load(TEMPLATE_DIR)
    queries = panel_queries(dashboard)
    gpu_panels = {p["title"] for p, expr in queries if metric_names(expr) & GPU_METRICS}
    assert gpu_panels == {"GPU utilisation", "GPU memory", "GPU power"}
    for panel in panels(dashboard):
        marked = panel["fieldConfig"]["defaults"].get("noValue") == "no GPU metrics on CPU servers"
        assert marked == (panel["title"] in gpu_panels), panel["title"]


@pytest.mark.parametrize(
    "expr, names",
    [
        ('sum by (model) (rate(nv_inference_count{model=~"$model"}[$__rate_interval]))', {"nv_inference_count"}),
        ("a / on(pod) group_left(gpu) b offset 5m > bool 1", {"a", "b"}),
        ('label_replace(x{l="y{z}"}, "dst", "$1", "src", "(.*)")', {"x"}),
        ("sum without (version) (rate(c[5m])) or vector(0)", {"c"}),
    ],
)
def test_metric_names_of_promql(expr, names):
    assert metric_names(expr) == names


def test_a_syntax_error_is_caught():
    with pytest.raises(ValueError):
        parse("sum(rate(nv_inference_count[5m])")


# -- its ConfigMap ------------------------------------------------------------------------------------------------


def test_the_configmap_is_off_by_default_and_labelled_for_the_sidecar():
    assert "grafana_dashboard" not in objects()
    configmap = objects({"grafana_dashboard_enabled": True, "labels": {"team": "ml"}})["grafana_dashboard"]
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["name"] == "demo-triton-dashboard"
    labels = configmap["metadata"]["labels"]
    assert labels["grafana_dashboard"] == "1" and labels["team"] == "ml"
    assert labels["app.kubernetes.io/instance"] == "demo"
    assert labels["app.kubernetes.io/managed-by"] == "inference.triton"
    (key,) = configmap["data"]
    assert key == "triton-ml-demo-triton.json"
    dashboard = json.loads(configmap["data"][key])
    assert dashboard["title"] == "Triton Inference Server / ml / demo-triton"
    assert len(dashboard["uid"]) <= 40 and dashboard["uid"].startswith("triton-demo-triton-")
    current = {v["name"]: v["current"].get("value") for v in dashboard["templating"]["list"]}
    assert current["namespace"] == "ml" and current["service"] == "demo-triton"
    # the same release, the same text; another namespace, another uid
    assert objects({"grafana_dashboard_enabled": True})["grafana_dashboard"]["data"][key] == configmap["data"][key]
    other = objects({"grafana_dashboard_enabled": True}, namespace="ml2")["grafana_dashboard"]
    assert json.loads(next(iter(other["data"].values())))["uid"] != dashboard["uid"]


def test_dashboard_labels_replace_the_default_and_cannot_take_the_release_labels():
    configmap = objects(
        {
            "grafana_dashboard_enabled": True,
            "grafana_dashboard_labels": {"dashboards": "ml", "app.kubernetes.io/instance": "other"},
            "grafana_dashboard_annotations": {"grafana_folder": "Inference"},
        }
    )["grafana_dashboard"]
    labels = configmap["metadata"]["labels"]
    assert labels["dashboards"] == "ml" and "grafana_dashboard" not in labels
    assert labels["app.kubernetes.io/instance"] == "demo"  # pruning finds it by the release's labels
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Inference"}


# -- OpenShift ----------------------------------------------------------------------------------------------------


def test_a_route_replaces_the_node_ports():
    rendered = objects({"route_enabled": True, "route_host": "triton.apps.example.com"})
    service = rendered["service"]
    assert service["spec"]["type"] == "ClusterIP"
    assert not [p for p in service["spec"]["ports"] if "nodePort" in p]
    route = rendered["route"]
    assert route["apiVersion"] == "route.openshift.io/v1" and route["metadata"]["name"] == "demo-triton"
    assert route["spec"] == {
        "host": "triton.apps.example.com",
        "to": {"kind": "Service", "name": "demo-triton", "weight": 100},
        "port": {"targetPort": "http"},
        "tls": {"termination": "edge"},
        "wildcardPolicy": "None",
    }
    grpc = objects({"route_enabled": True, "route_port": "grpc", "route_tls": "passthrough"})["route"]["spec"]
    assert grpc["port"] == {"targetPort": "grpc"} and grpc["tls"] == {"termination": "passthrough"}
    assert "host" not in grpc
    assert "tls" not in objects({"route_enabled": True, "route_tls": "none"})["route"]["spec"]


@pytest.mark.parametrize(
    "native, option",
    [
        ({"route_enabled": True, "service_type": "NodePort"}, "service_type"),
        ({"route_enabled": True, "service_type": "LoadBalancer"}, "service_type"),
        ({"route_enabled": True, "route_port": "grpc"}, "route_port"),
        ({"route_enabled": True, "route_tls": "passthrough"}, "route_tls"),
        ({"openshift": True}, "model_repository_type"),
        (
            {
                "openshift": True,
                "model_repository_type": "pvc",
                "model_repository_claim": "models",
                "conda_pack_source": "host_path",
            },
            "conda_pack_source",
        ),
        (
            {
                "openshift": True,
                "model_repository_type": "pvc",
                "model_repository_claim": "models",
                "extra_volumes": [{"name": "x", "hostPath": {"path": "/x"}}],
            },
            "extra_volumes",
        ),
    ],
)
def test_openshift_and_route_refusals_name_the_option(native, option):
    with pytest.raises(ValidationError) as caught:
        check(native)
    assert caught.value.option == option, str(caught.value)


def test_the_openshift_pod_pins_no_ids_and_keeps_the_restricted_fields():
    native = {"openshift": True, "model_repository_type": "pvc", "model_repository_claim": "models"}
    assert check({**native, "route_enabled": True, "service_type": "ClusterIP"}) == []
    spec = objects(native)["deployment"]["spec"]["template"]["spec"]
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    assert not [v for v in spec["volumes"] if "hostPath" in v]
    default = objects()["deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert (default["runAsUser"], default["runAsGroup"], default["fsGroup"]) == (1000, 1000, 1000)
