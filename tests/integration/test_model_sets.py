"""Declared model sets on the real node: every pod serves every model of ``models`` (asked of each pod, not of the
Service), and a declared model that cannot load fails the rollout with its name and Triton's reason."""

from __future__ import annotations

import json

import test_real_triton as real
from kubernetes import client

real_node = real.real_node
real_ns = real.real_ns

BROKEN_MODEL = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        raise pb_utils.TritonModelException("weights file missing: /models/broken/1/weights.bin")

    def execute(self, requests):
        return []
"""


def index_of(k8s, namespace: str, pod: str) -> dict[str, str]:
    """Triton's repository index of one pod, asked through the API server's pod proxy: model -> state."""
    answer = client.CoreV1Api(k8s).connect_post_namespaced_pod_proxy_with_path(
        f"{pod}:8000", namespace, "v2/repository/index", _preload_content=False
    )
    return {entry["name"]: entry.get("state", "") for entry in json.loads(answer.data)}


def test_every_pod_serves_the_declared_models_and_only_those(runner, k8s, real_ns, tmp_path):
    repository = real.model_repository(tmp_path, models=("add_sub", "identity"))
    result, _seconds = real.release(runner, real_ns, "decl", repository, replicas=2, models=["add_sub"])
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True
    assert result["options"]["model_control_mode"] == "explicit"
    pods = client.CoreV1Api(k8s).list_namespaced_pod(real_ns, label_selector="app.kubernetes.io/instance=decl").items
    assert len(pods) == 2
    for pod in pods:
        # identity is in the repository but not declared: explicit mode leaves it unloaded, on every pod.
        assert index_of(k8s, real_ns, pod.metadata.name) == {"add_sub": "READY", "identity": ""}
    real.assert_add_sub_infers(real.http_port(result))


def broken_repository(tmp_path):
    repository = real.model_repository(tmp_path, owner=None)
    broken = repository / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "config.pbtxt").write_text(
        (repository / "add_sub" / "config.pbtxt").read_text().replace('name: "add_sub"', 'name: "broken"')
    )
    (broken / "1" / "model.py").write_text(BROKEN_MODEL)
    real.chown_tree(repository, real.SERVER_UID)
    return repository


def test_a_declared_model_that_cannot_load_fails_with_its_name_and_tritons_reason(runner, real_ns, tmp_path):
    repository = broken_repository(tmp_path)
    result, seconds = real.release(runner, real_ns, "bad", repository, models=["add_sub", "broken"], wait_timeout=180)
    assert result.get("failed"), result
    assert "broken" in result["msg"] and "weights file missing" in result["msg"], result["msg"]
    assert seconds < 150, seconds  # a server that cannot start its declared models stops the wait early


def test_a_running_server_without_a_declared_model_stops_the_wait_with_tritons_reason(runner, real_ns, tmp_path):
    # --exit-on-error=false: Triton runs without the model it could not load; its strict readiness keeps the pod
    # unready, and the probes would only say "HTTP probe failed with statuscode: 400" until the deadline. The wait
    # asks the pod itself and stops at once with the model and Triton's reason.
    repository = broken_repository(tmp_path)
    result, seconds = real.release(
        runner, real_ns, "lenient", repository, models=["add_sub", "broken"], server_args=["--exit-on-error=false"]
    )
    assert result.get("failed"), result
    assert "declared models cannot load" in result["msg"], result["msg"]
    assert "model broken is UNAVAILABLE" in result["msg"] and "weights file missing" in result["msg"], result["msg"]
    assert seconds < 120, seconds  # of the 240 s wait_timeout
