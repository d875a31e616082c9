#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_apply
short_description: Server-side apply a list of Kubernetes objects with exact change detection
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - The collection's apply engine, for the roles' own objects (NVIDIA device plugin DaemonSet, RuntimeClass,
    ConfigMaps, Node labels).
  - Applies each object with server-side apply under one field manager; C(changed) comes from the API
    server's answer (resourceVersion, or a server-side dry run in check mode), never from comparing the
    manifest with the live object.
  - >-
    A partial object is fine, for example a Node with only C(metadata.labels): only the fields given are owned.
  - With O(prune), deletes objects that carry O(prune.selector) but are no longer in O(definitions).
  - With O(wait), watches Deployments and DaemonSets until they are ready on every node they target.
extends_documentation_fragment:
  - inference.triton.k8s_auth
attributes:
  check_mode:
    support: full
    description: Server-side dry run; nothing is written.
  diff_mode:
    support: full
    description: Before and after of every object that changes.
  idempotent:
    support: full
    description: A second run with the same definitions reports C(changed=false).
options:
  definitions:
    description: The objects, each a full Kubernetes manifest (or a partial one, for fields to own).
    type: list
    elements: dict
    required: true
  namespace:
    description: Namespace for namespaced objects that do not give one.
    type: str
  state:
    description: V(present) applies the objects, V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
  force_conflicts:
    description: Take over fields set by other field managers.
    type: bool
    default: true
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: inference.triton
  prune:
    description:
      - Delete objects of the listed kinds that match the label selector and are not in O(definitions).
    type: dict
    suboptions:
      selector:
        description: Label selector of the objects this task owns.
        type: str
        required: true
      kinds:
        description: >-
          C(apiVersion)/C(kind) pairs to look at, for example C({api_version: apps/v1, kind: DaemonSet}).
        type: list
        elements: dict
        required: true
      namespace:
        description: Namespace to look in (cluster-scoped kinds ignore it).
        type: str
  wait:
    description: Wait until every Deployment and DaemonSet in O(definitions) is ready (or gone, with O(state=absent)).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Label the GPU nodes
  inference.triton.k8s_apply:
    definitions:
      - apiVersion: v1
        kind: Node
        metadata:
          name: gpu-node-0
          labels:
            nvidia.com/gpu.present: "true"

- name: Install a DaemonSet and wait until it runs on every node it selects
  inference.triton.k8s_apply:
    definitions: "{{ lookup('ansible.builtin.template', 'daemonset.yaml.j2') | ansible.builtin.from_yaml_all | list }}"
    wait: true
"""

RETURN = r"""
results:
  description: One entry per object with its key, kind, name, namespace, action and resulting object.
  returned: always
  type: list
  elements: dict
actions:
  description: C(<Kind>/<name>) to action (V(created), V(updated), V(unchanged), V(deleted), V(absent)).
  returned: always
  type: dict
ready:
  description: Per waited object, its readiness summary.
  returned: when wait is true
  type: dict
"""

import time

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

ARGUMENT_SPEC = dict(
    definitions={"type": "list", "elements": "dict", "required": True},
    namespace={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    force_conflicts={"type": "bool", "default": True},
    field_manager={"type": "str", "default": "inference.triton"},
    prune={
        "type": "dict",
        "options": {
            "selector": {"type": "str", "required": True},
            "kinds": {"type": "list", "elements": "dict", "required": True},
            "namespace": {"type": "str"},
        },
    },
    wait={"type": "bool", "default": False},
    wait_timeout={"type": "int", "default": 300},
)


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._apply import Applier, ApplyError, object_id
    from ansible_collections.inference.triton.plugins.module_utils._wait import wait_ready

    p = module.params
    definitions = []
    for index, manifest in enumerate(p["definitions"]):
        if not manifest:
            continue
        if not all(manifest.get(k) for k in ("apiVersion", "kind")) or not (manifest.get("metadata") or {}).get("name"):
            module.fail_json(msg=f"definitions[{index}]: needs apiVersion, kind and metadata.name")
        manifest = dict(manifest)
        if p["namespace"] and not manifest["metadata"].get("namespace"):
            manifest["metadata"] = {**manifest["metadata"], "namespace": p["namespace"]}
        definitions.append(manifest)
    with reported_failures(module, (ApplyError,)):
        cluster = Cluster(p, field_manager=p["field_manager"])
        applier = Applier(cluster, module.check_mode, p["force_conflicts"])
        for manifest in definitions:
            key = f"{manifest['kind']}/{manifest['metadata']['name']}"
            if p["state"] == "present":
                applier.apply(manifest, key=key)
            else:
                resource = applier.resource_for(manifest)
                namespace = manifest["metadata"].get("namespace") if resource.namespaced else None
                applier.delete(resource, manifest["metadata"]["name"], namespace, key=key)
        if p["prune"] and p["state"] == "present":
            kinds = [(None, k.get("api_version") or k.get("apiVersion"), k["kind"]) for k in p["prune"]["kinds"]]
            applier.prune(applier.stale(kinds, p["prune"]["namespace"], p["prune"]["selector"], definitions))
        result = {
            "changed": applier.changed,
            "results": applier.results,
            "actions": {r["key"]: r["action"] for r in applier.results},
        }
        if p["wait"] and not module.check_mode:
            deadline = time.monotonic() + p["wait_timeout"]
            ready = {}
            for manifest in definitions:
                if manifest["kind"] not in ("Deployment", "DaemonSet"):
                    continue
                ok, summary = wait_ready(
                    cluster, manifest, max(1.0, deadline - time.monotonic()), gone=p["state"] == "absent"
                )
                ready[object_id(manifest)] = summary
                if not ok:
                    module.fail_json(
                        msg=f"{object_id(manifest)} not ready within {p['wait_timeout']}s: {summary}",
                        **result,
                        ready=ready,
                    )
            result["ready"] = ready
        if module._diff:
            result["diff"] = applier.diffs
    module.exit_json(**result)


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
