#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_status
short_description: Wait for a Deployment's rollout and explain why it does not complete
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Watches a Deployment (no fixed sleeps) until all its replicas are updated and available, or the timeout passes.
  - >-
    When the rollout is not complete, returns the reasons found in the Deployment's conditions, its pods' status
    and their warning events, for example C(0/3 nodes are available: 3 Insufficient nvidia.com/gpu),
    C(ImagePullBackOff), C(CrashLoopBackOff), or a Pod Security refusal.
  - >-
    Stops before the timeout when a container of the current revision's pods has exited twice (a crash loop, which
    does not recover without a change), with C(progress.crash_loop) naming them. The reasons then quote the
    container's exit code, termination message and the error lines of its log (secret-looking values masked);
    reading the log needs C(get) on C(pods/log).
  - Only reads; M(inference.triton.rollout_undo) rolls a Deployment back.
  - M(inference.triton.triton_server) calls it in short slices to show progress while it waits.
extends_documentation_fragment:
  - inference.triton.k8s_auth
  - inference.triton.attributes.read_only
  - inference.triton.deployment
options:
  timeout:
    description: Seconds to wait for the rollout to complete. V(0) only looks once. A crash loop ends the wait before.
    type: int
    default: 600
  fail_on_timeout:
    description: Fail when the rollout is not complete at the end of O(timeout), with the reasons in the message.
    type: bool
    default: true
  verify_pods:
    description:
      - >-
        Once the rollout is complete, check every pod of the new revision: its C(triton) container has not
        restarted, and each model of O(verify_models) is READY, asked of each pod directly through the API server's
        pod proxy (needs C(get) on C(pods/proxy) when O(verify_models) is set). Problems are returned in
        C(serving_problems) and, with O(fail_on_timeout), fail the task.
    type: bool
    default: false
  verify_models:
    description: The models every pod of the new revision must serve (with O(verify_pods)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Wait up to 10 minutes for Triton to be available
  inference.triton.rollout_status:
    name: demo-triton
    namespace: triton
    timeout: 600

- name: Check once, without waiting, and keep going whatever the state
  inference.triton.rollout_status:
    name: demo-triton
    namespace: triton
    timeout: 0
    fail_on_timeout: false
  register: triton_rollout
"""

RETURN = r"""
complete:
  description: Whether every replica is updated and available.
  returned: always
  type: bool
summary:
  description:
    - One line, for example C(2/2 updated, 2 ready, 2 available, 2 total).
    - While pods of an incomplete rollout are still pulling their image, followed by which and for how long, for
      example C(; pod triton-5d9c-x2x7q still pulling nvcr.io/nvidia/tritonserver:26.07-py3 (4m12s on node dgx-e01)).
  returned: always
  type: str
image_pulls:
  description: The containers of the rollout's pods whose image is still being pulled (pod, container, image, node,
    seconds since the kubelet's C(Pulling) event).
  returned: when not complete and a pull is under way
  type: list
  elements: dict
progress:
  description:
    - Replica counts, revision, and whether the progress deadline passed.
    - C(crash_loop), when the wait stopped early, lists the crash-looping containers as C(pod/container).
    - C(models_unavailable), with O(verify_models), lists the declared models a running new pod reports UNAVAILABLE
      (Triton does not retry them in explicit mode), with Triton's reason.
  returned: always
  type: dict
reasons:
  description: Why the rollout is not complete, one line per distinct cause.
  returned: when not complete
  type: list
  elements: str
pods:
  description: The Deployment's pods with their node, host IP and readiness.
  returned: always
  type: list
  elements: dict
serving_problems:
  description:
    - >-
      With O(verify_pods), what the new pods lack, one line per pod and problem, for example
      C(pod demo-triton-7f9c-x2x7q: model add_sub is UNAVAILABLE: ...) (empty when every pod serves every model).
  returned: when verify_pods is true and the rollout is complete
  type: list
  elements: str
"""

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "default": "default"},
    "timeout": {"type": "int", "default": 600},
    "fail_on_timeout": {"type": "bool", "default": True},
    "verify_pods": {"type": "bool", "default": False},
    "verify_models": {"type": "list", "elements": "str", "default": []},
}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._wait import (
        RolloutWatcher,
        rollout_failure,
        rollout_report,
        serving_failure,
    )

    p = module.params
    with reported_failures(module):
        watcher = RolloutWatcher(Cluster(p), p["namespace"], p["name"])
        deployment, progress = watcher.wait(p["timeout"])
        if deployment is None:
            module.fail_json(msg=f"Deployment {p['namespace']}/{p['name']} does not exist", complete=False)
        result = {
            "changed": False,
            **rollout_report(watcher, deployment, progress, p["verify_pods"], p["verify_models"]),
        }
    if p["fail_on_timeout"] and result.get("serving_problems"):
        module.fail_json(msg=serving_failure(p["namespace"], p["name"], result), **result)
    if p["fail_on_timeout"] and not result["complete"]:
        module.fail_json(msg=rollout_failure(p["namespace"], p["name"], result, p["timeout"]), **result)
    module.exit_json(**result)


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
