"""A new model version rolls the pods: deploy.yml with inventories/local (the real node), a model repository source
that gains version 2 of add_sub, and a second deploy.yml under the HTTP and gRPC load loops. Every new pod, asked by
its own address (not through the Service), serves version 2, and no request fails."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from pathlib import Path

import pytest
import test_real_triton as real
from kubernetes import client
from loadloop import Load
from test_roles import Playbooks

from tools.localcluster.pytest_fixture import wait_for

# deploy.yml applies the device plugin and labels nodes: beside no other test that does.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]
real_node = real.real_node
EXAMPLES = Path(__file__).resolve().parents[2] / "playbooks" / "files" / "example-models"
REVISION = "inference.triton/model-repository-revision"


@pytest.fixture
def deployment(kube_cluster, k8s, tmp_path):
    namespace = f"it-rev-{uuid.uuid4().hex[:6]}"
    books = Playbooks(kube_cluster.kubeconfig, namespace, tmp_path / "nodes")
    source = tmp_path / "source"
    shutil.copytree(EXAMPLES, source)
    args = ("-e", f"triton_server_namespace={namespace}", "-e", f"model_repository_source={source}")
    yield books, source, args
    books.run("undeploy.yml", *args, inventory="inventories/local")
    client.CoreV1Api(k8s).delete_namespace(namespace)


def pods(k8s, namespace: str) -> list:
    listing = client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector="app.kubernetes.io/instance=triton")
    return listing.items


def versions_served(pod_ip: str) -> list[str]:
    """The versions of add_sub this pod serves, asked of the pod itself on its address."""
    with urllib.request.urlopen(f"http://{pod_ip}:8000/v2/models/add_sub", timeout=10) as answer:
        return json.loads(answer.read())["versions"]


def test_a_new_model_version_rolls_every_pod_without_a_failed_request(deployment, k8s):
    books, source, args = deployment
    namespace = books.namespace
    first = books.run("deploy.yml", *args, inventory="inventories/local")
    assert first.rc == 0, first
    old = {p.metadata.name for p in pods(k8s, namespace)}
    revision = pods(k8s, namespace)[0].metadata.annotations[REVISION]
    assert all(versions_served(p.status.pod_ip) == ["1"] for p in pods(k8s, namespace))
    endpoints = client.CoreV1Api(k8s).read_namespaced_service("triton", namespace).spec.ports
    ports = {p.name: p.node_port for p in endpoints}

    shutil.copytree(source / "add_sub" / "1", source / "add_sub" / "2")  # version 2: same answers, new version
    with Load("127.0.0.1", ports["http"], ports["grpc"], max_requests=30000, max_seconds=400) as load:
        wait_for("both loops to get answers", lambda: all(len(x.figures.latencies) >= 20 for x in load.loops), 60)
        second = books.run("deploy.yml", *args, inventory="inventories/local")
        wait_for(
            "the old pods to be gone",
            lambda: not {p.metadata.name for p in pods(k8s, namespace)} & old and len(pods(k8s, namespace)) == 2,
            180,
        )
    assert second.rc == 0, second
    now = pods(k8s, namespace)
    assert {p.metadata.annotations[REVISION] for p in now} != {revision}
    assert all(versions_served(p.status.pod_ip) == ["2"] for p in now), [p.status.pod_ip for p in now]
    summaries = load.summaries()
    print("model version 1 -> 2", json.dumps(summaries))
    for figures in summaries:
        assert figures["failed"] == 0, figures
        assert figures["sent"] >= 100, figures

    third = books.run("deploy.yml", *args, inventory="inventories/local")
    assert third.rc == 0 and third.changed() == 0, third  # the same content: nothing rolls
