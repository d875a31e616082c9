#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
# Test-only module of the molecule scenarios (molecule/ is not part of the built collection).
# As in plugins/modules, DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_namespace_absent
short_description: Delete a molecule scenario's namespace and wait until it is gone
description:
  - Deletes the namespace (the API server then deletes everything in it) and watches until it no longer exists.
  - Test-only: the scenarios' C(destroy.yml) uses it so that each scenario starts from an empty namespace.
  - Refuses a namespace whose name does not start with O(required_prefix), so that a typo cannot delete
    a namespace that is not a scenario's.
author:
  - inference.triton maintainers
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  kubeconfig:
    description: Path to a kubeconfig file. Defaults to C(K8S_AUTH_KUBECONFIG), then C(KUBECONFIG).
    type: path
  name:
    description: The namespace.
    type: str
    required: true
  required_prefix:
    description: The namespace name must start with this.
    type: str
    default: molecule-
  wait_timeout:
    description: Seconds to wait for the namespace to disappear.
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: Remove the scenario's namespace
  k8s_namespace_absent:
    name: molecule-default
"""

RETURN = r"""
seconds:
  description: How long the deletion took.
  returned: when changed
  type: float
"""

import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes import watch as k8s_watch
    from kubernetes.client.exceptions import ApiException

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def kubeconfig_path(given: str | None) -> str | None:
    if given:
        return given
    for var in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        value = os.environ.get(var, "")
        if value:
            return value.split(os.pathsep)[0]
    return None


def exists(core, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def wait_gone(core, name: str, timeout: float) -> bool:
    """Watch the namespace until it is deleted; True when it is gone before the timeout."""
    deadline = time.monotonic() + timeout
    while exists(core, name):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        watcher = k8s_watch.Watch()
        for event in watcher.stream(
            core.list_namespace,
            field_selector=f"metadata.name={name}",
            timeout_seconds=max(1, int(min(remaining, 10))),
        ):
            if event["type"] == "DELETED":
                watcher.stop()
                return True
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kubeconfig": {"type": "path"},
            "name": {"type": "str", "required": True},
            "required_prefix": {"type": "str", "default": "molecule-"},
            "wait_timeout": {"type": "int", "default": 180},
        },
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=IMPORT_ERROR)
    name, prefix = module.params["name"], module.params["required_prefix"]
    if not name.startswith(prefix):
        module.fail_json(msg=f"name: {name!r} does not start with {prefix!r}; refusing to delete it")
    started = time.monotonic()
    try:
        api = k8s_config.new_client_from_config(config_file=kubeconfig_path(module.params["kubeconfig"]))
        core = k8s_client.CoreV1Api(api)
        if not exists(core, name):
            module.exit_json(changed=False)
        if module.check_mode:
            module.exit_json(changed=True)
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if not wait_gone(core, name, module.params["wait_timeout"]):
            module.fail_json(msg=f"namespace {name} still exists after {module.params['wait_timeout']}s")
    except ApiException as exc:
        module.fail_json(msg=f"deleting namespace {name}: {exc.status} {exc.reason}: {exc.body}")
    except Exception as exc:  # noqa: BLE001 - a test helper reports any failure as a message
        module.fail_json(msg=f"deleting namespace {name}: {exc}", exception=traceback.format_exc())
    module.exit_json(changed=True, seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
