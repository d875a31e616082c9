#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: repository_permissions
short_description: Fix the owner, group and modes of a model repository fast, and check its Triton layout
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Runs one C(find) process that lists only the entries under O(path) whose owner, group or mode is wrong, then
    fixes exactly those (C(lchown), then C(chmod)). A repository that is already right costs one directory walk
    in C(find) and no per-file work in Python, so it stays fast with hundreds of thousands of files.
  - Symlinks inside the repository are never followed; their own owner is fixed, their mode never is.
    O(path) itself may be a symlink to the real directory.
  - With O(check_layout), also checks the layout Triton expects (C(<model>/config.pbtxt), numeric version
    directories, a C(name) in C(config.pbtxt) matching the directory) and reports problems by model name.
    Only the first two levels are read.
  - Runs on the node that holds the repository (the GPU node). Needs GNU C(find) (C(-printf)).
attributes:
  check_mode:
    support: full
    description: Runs the same C(find) and reports what would be fixed (count and the first O(sample_size) paths).
  diff_mode:
    support: full
    description: Before and after owner, group and mode of the first O(sample_size) entries to fix.
  idempotent:
    support: full
    description: A second run finds nothing to fix and reports C(changed=false).
options:
  path:
    description: Root of the model repository. Its parents are never touched.
    type: path
    required: true
  owner:
    description: User name or uid every entry should belong to.
    type: raw
    default: 1000
  group:
    description: Group name or gid every entry should belong to.
    type: raw
    default: 1000
  dir_mode:
    description:
      - Exact mode of directories, as a quoted octal string. V(null) or V("") leaves directory modes alone.
    type: raw
    default: "0755"
  file_mode:
    description:
      - Exact mode of regular files, as a quoted octal string. V(null) or V("") leaves file modes alone.
    type: raw
    default: "0644"
  sample_size:
    description: How many of the paths to fix are returned (and shown in the diff).
    type: int
    default: 20
  fix_permissions:
    description:
      - Scan for and fix wrong owners, groups and modes. V(false) skips the scan entirely (for a layout check only).
    type: bool
    default: true
  check_layout:
    description: Also check the Triton repository layout and return RV(models), RV(layout_problems) and
      RV(repository_problems). Problems are reported, never fixed, and never fail the module.
    type: bool
    default: false
  require_config:
    description: With O(check_layout), a model without C(config.pbtxt) is a problem. Set V(false) when Triton
      generates configurations itself (C(--strict-model-config=false) with backends that support it).
    type: bool
    default: true
notes:
  - When O(path) does not exist the module fails, except in check mode, where it returns RV(exists=false)
    (a directory an earlier task would create).
seealso:
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Give the model repository to uid/gid 1000 with sane modes
  inference.triton.repository_permissions:
    path: /srv/triton/models
    owner: 1000
    group: 1000
    dir_mode: "0755"
    file_mode: "0644"

- name: Fix ownership only, and check the layout
  inference.triton.repository_permissions:
    path: /srv/triton/models
    dir_mode: null
    file_mode: null
    check_layout: true
  register: repository

- name: Name the models with layout problems
  ansible.builtin.debug:
    msg: "{{ repository.layout_problems }}"
  when: repository.layout_problems | length > 0
"""

RETURN = r"""
exists:
  description: Whether O(path) exists.
  returned: always
  type: bool
wrong:
  description: Number of entries whose owner, group or mode was wrong.
  returned: when exists
  type: int
  sample: 1000
fixed:
  description: Number of entries fixed (V(0) in check mode).
  returned: when exists
  type: int
owner_fixed:
  description: Number of entries whose owner or group was changed.
  returned: when exists
  type: int
mode_fixed:
  description: Number of entries whose mode was changed.
  returned: when exists
  type: int
vanished:
  description: Entries that disappeared between the scan and the fix.
  returned: when exists
  type: int
paths:
  description: The first O(sample_size) paths that were (or in check mode, would be) fixed.
  returned: when exists
  type: list
  elements: str
paths_truncated:
  description: Whether more paths were fixed than RV(paths) lists.
  returned: when exists
  type: bool
