"""The nvidia_device_plugin role on a cluster that already runs another NVIDIA device plugin: the GPU Operator's.

A DaemonSet shaped like the GPU Operator's (its name, its label app=nvidia-device-plugin-daemonset, its container
running nvcr.io/nvidia/k8s-device-plugin, and its nodeSelector nvidia.com/gpu.deploy.device-plugin=true, which no
node of the local cluster carries, so that it runs nowhere) stands in a namespace of its own. `deploy.yml --tags
nvidia_device_plugin` on inventories/simulated then installs nothing, says what it found, and still runs the
allocatable check; with nvidia_device_plugin_install_if_present it installs. Assertions are on the role's own
DaemonSet kube-system/nvidia-device-plugin-daemonset, which the test puts back as it found it.
"""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from test_roles import Playbooks

# The role's DaemonSet in kube-system and the GPU node labels are cluster-wide: make test runs this beside no other
# such test.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]

OWN = ("kube-system", "nvidia-device-plugin-daemonset")
OPERATOR_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"


def operator_daemonset(namespace: str) -> dict:
    labels = {"app": "nvidia-device-plugin-daemonset"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.deploy.device-plugin": "true"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [
                        {
                            "name": "nvidia-device-plugin",
                            "image": OPERATOR_IMAGE,
                            "command": ["/bin/sh", "-c"],
                            "args": ["/bin/entrypoint.sh"],
                        },
                        # The operator's sidecar runs the same image: not a second plugin.
                        {"name": "config-manager", "image": OPERATOR_IMAGE, "command": ["config-manager"]},
                    ],
                },
            },
        },
    }


def own_daemonset(k8s) -> client.V1DaemonSet | None:
    try:
        return client.AppsV1Api(k8s).read_namespaced_daemon_set(OWN[1], OWN[0])
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def env_of(daemonset: client.V1DaemonSet) -> dict[str, str]:
    container = next(c for c in daemonset.spec.template.spec.containers if c.name == "nvidia-device-plugin-ctr")
    return {e.name: e.value for e in container.env or []}


@pytest.fixture
def operator(k8s, kube_cluster, tmp_path):
    """The operator-style DaemonSet in its own namespace; afterwards the role's own DaemonSet is as it was."""
    namespace = f"it-gpu-operator-{uuid.uuid4().hex[:6]}"
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    existed = own_daemonset(k8s) is not None
    core.create_namespace({"metadata": {"name": namespace}})
    apps.create_namespaced_daemon_set(namespace, operator_daemonset(namespace))
    playbooks = Playbooks(kube_cluster.kubeconfig, namespace, tmp_path / "nodes")
    yield playbooks
    core.delete_namespace(namespace)
    if existed:  # the role's defaults again (the operator's DaemonSet may not be gone yet: force)
        restored = playbooks.run(
            "deploy.yml", "--tags", "nvidia_device_plugin", "-e", "nvidia_device_plugin_install_if_present=true"
        )
        assert restored.rc == 0, restored
    elif own_daemonset(k8s) is not None:
        apps.delete_namespaced_daemon_set(OWN[1], OWN[0])


def test_operator_plugin_found_install_skipped_check_still_runs_and_force_installs(operator, k8s):
    namespace = operator.namespace
    before = own_daemonset(k8s)
    operator_generation = client.AppsV1Api(k8s).read_namespaced_daemon_set(OWN[1], namespace).metadata.generation
    # An option that would change the role's DaemonSet if the role applied it.
    mark = ["-e", json.dumps({"nvidia_device_plugin_env": {"IT_MARK": namespace}})]

    skipped = operator.run("deploy.yml", "--tags", "nvidia_device_plugin", *mark)
    assert skipped.rc == 0, skipped
    found = (
        f"the cluster already runs an NVIDIA device plugin: DaemonSet {namespace}/nvidia-device-plugin-daemonset "
        f"(NVIDIA GPU Operator; image {OPERATOR_IMAGE}; 0/0 pods ready). Installing none of its own"
    )
    assert found in skipped.out, skipped
    assert (
        "nvidia_device_plugin_install_if_present: true" in skipped.out
        and "--skip-tags nvidia_device_plugin" in skipped.out
    )
    assert skipped.recap["localcluster"]["changed"] == 0, skipped
    after = own_daemonset(k8s)
    if before is None:
        assert after is None, "the role installed its DaemonSet next to the operator's"
    else:
        assert after.metadata.resource_version == before.metadata.resource_version
        assert "IT_MARK" not in env_of(after)

    # The allocatable check still runs, and points at the plugin that is there: cpu-node-0 stands for a GPU node
    # whose driver is broken.
    nodes = {"nvidia_device_plugin_nodes": ["gpu-node-0", "cpu-node-0"], "nvidia_device_plugin_label_nodes": False}
    checked = operator.run("deploy.yml", "--tags", "nvidia_device_plugin", *mark, "-e", json.dumps(nodes))
    assert checked.rc != 0, checked
    assert (
        "1 GPU node(s) advertise no allocatable nvidia.com/gpu with the cluster's own device plugin in place "
        f"(DaemonSet {namespace}/nvidia-device-plugin-daemonset (NVIDIA GPU Operator;" in checked.out
    ), checked
    assert "cpu-node-0 (capacity 0, Ready)" in checked.out
    assert f"kubectl -n {namespace} logs -l app=nvidia-device-plugin-daemonset --prefix" in checked.out, checked
    if before is None:
        assert own_daemonset(k8s) is None

    forced = operator.run(
        "deploy.yml", "--tags", "nvidia_device_plugin", *mark, "-e", "nvidia_device_plugin_install_if_present=true"
    )
    assert forced.rc == 0, forced
    assert "Installing this role's plugin kube-system/nvidia-device-plugin-daemonset anyway" in forced.out, forced
    installed = own_daemonset(k8s)
    assert installed is not None and env_of(installed)["IT_MARK"] == namespace
    assert installed.status.number_ready == installed.status.desired_number_scheduled == 2  # gpu-node-0 and -1
    # The other plugin is only read, never written (its controller updates its status, which is not a write of ours).
    live = client.AppsV1Api(k8s).read_namespaced_daemon_set(OWN[1], namespace)
    assert live.metadata.generation == operator_generation
    assert {f.manager for f in live.metadata.managed_fields} <= {"OpenAPI-Generator", "kube-controller-manager"}
