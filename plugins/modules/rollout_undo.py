#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_undo
short_description: Roll a Deployment back to its previous revision
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - >-
    Puts back the pod template of the Deployment's previous revision (the newest of its ReplicaSets older than the
    current one), as C(kubectl rollout undo) does; the Deployment then rolls its pods to it.
  - Does not wait for that rollout; M(inference.triton.rollout_status) does.
  - >-
    M(inference.triton.triton_server) calls it when a rollout fails and O(inference.triton.triton_server#module:rollback_on_failure)
    is set.
extends_documentation_fragment:
  - inference.triton.k8s_auth
  - inference.triton.deployment
attributes:
  check_mode:
    support: full
    description: The rollback is sent as a server-side dry run.
  diff_mode:
    support: none
    description: The revision rolled back to is returned in RV(rollback), not as a diff.
  idempotent:
    support: none
    description: Each run rolls back one revision further, as C(kubectl rollout undo) does.
"""

EXAMPLES = r"""
- name: Roll back a failed upgrade
  inference.triton.rollout_undo:
    name: demo-triton
    namespace: triton

- name: Wait for the rollback's rollout
  inference.triton.rollout_status:
    name: demo-triton
    namespace: triton
"""

RETURN = r"""
rollback:
  description: The revision whose pod template the Deployment now has.
  returned: success
  type: str
  sample: "3"
"""

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "default": "default"},
}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._rollback import RollbackError, rollback

    p = module.params
    with reported_failures(module, (RollbackError,)):
        revision = rollback(Cluster(p), p["namespace"], p["name"], module.check_mode)
    module.exit_json(changed=True, rollback=revision)


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