seconds:
  description: Time spent scanning and fixing.
  returned: when exists
  type: float
models:
  description: Model directories found at the top of the repository.
  returned: when check_layout is true and exists
  type: list
  elements: str
  sample: [densenet_onnx, simple]
layout_problems:
  description: Model name to its layout problems; models without problems are not listed.
  returned: when check_layout is true and exists
  type: dict
  sample: {simple: ["no numeric version directory (such as 1/)"]}
repository_problems:
  description: Problems at the top of the repository (entries that are not model directories).
  returned: when check_layout is true and exists
  type: list
  elements: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inference.triton.plugins.module_utils._permissions import (
    OWNERSHIP_SPEC,
    PermissionsError,
    Wanted,
    apply_fixes,
    check_layout,
    diff_text,
    parse_mode,
    plan_fixes,
    resolve_id,
    run_find,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    **OWNERSHIP_SPEC,
    "fix_permissions": {"type": "bool", "default": True},
    "check_layout": {"type": "bool", "default": False},
    "require_config": {"type": "bool", "default": True},
}


def checked_input(module: AnsibleModule) -> Wanted:
    """The wanted owner and modes, and a path that exists (in check mode, a missing path ends the run unchanged)."""
    p, root = module.params, module.params["path"]
    try:
        wanted = Wanted(
            uid=resolve_id(p["owner"], "owner"),
            gid=resolve_id(p["group"], "group"),
            dir_mode=parse_mode(p["dir_mode"], "dir_mode"),
            file_mode=parse_mode(p["file_mode"], "file_mode"),
        )
    except PermissionsError as exc:
        module.fail_json(msg=str(exc))
    if p["sample_size"] < 0:
        module.fail_json(msg=f"sample_size: must be 0 or more, got {p['sample_size']}")
    if not os.path.isdir(root):
        if os.path.lexists(root) and not os.path.isdir(root):
            module.fail_json(msg=f"path: {root} exists and is not a directory", exists=True)
        if module.check_mode:
            module.exit_json(changed=False, exists=False, msg=f"{root} does not exist (yet); nothing to check")
        module.fail_json(msg=f"path: {root} does not exist; create it first", exists=False)
    return wanted


def fix_up(module: AnsibleModule, wanted: Wanted, started: float) -> dict:
    """Find the entries whose owner or mode differ, report them (and a diff), and fix them unless in check mode."""
    p, root = module.params, module.params["path"]
    fixes = []
    if p["fix_permissions"]:
        find = module.get_bin_path("find", required=True)
        try:
            fixes = plan_fixes(run_find(find, root, wanted), wanted)
        except PermissionsError as exc:
            module.fail_json(msg=str(exc), exists=True)
    sample = [f.entry.path.decode("utf-8", "surrogateescape") for f in fixes[: p["sample_size"]]]
    result = {
        "changed": bool(fixes),
        "exists": True,
        "wrong": len(fixes),
        "fixed": 0,
        "owner_fixed": 0,
        "mode_fixed": 0,
        "vanished": 0,
        "paths": sample,
        "paths_truncated": len(fixes) > len(sample),
    }
    if module._diff and fixes:
        result["diff"] = {
            "before_header": f"{root} ({len(fixes)} to fix)",
            "after_header": f"{root} (owner {wanted.uid}:{wanted.gid})",
            **diff_text(fixes, wanted, p["sample_size"]),
        }
    if fixes and not module.check_mode:
        report = apply_fixes(fixes, wanted)
        result.update(
            fixed=report.fixed, owner_fixed=report.owner_fixed, mode_fixed=report.mode_fixed, vanished=report.vanished
        )
        if report.failed:
            result["seconds"] = round(time.monotonic() - started, 3)
            module.fail_json(
                msg=f"could not fix {report.failed} of {len(fixes)} entries under {root}: " + "; ".join(report.errors),
                **result,
            )
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    started = time.monotonic()
    result = fix_up(module, checked_input(module), started)
    if module.params["check_layout"]:
        models, problems, repository = check_layout(module.params["path"], module.params["require_config"])
        result.update(models=models, layout_problems=problems, repository_problems=repository)
    result["seconds"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
