#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: model_repository_sync
short_description: Bring a model repository on a node to the content of a directory on the controller, in one call
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - >-
    The controller side (an action plugin) describes O(src) once per C(ansible-playbook) run: its directories, and
    its files with size and sha256 (a file whose size, modification time, inode and change time are unchanged is
    not read again within the run). The node compares that manifest with O(dest) in one module process and
    answers with what differs; only then are the files that differ sent, in one tar, and written. A run that
    changes nothing costs one module process per node, whatever the number of files.
  - >-
    A file is rewritten when it is missing, is not a regular file, or differs in size or sha256: the content
    decides, as for M(ansible.builtin.copy), not modification times. Each file is written beside its place and
    renamed over it, so a reader (Triton polling the repository) sees the old file or the new one, never half of
    one.
  - >-
    Owner, group and modes (O(file_mode), O(dir_mode)) are set on every entry of the source where they are wrong.
    Entries of O(dest) that O(src) does not have are kept, as M(ansible.builtin.copy) keeps them; removing them is
    left to the user (a model deleted from the source stays on the nodes).
  - >-
    Symlinks in O(src) are followed (their targets' content is copied, as M(ansible.builtin.copy) does by default);
    a directory reached twice through links is copied once.
  - >-
    Also returns RV(revision), the fingerprint of O(src) that the C(model_repository) role records as
    C(model_repository_revision) (paths, sizes and modification times of its regular files).
attributes:
  check_mode:
    support: full
    description: Compares and reports what would be written (RV(added), RV(updated), RV(dirs_created)); sends and
      writes nothing. A O(dest) that does not exist yet counts as empty.
  diff_mode:
    support: full
    description: One line per entry that changes, before and after (size and the start of the sha256 of files,
      owner and mode of entries whose attributes change).
  idempotent:
    support: full
    description: A second run finds nothing to write and reports C(changed=false).
  action:
    support: full
    description: The manifest is computed and the content sent by the controller.
options:
  src:
    description:
      - Directory on the controller whose content O(dest) should hold. Relative paths are looked up as for
        M(ansible.builtin.copy) (the role's or playbook's C(files/)).
    type: path
    required: true
  dest:
    description: Directory on the node. Without O(create) it must exist, except in check mode.
    type: path
    required: true
  create:
    description:
      - >-
        Create O(dest) when it does not exist: its missing parents as C(mkdir -p) makes them (default owner and
        mode, nothing else is set on them), then O(dest) itself owned by O(owner) and O(group) with O(dest_mode).
        An existing O(dest) gets its owner, group and O(dest_mode) set where they are wrong. What two
        M(ansible.builtin.file) tasks (the parents, then the directory) would do, in the same module process.
    type: bool
    default: false
  dest_mode:
    description:
      - Mode of O(dest) itself with O(create), as a quoted octal string. V(null) or V("") leaves it alone.
    type: raw
    default: "0755"
  owner:
    description: User name or uid of every entry of the source on the node.
    type: raw
    default: 1000
  group:
    description: Group name or gid of every entry of the source on the node.
    type: raw
    default: 1000
  file_mode:
    description:
      - Mode of the files, as a quoted octal string. V(null) or V("") gives new files the umask's default and
        leaves the mode of existing ones alone.
    type: raw
    default: "0644"
  dir_mode:
    description:
      - Mode of the directories, as a quoted octal string. V(null) or V("") gives new directories the umask's
        default and leaves the mode of existing ones alone.
    type: raw
    default: "0755"
  sample_size:
    description: How many paths RV(added), RV(updated) and RV(attributes_fixed) list at most.
    type: int
    default: 20
  manifest:
    description: The source's manifest (paths, sizes, sha256). Set by the action plugin; a task cannot set it.
    type: dict
    required: true
  content:
    description: A tar of the files that differ, sent by the action plugin. Set by it; a task cannot set it.
    type: path
  apply:
    description: Whether this call writes (the action plugin's second call). Set by it; a task cannot set it.
    type: bool
    default: false
notes:
  - The options C(manifest), C(content) and C(apply) are set by the action plugin; a task cannot set them.
seealso:
  - module: ansible.builtin.copy
  - module: inference.triton.repository_permissions
"""

EXAMPLES = r"""
- name: Bring the model repository to the content of the controller's models/ directory
  inference.triton.model_repository_sync:
    src: /data/exports/models
    dest: /srv/triton/models
    owner: 1000
    group: 1000
  register: sync

- name: Show the fingerprint of the source
  ansible.builtin.debug:
    msg: "{{ sync.revision }}"
"""

RETURN = r"""
revision:
  description: sha256 of sorted "<relative path> <size> <mtime>" lines of the regular files of O(src).
  returned: always
  type: str
files:
  description: Number of files in O(src).
  returned: always
  type: int
dest_created:
  description: Whether O(dest) was (or in check mode, would be) created, with O(create).
  returned: success
  type: bool
dirs_created:
  description: Number of directories that were (or in check mode, would be) created.
  returned: success
  type: int
added:
  description: The first O(sample_size) files that were (would be) added.
  returned: success
  type: list
  elements: str
added_count:
  description: Number of files added.
  returned: success
  type: int
updated:
  description: The first O(sample_size) files whose content was (would be) replaced.
  returned: success
  type: list
  elements: str
updated_count:
  description: Number of files whose content was replaced.
  returned: success
  type: int
attributes_fixed:
  description: The first O(sample_size) entries whose owner, group or mode was (would be) set.
  returned: success
  type: list
  elements: str
attributes_fixed_count:
  description: Number of entries whose owner, group or mode was set.
  returned: success
  type: int
sent_bytes:
  description: Bytes of file content sent to the node (V(0) in check mode and when nothing differs).
  returned: success
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inference.triton.plugins.module_utils._permissions import (
    OWNERSHIP_SPEC,
    PermissionsError,
    parse_mode,
    resolve_id,
)
from ansible_collections.inference.triton.plugins.module_utils._sync import (
    Plan,
    SyncError,
    Wanted,
    apply,
    apply_root,
    diff_text,
    plan,
    plan_root,
)

MODE_OPTIONS = ("file_mode", "dir_mode")


def _resolve_id(value: object, option: str) -> int:
    try:
        return resolve_id(value, option)
    except PermissionsError as exc:
        raise SyncError(str(exc)) from exc


def _parse_mode(value: object, option: str) -> int | None:
    try:
        return parse_mode(value, option)
    except PermissionsError as exc:
        raise SyncError(str(exc)) from exc


ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "dest": {"type": "path", "required": True},
    **OWNERSHIP_SPEC,
    "create": {"type": "bool", "default": False},
    "dest_mode": {"type": "raw", "default": "0755"},
    "manifest": {"type": "dict", "required": True},
    "content": {"type": "path"},
    "apply": {"type": "bool", "default": False},
}


def sync(module: AnsibleModule) -> tuple[Plan, Wanted, int | None]:
    """Compare the node's directory with the manifest and, with ``apply`` (the second call), write what differs."""
    p, root, manifest = module.params, module.params["dest"], module.params["manifest"]
    try:
        wanted = Wanted(
            uid=_resolve_id(p["owner"], "owner"),
            gid=_resolve_id(p["group"], "group"),
            dir_mode=_parse_mode(p["dir_mode"], "dir_mode"),
            file_mode=_parse_mode(p["file_mode"], "file_mode"),
        )
        dest_mode = _parse_mode(p["dest_mode"], "dest_mode")
        found = Plan()
        if p["create"]:
            plan_root(root, found, wanted, dest_mode)
        elif not os.path.isdir(root):
            if os.path.lexists(root):
                raise SyncError(f"dest: {root} exists and is not a directory")
            if not module.check_mode:
                raise SyncError(f"dest: {root} does not exist; create it first, or set create")
        plan(root, manifest, wanted, found)
        if found.changed and p["apply"] and not module.check_mode:
            apply_root(root, found, wanted, dest_mode)
            apply(root, manifest, found, wanted, p["content"])
    except (SyncError, OSError) as exc:
        module.fail_json(msg=str(exc))
    return found, wanted, dest_mode


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p, root, manifest = module.params, module.params["dest"], module.params["manifest"]
    found, wanted, dest_mode = sync(module)
    size = p["sample_size"]
    result = {
        "changed": found.changed,
        "files": len(manifest["files"]),
        "dest_created": found.root_created,
        "dirs_created": len(found.dirs_created),
        "added": found.added[:size],
        "added_count": len(found.added),
        "updated": found.updated[:size],
        "updated_count": len(found.updated),
        "attributes_fixed": [entry[0] for entry in found.attributes[:size]],
        "attributes_fixed_count": len(found.attributes),
        # the action plugin sends these files and runs the module again with apply
        "content_needed": found.content,
    }
    if module._diff and found.changed:
        result["diff"] = {
            "before_header": f"{root} (from the node)",
            "after_header": f"{root} (from {p['src']})",
            **diff_text(found, manifest, wanted, dest_mode),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
