#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
# Test-only module of the molecule scenarios (molecule/ is not part of the built collection).
# As in plugins/modules, DOCUMENTATION, EXAMPLES and RETURN come before the imports.
# ruff: noqa: E402

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_objects_info
short_description: Read Kubernetes objects for the molecule scenarios' assertions
description:
  - Lists the objects of one kind, or of every listable namespaced kind, by namespace, name and label selector,
    and returns them as plain dictionaries. Read-only.
  - Test-only: the molecule scenarios' C(verify.yml) assert on what it returns instead of on playbook output.
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
  api_version:
    description: API version of the kind, for example C(apps/v1). Required with O(kind).
    type: str
  kind:
    description:
      - Kind to list, for example C(Deployment).
      - When omitted, every namespaced kind that can be listed is read in O(namespace), which then is required.
    type: str
  namespace:
    description: Namespace to read; all namespaces when omitted (namespaced kinds).
    type: str
  name:
    description: Only the object of this name.
    type: str
  label_selector:
    description: Only objects matching this label selector.
    type: str
  field_selector:
    description: Only objects matching this field selector (with O(kind)).
    type: str
"""

EXAMPLES = r"""
- name: Read the Triton Deployment
  k8s_objects_info:
    api_version: apps/v1
    kind: Deployment
    namespace: molecule-default
    name: triton
  register: deployment

- name: Read every object of the release left in the namespace
  k8s_objects_info:
    namespace: molecule-uninstall
    label_selector: app.kubernetes.io/instance=triton
  register: leftovers
"""

RETURN = r"""
objects:
  description: The objects found, sorted by kind, namespace and name.
  returned: always
  type: list
  elements: dict
summary:
  description: C(Kind/namespace/name) of each object found.
  returned: always
  type: list
  elements: str
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from kubernetes import config as k8s_config
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()

# Kinds that cannot be listed with a label selector or are not objects a release owns.
SKIPPED_KINDS = {"Binding", "ComponentStatus", "Event", "TokenReview", "LocalSubjectAccessReview"}


def kubeconfig_path(given: str | None) -> str | None:
    if given:
        return given
    for var in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        value = os.environ.get(var, "")
        if value:
            return value.split(os.pathsep)[0]
    return None


def list_kind(client, resource, namespace, name, label_selector, field_selector) -> list[dict]:
    kwargs = {}
    if resource.namespaced and namespace:
        kwargs["namespace"] = namespace
    if label_selector:
        kwargs["label_selector"] = label_selector
    if field_selector:
        kwargs["field_selector"] = field_selector
    if name:
        try:
            found = [resource.get(name=name, **kwargs).to_dict()]
        except NotFoundError:
            found = []
    else:
        found = [item.to_dict() for item in resource.get(**kwargs).items]
    for obj in found:
        # List items carry no kind; the assertions and the summary need it.
        obj.setdefault("apiVersion", resource.group_version)
        obj.setdefault("kind", resource.kind)
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kubeconfig": {"type": "path"},
            "api_version": {"type": "str"},
            "kind": {"type": "str"},
            "namespace": {"type": "str"},
            "name": {"type": "str"},
            "label_selector": {"type": "str"},
            "field_selector": {"type": "str"},
        },
        required_together=[("api_version", "kind")],
        required_by={"field_selector": "kind"},
        supports_check_mode=True,
    )
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=IMPORT_ERROR)
    p = module.params
    if not p["kind"] and not p["namespace"]:
        module.fail_json(msg="namespace is required when kind is omitted (every namespaced kind is read)")
    try:
        api = k8s_config.new_client_from_config(config_file=kubeconfig_path(p["kubeconfig"]))
        # The discovery cache in the module's own temporary folder, removed when it exits (not in /tmp for good).
        client = DynamicClient(api, cache_file=os.path.join(module.tmpdir, "discovery.json"))
        if p["kind"]:
            resources = [client.resources.get(api_version=p["api_version"], kind=p["kind"])]
        else:
            resources = [
                r
                for r in client.resources.search()
                if r.namespaced
                and "list" in (r.verbs or [])
                and r.kind not in SKIPPED_KINDS
                and not r.kind.endswith("List")
                and "/" not in r.name
                and r.preferred
            ]
        objects = []
        for resource in resources:
            objects.extend(
                list_kind(client, resource, p["namespace"], p["name"], p["label_selector"], p["field_selector"])
            )
    except DynamicApiError as exc:
        module.fail_json(msg=f"reading {p['kind'] or 'every kind'}: {exc.status} {exc.reason}: {exc.body}")
    except Exception as exc:  # noqa: BLE001 - a test helper reports any failure as a message
        module.fail_json(msg=f"reading {p['kind'] or 'every kind'}: {exc}", exception=traceback.format_exc())

    def key(obj: dict) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return obj.get("kind") or "", meta.get("namespace") or "", meta.get("name") or ""

    objects.sort(key=key)
    summary = ["/".join(part for part in key(obj) if part) for obj in objects]
    module.exit_json(changed=False, objects=objects, summary=summary)


if __name__ == "__main__":
    main()
