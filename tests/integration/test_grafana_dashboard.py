"""The Grafana dashboard (grafana_dashboard_enabled) against the real Triton.

Every metric the dashboard queries is one the Triton we ship exports: a release on the real node (the CPU build
of Triton 2.51.0) serves a few inferences through tritonclient, its /metrics (port 8002) is read through the
NodePort on 127.0.0.1, and each metric name of each panel's PromQL and of each template variable must appear
there. The only exceptions are the GPU metrics, which a server without a GPU does not export: they are listed
below with the reason, and the dashboard must mark every panel that reads them as a GPU panel.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import routed_node_port
from dashboard_promql import grouping_labels, metric_names, panel_queries, selectors, variable_queries
from test_real_triton import model_repository, pod_namespace, real_node, release  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.inference.triton.plugins.module_utils import _dashboard

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "plugins/templates/triton_server"
# Exported only by a server that sees a GPU (Triton reads them through DCGM): absent from the CPU server we test on.
GPU_ONLY = {
    "nv_gpu_utilization": "GPU metric: a CPU server has no GPU to report",
    "nv_gpu_memory_used_bytes": "GPU metric: a CPU server has no GPU to report",
    "nv_gpu_memory_total_bytes": "GPU metric: a CPU server has no GPU to report",
    "nv_gpu_power_usage": "GPU metric: a CPU server has no GPU to report",
}
GPU_MARK = "no GPU metrics on CPU servers"
# Labels Prometheus gives every series it scrapes through a ServiceMonitor (the target's), not Triton's own.
TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}


def exported(text: str) -> dict[str, list[dict[str, str]]]:
    """Metric name -> the label sets of its samples, from Prometheus' text format."""
    samples: dict[str, list[dict[str, str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z_:][\w:]*)(\{([^}]*)\})?\s", line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        samples.setdefault(match.group(1), []).append(labels)
    return samples


def infer_add_sub(port: int, count: int) -> None:
    """``count`` inferences of add_sub with tritonclient over gRPC (the client the collection's tests pin)."""
    import tritonclient.grpc as grpcclient

    triton = grpcclient.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        for _request in range(count):
            inputs = []
            for name, data in (("INPUT0", [1, 2, 3, 4]), ("INPUT1", [10, 20, 30, 40])):
                tensor = grpcclient.InferInput(name, [4], "FP32")
                tensor.set_data_from_numpy(np.array(data, dtype=np.float32))
                inputs.append(tensor)
            answer = triton.infer("add_sub", inputs, client_timeout=30)
            assert answer.as_numpy("OUTPUT0").tolist() == [11, 22, 33, 44]
    finally:
        triton.close()


@pytest.fixture
def real_ns(k8s):
    yield from pod_namespace(k8s, "it-graf")


def test_every_metric_the_dashboard_queries_is_exported_by_the_real_triton(runner, real_ns, tmp_path):
    dashboard = _dashboard.load(str(TEMPLATES))
    queries = panel_queries(dashboard)
    queried = {name for _panel, expr in queries for name in metric_names(expr)}
    queried |= {name for _variable, selector, _label in variable_queries(dashboard) for name in metric_names(selector)}
    assert len(queried) >= 10, queried

    repository = model_repository(tmp_path)
    result, _seconds = release(runner, real_ns, "graf", repository)
    assert not result.get("failed"), result.get("msg")
    ports = {name: routed_node_port(int(port["node_port"])) for name, port in result["endpoints"]["ports"].items()}
    infer_add_sub(ports["grpc"], 5)
    metrics_port = ports["metrics"]
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=15) as answer:
        samples = exported(answer.read().decode())

    missing = sorted(queried - set(samples) - set(GPU_ONLY))
    assert not missing, f"the dashboard queries metrics this Triton does not export: {missing}"
    # The exceptions are exceptions: really absent here, and only read by panels that say so.
    assert not set(GPU_ONLY) & set(samples), sorted(set(GPU_ONLY) & set(samples))
    for panel, expr in queries:
        if metric_names(expr) & set(GPU_ONLY):
            assert panel["fieldConfig"]["defaults"].get("noValue") == GPU_MARK, panel["title"]

    # Triton's own labels that the queries select on or group by are on the series they are applied to.
    def labels_of(name: str) -> set[str]:
        return {label for sample in samples[name] for label in sample}

    for panel, expr in queries:
        for name, matchers in selectors(expr):
            if name not in GPU_ONLY:
                unknown = set(matchers) - TARGET_LABELS - labels_of(name)
                assert not unknown, (panel["title"], name, unknown)
        for names, by in grouping_labels(expr):
            for name in names - set(GPU_ONLY):
                unknown = by - TARGET_LABELS - labels_of(name)
                assert not unknown, (panel["title"], name, unknown)
    for _variable, selector, label in variable_queries(dashboard):
        for name in metric_names(selector):
            assert label in TARGET_LABELS | labels_of(name), (selector, label)
    # The per-model panels: the inference metrics carry the model of the requests sent.
    for name in queried - set(GPU_ONLY):
        if name.startswith("nv_inference_"):
            assert any(s.get("model") == "add_sub" for s in samples[name]), (name, samples[name])
    successes = [s for s in samples["nv_inference_request_success"] if s.get("model") == "add_sub"]
    assert successes, samples["nv_inference_request_success"]
