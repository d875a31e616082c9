"""The rollout wait names a pod that is still pulling its image, with the time since the pull began.

No node of the local cluster can pull for minutes (simulated nodes run no container; the real node's containerd
refuses every pull at once), so the pull is half real: a pod on the real node that the kubelet really holds in
ContainerCreating (its ConfigMap volume is missing), and the kubelet-shaped `Pulling` event for its container
written through the API, dated 65 s ago. What this shows is everything after the kubelet: reading the pod status and
the events from the API server, matching the event to the container by its fieldPath, the elapsed time from the
event's timestamp, and the message of `rollout_status` (progress line and failure reason).
"""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from conftest import task_result
from kubernetes import client

from tools.localcluster.pytest_fixture import wait_for

IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"


@pytest.fixture
def namespace(k8s):
    name = f"it-pull-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(k8s).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    client.CoreV1Api(k8s).delete_namespace(name)


def held_deployment(namespace: str) -> dict:
    """One pod on the real node that stays in ContainerCreating: its ConfigMap volume does not exist."""
    labels = {"app": "pulling"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "pulling", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"type": "real"},
                    "tolerations": [{"key": "inference-triton.local/real-node", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "server",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "volumeMounts": [{"name": "missing", "mountPath": "/missing"}],
                        }
                    ],
                    "volumes": [{"name": "missing", "configMap": {"name": "does-not-exist"}}],
                },
            },
        },
    }


def test_rollout_status_names_the_pod_still_pulling_and_for_how_long(k8s, runner, namespace):
    core = client.CoreV1Api(k8s)
    client.AppsV1Api(k8s).create_namespaced_deployment(namespace, held_deployment(namespace))

    def creating():
        for pod in core.list_namespaced_pod(namespace, label_selector="app=pulling").items:
            for status in pod.status.container_statuses or []:
                if status.state.waiting and status.state.waiting.reason == "ContainerCreating":
                    return pod
        return None

    pod = wait_for("the pod to wait in ContainerCreating on real-node-0", creating, timeout=60)
    began = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(seconds=65)
    core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{pod.metadata.name}.pulling"),
            involved_object=client.V1ObjectReference(
                kind="Pod",
                namespace=namespace,
                name=pod.metadata.name,
                uid=pod.metadata.uid,
                api_version="v1",
                field_path="spec.containers{server}",
            ),
            reason="Pulling",
            message=f'Pulling image "{IMAGE}"',
            type="Normal",
            count=1,
            first_timestamp=began,
            last_timestamp=began,
            source=client.V1EventSource(component="kubelet", host="real-node-0"),
        ),
    )

    report = runner.play(
        [{"name": "wait", "inference.triton.rollout_status": {"name": "pulling", "namespace": namespace, "timeout": 2}}]
    )
    result = task_result(report, "wait")
    assert result.get("failed"), result
    # the progress line
    progress = (
        rf"; pod {pod.metadata.name} still pulling {re.escape(IMAGE)} \(1m(0[5-9]|[1-5]\d)s on node real-node-0\)$"
    )
    assert re.search(progress, result["summary"]), result["summary"]
    assert [p["container"] for p in result["image_pulls"]] == ["server"], result["image_pulls"]
    assert 65 <= result["image_pulls"][0]["seconds"] < 120, result["image_pulls"]  # 65 s, plus this test's own time
    # the failure reason
    reason = (
        rf"pod {pod.metadata.name} container server is still pulling its image {re.escape(IMAGE)} on node real-node-0, "
        r"for 1m(0[5-9]|[1-5]\d)s: the first pull of a multi-GB image can outlast the wait; raise wait_timeout"
    )
    assert re.search(reason, result["msg"]), result["msg"]

    # Once the kubelet says the image is there, the pod is no longer reported as pulling.
    pulled = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{pod.metadata.name}.pulled"),
            involved_object=client.V1ObjectReference(
                kind="Pod", namespace=namespace, name=pod.metadata.name, uid=pod.metadata.uid, api_version="v1",
                field_path="spec.containers{server}",
            ),
            reason="Pulled", message=f'Successfully pulled image "{IMAGE}" in 1m05s', type="Normal", count=1,
            first_timestamp=pulled, last_timestamp=pulled,
            source=client.V1EventSource(component="kubelet", host="real-node-0"),
        ),
    )  # fmt: skip
    result = task_result(
        runner.play(
            [
                {
                    "name": "wait",
                    "inference.triton.rollout_status": {"name": "pulling", "namespace": namespace, "timeout": 2},
                }
            ]
        ),
        "wait",
    )
    assert result.get("failed") and "still pulling" not in result["msg"] and "image_pulls" not in result, result
