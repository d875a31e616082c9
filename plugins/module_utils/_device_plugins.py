# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Recognising an NVIDIA device plugin that something else installed: DaemonSets and GPU Operator ClusterPolicies.

Pure functions over the objects as the API returns them (dicts), so that they are unit-tested without a cluster.

What identifies a device plugin, from the manifests NVIDIA publishes:
- The GPU Operator runs it as DaemonSet ``nvidia-device-plugin-daemonset`` in its own namespace (``gpu-operator``
  by default), labelled ``app=nvidia-device-plugin-daemonset``, owned by the ``ClusterPolicy`` (``nvidia.com/v1``,
  cluster-scoped) that configures it; ``spec.devicePlugin.enabled: false`` in that ClusterPolicy turns it off.
- The upstream Helm chart ``nvidia-device-plugin`` labels its DaemonSets ``app.kubernetes.io/name=nvidia-device-plugin``
  and ``app.kubernetes.io/managed-by=Helm``; GPU Feature Discovery and the MPS control daemon from the same chart
  run the same image under other commands, and are not device plugins.
- NVIDIA's static manifest: DaemonSet ``kube-system/nvidia-device-plugin-daemonset``, selector
  ``name=nvidia-device-plugin-ds``.
- Every one runs the image ``nvcr.io/nvidia/k8s-device-plugin`` (or a mirror of it), in a container named
  ``nvidia-device-plugin-ctr`` (static manifest, Helm chart) or ``nvidia-device-plugin`` (GPU Operator); some
  clouds ship their own build named ``nvidia-gpu-device-plugin``.
"""

from __future__ import annotations

from typing import Any

GPU_OPERATOR_LABEL = ("app", "nvidia-device-plugin-daemonset")
# NVIDIA's image, wherever it is mirrored: the repository path ends with nvidia/k8s-device-plugin. Some clouds ship
# their own build under another name. (AMD's plugin is also called k8s-device-plugin, under rocm/.)
PLUGIN_IMAGE_PATH = "nvidia/k8s-device-plugin"
PLUGIN_IMAGE_NAMES = ("nvidia-gpu-device-plugin", "nvidia-device-plugin")
# The container name of NVIDIA's static manifest, of its Helm chart and of this collection's role
# (nvidia-device-plugin-ctr), and of the GPU Operator (nvidia-device-plugin): it identifies an image mirrored under
# any name.
PLUGIN_CONTAINER_PREFIX = "nvidia-device-plugin"
# Programs shipped in the device plugin image that are not the plugin (GPU Feature Discovery, its config sidecar,
# the MPS control daemon): a container running one of them does not advertise GPUs.
NOT_THE_PLUGIN = ("gpu-feature-discovery", "config-manager", "mps-control-daemon")


def image_path(image: str) -> str:
    """``nvcr.io/nvidia/k8s-device-plugin:v0.17.1`` -> ``nvcr.io/nvidia/k8s-device-plugin`` (no tag, no digest)."""
    path = image.split("@", 1)[0]
    head, last = path.rsplit("/", 1) if "/" in path else ("", path)
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def image_name(image: str) -> str:
    """``nvcr.io/nvidia/k8s-device-plugin:v0.17.1`` -> ``k8s-device-plugin`` (registry, path, tag, digest aside)."""
    return image_path(image).rsplit("/", 1)[-1]


def is_plugin_image(image: str) -> bool:
    path = image_path(image).lower()
    return path == PLUGIN_IMAGE_PATH or path.endswith("/" + PLUGIN_IMAGE_PATH) or image_name(path) in PLUGIN_IMAGE_NAMES


def _program(container: dict[str, Any]) -> str:
    words = list(container.get("command") or []) + list(container.get("args") or [])
    return words[0].rsplit("/", 1)[-1] if words else ""


def plugin_containers(daemonset: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a DaemonSet that run an NVIDIA device plugin (init containers and sibling tools aside)."""
    pod = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [
        c
        for c in pod.get("containers") or []
        if _program(c) not in NOT_THE_PLUGIN
        and (is_plugin_image(str(c.get("image") or "")) or str(c.get("name") or "").startswith(PLUGIN_CONTAINER_PREFIX))
    ]


def installed_by(daemonset: dict[str, Any]) -> str:
    """Who put the DaemonSet there, as far as its labels, owners and selector tell."""
    meta = daemonset.get("metadata") or {}
    labels = meta.get("labels") or {}
    owners = {o.get("kind") for o in meta.get("ownerReferences") or []}
    selector = ((daemonset.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if labels.get("app.kubernetes.io/managed-by") == "inference.triton":
        return "inference.triton"
    if "ClusterPolicy" in owners or labels.get(GPU_OPERATOR_LABEL[0]) == GPU_OPERATOR_LABEL[1]:
        return "gpu-operator"
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        return "helm"
    if selector.get("name") == "nvidia-device-plugin-ds":
        return "static-manifest"
    return "unknown"


_WHO = {
    "inference.triton": "inference.triton (another nvidia_device_plugin_name or namespace)",
    "gpu-operator": "NVIDIA GPU Operator",
    "static-manifest": "NVIDIA's static manifest",
    "unknown": "installer unknown",
}


def describe_daemonset(daemonset: dict[str, Any]) -> dict[str, Any] | None:
    """What the role reports about a device plugin DaemonSet; None when the DaemonSet is not one."""
    containers = plugin_containers(daemonset)
    meta = daemonset.get("metadata") or {}
    labels = meta.get("labels") or {}
    if not containers and labels.get(GPU_OPERATOR_LABEL[0]) != GPU_OPERATOR_LABEL[1]:
        return None
    status = daemonset.get("status") or {}
    selector = ((daemonset.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    who = installed_by(daemonset)
    if who == "helm":
        release = (meta.get("annotations") or {}).get("meta.helm.sh/release-name") or labels.get(
            "app.kubernetes.io/instance"
        )
        chart = labels.get("helm.sh/chart") or labels.get("app.kubernetes.io/name") or "a chart"
        source = f"Helm release {release} of {chart}" if release else f"Helm ({chart})"
    else:
        source = _WHO[who]
    images = sorted({str(c.get("image")) for c in containers})
    desired, ready = int(status.get("desiredNumberScheduled") or 0), int(status.get("numberReady") or 0)
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "installed_by": who,
        "images": images,
        "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        "desired": desired,
        "ready": ready,
        "description": (
            f"DaemonSet {name} ({source}; image {', '.join(images) or 'not set'}; {ready}/{desired} pods ready)"
        ),
    }


def describe_cluster_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """A GPU Operator ClusterPolicy: does it run the operator's device plugin? (on unless explicitly disabled)"""
    meta, spec = policy.get("metadata") or {}, policy.get("spec") or {}
    enabled = (spec.get("devicePlugin") or {}).get("enabled")
    plugin_on = enabled is None or enabled is True or str(enabled).lower() == "true"
    state = (policy.get("status") or {}).get("state") or "no state yet"
    return {
        "name": meta.get("name"),
        "device_plugin_enabled": plugin_on,
        "state": state,
        "description": (
            f"GPU Operator ClusterPolicy {meta.get('name')} (its device plugin "
            f"{'enabled' if plugin_on else 'disabled'}; state {state})"
        ),
    }
