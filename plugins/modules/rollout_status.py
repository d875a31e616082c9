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
  - Can roll the Deployment back to its previous revision, as C(kubectl rollout undo) does.
  - M(inference.triton.triton_server) calls it in short slices to show progress while it waits.
extends_documentation_fragment:
  - inference.triton.k8s_auth
attributes:
  check_mode:
    support: full
    description: Only reads, except O(rollback), which is a dry run in check mode.
  diff_mode:
    support: none
    description: Nothing is written, except by O(rollback).
  idempotent:
    support: full
    description: Waiting changes nothing; O(rollback) reports a change each time it rolls back.
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    default: default
  timeout:
    description: Seconds to wait for the rollout to complete. V(0) only looks once. A crash loop ends the wait before.
    type: int
    default: 600
  fail_on_timeout:
    description: Fail when the rollout is not complete at the end of O(timeout), with the reasons in the message.
    type: bool
    default: true
  rollback:
    description:
      - Roll the Deployment back to the pod template of its previous revision, instead of waiting.
    type: bool
    default: false
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

- name: Roll back a failed upgrade
  inference.triton.rollout_status:
    name: demo-triton
    namespace: triton
    rollback: true
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
rollback:
  description: The revision the Deployment was rolled back to.
  returned: when rollback is true
  type: str
"""

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "default": "default"},
    "timeout": {"type": "int", "default": 600},
    "fail_on_timeout": {"type": "bool", "default": True},
    "rollback": {"type": "bool", "default": False},
    "verify_pods": {"type": "bool", "default": False},
    "verify_models": {"type": "list", "elements": "str", "default": []},
}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._rollback import RollbackError, rollback
    from ansible_collections.inference.triton.plugins.module_utils._wait import (
        GPU_STALL_TEXT,
        RolloutWatcher,
        progress_text,
    )

    p = module.params
    with reported_failures(module, (RollbackError,)):
        cluster = Cluster(p)
        watcher = RolloutWatcher(cluster, p["namespace"], p["name"])
        result: dict = {"changed": False}
        if p["rollback"]:
            result["rollback"] = rollback(cluster, p["namespace"], p["name"], module.check_mode)
            result["changed"] = True
            deployment, progress = watcher.get(), None
        else:
            deployment, progress = watcher.wait(p["timeout"])
        if deployment is None:
            module.fail_json(msg=f"Deployment {p['namespace']}/{p['name']} does not exist", complete=False)
        from ansible_collections.inference.triton.plugins.module_utils._wait import deployment_progress

        progress = progress or deployment_progress(deployment)
        result.update(
            complete=progress["complete"],
            progress=progress,
            summary=progress_text(progress),
            pods=watcher.pods(deployment),
        )
        if progress["complete"] and p["verify_pods"] and not p["rollback"]:
            from ansible_collections.inference.triton.plugins.module_utils._serving import verify_rollout

            result["serving_problems"] = verify_rollout(cluster, watcher, deployment, p["verify_models"])
            if result["serving_problems"] and p["fail_on_timeout"]:
                module.fail_json(
                    msg=f"rollout of Deployment {p['namespace']}/{p['name']} completed, but its new pods do not "
                    "serve as declared: " + "; ".join(result["serving_problems"]),
                    **result,
                )
        if not progress["complete"]:
            # The progress line says when pods are still pulling their image, and for how long.
            pulls = watcher.image_pulls(deployment) if not p["rollback"] else []
            if pulls:
                from ansible_collections.inference.triton.plugins.module_utils._wait import pulls_text

                result["summary"] += f"; {pulls_text(pulls)}"
                result["image_pulls"] = pulls
            result["reasons"] = watcher.explain(deployment)
            if p["verify_models"] and not p["rollback"]:
                from ansible_collections.inference.triton.plugins.module_utils._serving import unavailable_models

                unavailable = unavailable_models(cluster, watcher, deployment, p["verify_models"])
                if unavailable:
                    progress["models_unavailable"] = unavailable
                    result["reasons"] = unavailable + result["reasons"]
            if p["fail_on_timeout"] and not p["rollback"]:
                if progress.get("crash_loop"):
                    ended = f"stopped: new pods keep crashing ({', '.join(progress['crash_loop'])})"
                elif progress.get("models_unavailable"):
                    ended = "stopped: declared models cannot load, which Triton does not retry in explicit mode"
                elif progress.get("gpu_stall"):
                    ended = f"stopped: {GPU_STALL_TEXT}"
                else:
                    ended = f"did not complete within {p['timeout']}s"
                module.fail_json(
                    msg=f"rollout of Deployment {p['namespace']}/{p['name']} {ended} ({result['summary']}): "
                    + "; ".join(result["reasons"]),
                    **result,
                )
    module.exit_json(**result)


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
