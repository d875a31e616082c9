#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: nvidia_device_plugins_info
short_description: Find the NVIDIA device plugins and GPU Operator ClusterPolicies a cluster already has
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Lists the DaemonSets of every namespace (one list call) and returns those that run an NVIDIA device plugin, or
    that carry the GPU Operator's label C(app=nvidia-device-plugin-daemonset).
  - A container runs the device plugin when its image is C(nvidia/k8s-device-plugin) from any registry or mirror
    (for example C(nvcr.io/nvidia/k8s-device-plugin:v0.17.1)), or a cloud build named C(nvidia-gpu-device-plugin),
    or when it is named like the containers of NVIDIA's manifests (C(nvidia-device-plugin-ctr) of the static
    manifest and the Helm chart, C(nvidia-device-plugin) of the GPU Operator), whatever its image. Containers of the
    same image that run GPU Feature Discovery, its C(config-manager) or the MPS control daemon are not device
    plugins.
  - When the API server serves the GPU Operator's C(clusterpolicies.nvidia.com), also lists the ClusterPolicies and
    says whether each runs the operator's device plugin (C(spec.devicePlugin.enabled), on unless set to false).
  - Used by the C(nvidia_device_plugin) role to keep from installing a second device plugin next to the GPU
    Operator's or another one.
extends_documentation_fragment:
  - inference.triton.k8s_auth
  - inference.triton.attributes.read_only
options:
  namespace:
    description: Only look at DaemonSets in this namespace. All namespaces when not set.
    type: str
notes:
  - Needs C(list) on C(daemonsets) (API group C(apps)) in every namespace, or in O(namespace) when it is set, and
    C(list) on C(clusterpolicies) (API group C(nvidia.com)) when the GPU Operator's CRD is installed;
    C(docs/rbac-device-plugin.yml) grants both.
"""

EXAMPLES = r"""
- name: Find device plugins that something else installed
  inference.triton.nvidia_device_plugins_info:
  register: existing

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ (existing.daemonsets + existing.cluster_policies) | map(attribute='description') | list }}"
"""

RETURN = r"""
daemonsets:
  description: The DaemonSets that run an NVIDIA device plugin, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the DaemonSet.
      type: str
    name:
      description: Name of the DaemonSet.
      type: str
    installed_by:
      description:
        - Who installed it, as far as its labels, owners and selector tell.
        - V(inference.triton) (this collection's role), V(gpu-operator), V(helm), V(static-manifest) (NVIDIA's
          static YAML, selector C(name=nvidia-device-plugin-ds)) or V(unknown).
      type: str
    images:
      description: Images of its device plugin containers.
      type: list
      elements: str
    selector:
      description: Its pod selector as C(key=value,...), for C(kubectl logs -l).
      type: str
    desired:
      description: Nodes it should run on (C(status.desiredNumberScheduled)).
      type: int
    ready:
      description: Nodes where its pod is ready (C(status.numberReady)).
      type: int
    description:
      description: One line naming the DaemonSet, who installed it, its image and readiness.
      type: str
  sample:
    - namespace: gpu-operator
      name: nvidia-device-plugin-daemonset
      installed_by: gpu-operator
      images: [nvcr.io/nvidia/k8s-device-plugin:v0.17.1]
      selector: app=nvidia-device-plugin-daemonset
      desired: 2
      ready: 2
      description: >-
        DaemonSet gpu-operator/nvidia-device-plugin-daemonset (NVIDIA GPU Operator;
        image nvcr.io/nvidia/k8s-device-plugin:v0.17.1; 2/2 pods ready)
cluster_policies:
  description: The GPU Operator's ClusterPolicies; empty when the API server does not serve C(clusterpolicies.nvidia.com).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the ClusterPolicy.
      type: str
    device_plugin_enabled:
      description: Whether the operator runs its device plugin (C(spec.devicePlugin.enabled) is not false).
      type: bool
    state:
      description: C(status.state) of the ClusterPolicy.
      type: str
    description:
      description: One line naming the ClusterPolicy and whether its device plugin is enabled.
      type: str
gpu_operator_crd:
  description: Whether the API server serves the GPU Operator's C(clusterpolicies.nvidia.com).
  returned: always
  type: bool
"""

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

ARGUMENT_SPEC = {"namespace": {"type": "str"}}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._apply import to_dict
    from ansible_collections.inference.triton.plugins.module_utils._device_plugins import (
        describe_cluster_policy,
        describe_daemonset,
    )

    namespace = module.params["namespace"]
    with reported_failures(module):
        cluster = Cluster(module.params)
        daemonsets_api = cluster.resource("apps/v1", "DaemonSet")
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        listing = cluster.call(
            lambda: daemonsets_api.get(namespace=namespace, **cluster.request_kwargs()), f"listing DaemonSets {where}"
        )
        found = [d for d in (describe_daemonset(to_dict(item) or {}) for item in listing.items) if d is not None]
        policies_api = cluster.resource("nvidia.com/v1", "ClusterPolicy")
        policies = []
        if policies_api is not None:
            policies = [
                describe_cluster_policy(to_dict(item) or {})
                for item in cluster.call(
                    lambda: policies_api.get(**cluster.request_kwargs()), "listing the GPU Operator's ClusterPolicies"
                ).items
            ]
    module.exit_json(
        changed=False,
        daemonsets=sorted(found, key=lambda d: (d["namespace"] or "", d["name"] or "")),
        cluster_policies=sorted(policies, key=lambda p: p["name"] or ""),
        gpu_operator_crd=policies_api is not None,
    )


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
