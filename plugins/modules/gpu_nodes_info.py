#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_nodes_info
short_description: List the cluster's nodes with their GPU capacity, allocatable GPUs, readiness and addresses
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Reads the Nodes (one list call) and returns, per node, C(nvidia.com/gpu) capacity and allocatable, the GPUs
    requested by running pods, readiness, taints, labels, annotations and addresses.
  - Used by the C(nvidia_device_plugin) role to name GPU nodes that do not advertise GPUs, and by the summary
    to build endpoint URLs.
extends_documentation_fragment:
  - inference.triton.k8s_auth
  - inference.triton.attributes.read_only
options:
  label_selector:
    description: Only nodes matching this label selector.
    type: str
  names:
    description: Only these nodes. A name that does not exist is reported in RV(missing).
    type: list
    elements: str
    default: []
  count_requested:
    description: Also sum the GPUs limited by non-terminated pods on each node (one cluster-wide pod list).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read the GPU nodes
  inference.triton.gpu_nodes_info:
    label_selector: nvidia.com/gpu.present=true
  register: gpu_nodes
"""

RETURN = r"""
nodes:
  description: One entry per node.
  returned: always
  type: list
  elements: dict
  sample:
    - name: gpu-node-0
      ready: true
      schedulable: true
      gpu_capacity: 8
      gpu_allocatable: 8
      gpu_requested: 1
      internal_ip: 10.0.0.5
      labels: {}
      annotations: {}
      taints: []
missing:
  description: Names from O(names) with no such node.
  returned: always
  type: list
  elements: str
total_gpu_allocatable:
  description: Sum of allocatable GPUs over the returned nodes.
  returned: always
  type: int
"""

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

GPU = "nvidia.com/gpu"


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def describe(node: dict, requested: dict) -> dict:
    meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    addresses = {a["type"]: a["address"] for a in status.get("addresses") or []}
    return {
        "name": meta["name"],
        "ready": bool(ready) and ready[0].get("status") == "True",
        "schedulable": not spec.get("unschedulable", False),
        "gpu_capacity": _int((status.get("capacity") or {}).get(GPU)),
        "gpu_allocatable": _int((status.get("allocatable") or {}).get(GPU)),
        "gpu_requested": requested.get(meta["name"], 0),
        "internal_ip": addresses.get("InternalIP"),
        "hostname": addresses.get("Hostname"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "taints": spec.get("taints") or [],
    }


ARGUMENT_SPEC = {
    "label_selector": {"type": "str"},
    "names": {"type": "list", "elements": "str", "default": []},
    "count_requested": {"type": "bool", "default": False},
}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._apply import to_dict

    p = module.params
    with reported_failures(module):
        cluster = Cluster(p)
        nodes_api = cluster.resource("v1", "Node")
        nodes = [
            to_dict(n)
            for n in cluster.call(lambda: nodes_api.get(label_selector=p["label_selector"]), "listing nodes").items
        ]
        requested: dict = {}
        if p["count_requested"]:
            pods_api = cluster.resource("v1", "Pod")
            pods = cluster.call(
                lambda: pods_api.get(field_selector="status.phase!=Succeeded,status.phase!=Failed"), "listing pods"
            ).items
            for pod in pods:
                pod = to_dict(pod)
                node = (pod.get("spec") or {}).get("nodeName")
                for container in (pod.get("spec") or {}).get("containers") or []:
                    requested[node] = requested.get(node, 0) + _int(
                        ((container.get("resources") or {}).get("limits") or {}).get(GPU)
                    )
    described = [describe(n, requested) for n in nodes]
    if p["names"]:
        wanted = set(p["names"])
        described = [n for n in described if n["name"] in wanted]
    found = {n["name"] for n in described}
    module.exit_json(
        changed=False,
        nodes=described,
        missing=[n for n in p["names"] if n not in found],
        total_gpu_allocatable=sum(n["gpu_allocatable"] for n in described),
    )


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
