"""Recognising device plugins that something else installed, from the manifests NVIDIA publishes."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils._device_plugins import (
    describe_cluster_policy,
    describe_daemonset,
    image_name,
    installed_by,
)


def daemonset(
    namespace: str = "gpu-operator",
    name: str = "nvidia-device-plugin-daemonset",
    labels: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    owners: list[str] | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": labels or {},
            "annotations": annotations or {},
            "ownerReferences": [{"kind": kind, "name": "x"} for kind in owners or []],
        },
        "spec": {
            "selector": {"matchLabels": selector or {}},
            "template": {"spec": {"containers": containers or []}},
        },
        "status": status or {},
    }


PLUGIN = {"name": "nvidia-device-plugin-ctr", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"}


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("nvcr.io/nvidia/k8s-device-plugin:v0.17.1", "k8s-device-plugin"),
        ("registry.local:5000/mirror/nvidia/k8s-device-plugin@sha256:abc", "k8s-device-plugin"),
        ("nvidia/k8s-device-plugin", "k8s-device-plugin"),
        ("gcr.io/gke-release/nvidia-gpu-device-plugin:v1", "nvidia-gpu-device-plugin"),
        ("localhost:5000/dp:1", "dp"),
        ("dp", "dp"),
    ],
)
def test_image_name_leaves_out_registry_path_tag_and_digest(image, name):
    assert image_name(image) == name


def test_gpu_operator_daemonset_is_found_by_its_label_and_described():
    found = describe_daemonset(
        daemonset(
            labels={"app": "nvidia-device-plugin-daemonset"},
            selector={"app": "nvidia-device-plugin-daemonset"},
            containers=[
                {"name": "nvidia-device-plugin", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.1",
                 "command": ["/bin/sh", "-c"], "args": ["/bin/entrypoint.sh"]},
                {"name": "config-manager", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.1",
                 "command": ["config-manager"]},
            ],
            owners=["ClusterPolicy"],
            status={"desiredNumberScheduled": 2, "numberReady": 1},
        )
    )  # fmt: skip
    assert found is not None
    assert found["installed_by"] == "gpu-operator"
    assert found["selector"] == "app=nvidia-device-plugin-daemonset"
    assert found["images"] == ["nvcr.io/nvidia/k8s-device-plugin:v0.17.1"]
    assert found["description"] == (
        "DaemonSet gpu-operator/nvidia-device-plugin-daemonset (NVIDIA GPU Operator; "
        "image nvcr.io/nvidia/k8s-device-plugin:v0.17.1; 1/2 pods ready)"
    )


def test_gpu_operator_label_alone_is_enough_when_the_image_is_renamed():
    found = describe_daemonset(
        daemonset(labels={"app": "nvidia-device-plugin-daemonset"}, containers=[{"name": "p", "image": "mirror/dp:1"}])
    )
    assert found is not None and found["installed_by"] == "gpu-operator" and "image not set" in found["description"]


def test_helm_release_of_the_upstream_chart_is_named():
    found = describe_daemonset(
        daemonset(
            namespace="nvidia-device-plugin",
            name="nvdp-nvidia-device-plugin",
            labels={
                "app.kubernetes.io/name": "nvidia-device-plugin",
                "app.kubernetes.io/instance": "nvdp",
                "app.kubernetes.io/managed-by": "Helm",
                "helm.sh/chart": "nvidia-device-plugin-0.17.1",
            },
            annotations={"meta.helm.sh/release-name": "nvdp"},
            containers=[{**PLUGIN, "command": ["nvidia-device-plugin"]}],
        )
    )
    assert found is not None and found["installed_by"] == "helm"
    assert "Helm release nvdp of nvidia-device-plugin-0.17.1" in found["description"]


@pytest.mark.parametrize("program", ["gpu-feature-discovery", "mps-control-daemon", "/usr/bin/config-manager"])
def test_other_programs_of_the_plugin_image_are_not_device_plugins(program):
    ds = daemonset(
        name="nvdp-nvidia-device-plugin-gpu-feature-discovery",
        labels={"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/managed-by": "Helm"},
        containers=[{**PLUGIN, "name": "gpu-feature-discovery-ctr", "command": [program]}],
    )
    assert describe_daemonset(ds) is None


@pytest.mark.parametrize(
    ("image", "container", "plugin"),
    [
        ("nvcr.io/nvidia/k8s-device-plugin:v0.17.1", "c", True),
        ("mcr.microsoft.com/oss/nvidia/k8s-device-plugin:v0.14.1", "c", True),
        ("registry.local:5000/mirror/nvidia/k8s-device-plugin@sha256:abc", "c", True),
        ("nvidia/k8s-device-plugin:1.0.0-beta4", "c", True),
        ("gcr.io/gke-release/nvidia-gpu-device-plugin:v1", "c", True),
        # a mirror under any other name: the container name of NVIDIA's manifests tells
        ("harbor.local/library/dp:1", "nvidia-device-plugin-ctr", True),
        ("harbor.local/library/dp:1", "c", False),
        # AMD's plugin has the same image name under rocm/
        ("rocm/k8s-device-plugin:latest", "amdgpu-dp-cntr", False),
        ("registry.k8s.io/kube-proxy:v1.35.4", "kube-proxy", False),
    ],
)
def test_which_containers_are_nvidia_device_plugins(image, container, plugin):
    found = describe_daemonset(daemonset(namespace="kube-system", containers=[{"name": container, "image": image}]))
    assert (found is not None) is plugin
    if plugin:
        assert found["images"] == [image] and found["installed_by"] == "unknown"


@pytest.mark.parametrize(
    ("labels", "selector", "owners", "who"),
    [
        (
            {"app.kubernetes.io/managed-by": "inference.triton"},
            {"name": "nvidia-device-plugin-ds"},
            [],
            "inference.triton",
        ),
        ({}, {"name": "nvidia-device-plugin-ds"}, [], "static-manifest"),
        ({}, {"k8s-app": "nvidia-gpu-device-plugin"}, [], "unknown"),
        ({}, {}, ["ClusterPolicy"], "gpu-operator"),
    ],
)
def test_installed_by(labels, selector, owners, who):
    assert installed_by(daemonset(labels=labels, selector=selector, owners=owners)) == who


@pytest.mark.parametrize(
    ("spec", "enabled"),
    [({}, True), ({"devicePlugin": {}}, True), ({"devicePlugin": {"enabled": False}}, False),
     ({"devicePlugin": {"enabled": "false"}}, False), ({"devicePlugin": {"enabled": True}}, True)],
)  # fmt: skip
def test_cluster_policy_runs_the_device_plugin_unless_disabled(spec, enabled):
    policy = {"metadata": {"name": "gpu-cluster-policy"}, "spec": spec, "status": {"state": "ready"}}
    described = describe_cluster_policy(policy)
    assert described["device_plugin_enabled"] is enabled
    word = "enabled" if enabled else "disabled"
    assert (
        described["description"]
        == f"GPU Operator ClusterPolicy gpu-cluster-policy (its device plugin {word}; state ready)"
    )
