# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Controller side of model_repository_sync: describe the source once per run, let the node compare, send only the
files that differ (one tar), then let the node write them.

The manifest (directories, files with size and sha256) is kept for the whole ansible-playbook run in the run's own
local temporary directory, shared by the forks and removed at the end of the run: the first node's task hashes the
source, the others only check with a quick stat walk that it has not changed (a file with a new size, mtime, inode
or ctime is hashed again). A lock keeps two forks from hashing at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tarfile
import tempfile
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.inference.triton.plugins.module_utils._sync import SyncError, build_manifest, source_revision

MODULE = "inference.triton.model_repository_sync"
INTERNAL = ("manifest", "content", "apply")
OPTIONS = ("src", "dest", "owner", "group", "file_mode", "dir_mode", "sample_size", "create", "dest_mode")


def cached_manifest(source: str, cache_dir: str) -> dict[str, Any]:
    """The source's manifest, hashed at most once per run for files that do not change."""
    key = hashlib.sha256(os.path.realpath(source).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    path = os.path.join(cache_dir, f"model_repository_sync-{key}.json")
    os.makedirs(cache_dir, exist_ok=True)
    with open(path + ".lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                known = json.load(handle)
        manifest = build_manifest(source, known)
        if manifest != known:
            handle_fd, temp = tempfile.mkstemp(dir=cache_dir, prefix=".model_repository_sync-")
            with os.fdopen(handle_fd, "w", encoding="utf-8") as handle:
                json.dump(manifest, handle)
            os.replace(temp, path)
    return manifest


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(OPTIONS)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        for name in INTERNAL:
            if name in args:
                return {"failed": True, "msg": f"{name}: internal option, set by the action plugin; remove it"}
        if not args.get("src") or not args.get("dest"):
            return {"failed": True, "msg": "src and dest are required"}
        try:
            source = self._find_needle("files", os.path.expanduser(str(args["src"])))
        except AnsibleError as exc:
            return {"failed": True, "msg": f"src: {exc}"}
        try:
            manifest = cached_manifest(source, os.path.join(C.DEFAULT_LOCAL_TMP, "model_repository_sync"))
            revision = source_revision(source)
        except (SyncError, OSError) as exc:
            return {"failed": True, "msg": f"src: {exc}"}
        sent = {"dirs": manifest["dirs"], "files": manifest["files"]}
        module_args = {**args, "src": source, "manifest": sent}

        found = self._execute_module(MODULE, module_args=module_args, task_vars=task_vars)
        if not found.get("failed") and found.get("changed") and not self._task.check_mode:
            found = self._write(module_args, found, source, task_vars)
        found.pop("content_needed", None)
        found.setdefault("sent_bytes", 0)
        result.update(found)
        result["revision"] = revision
        result["files"] = len(manifest["files"])
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _write(
        self, module_args: dict[str, Any], found: dict[str, Any], source: str, task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        """Send the files the node lacks in one tar, then run the module again to write them."""
        needed = found.get("content_needed") or []
        args = {**module_args, "apply": True}
        sent_bytes = 0
        local_tar = None
        try:
            if needed:
                handle, local_tar = tempfile.mkstemp(
                    dir=C.DEFAULT_LOCAL_TMP, prefix="model_repository_sync-", suffix=".tar"
                )
                os.close(handle)
                with tarfile.open(local_tar, "w:", dereference=True) as archive:
                    for rel in needed:
                        archive.add(os.path.join(source, rel), arcname=rel, recursive=False)
                sent_bytes = os.path.getsize(local_tar)
                if not self._connection._shell.tmpdir:
                    self._make_tmp_path()
                remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "content.tar")
                self._transfer_file(local_tar, remote)
                self._fixup_perms2((self._connection._shell.tmpdir, remote))
                args["content"] = remote
            written = self._execute_module(MODULE, module_args=args, task_vars=task_vars)
        finally:
            if local_tar and os.path.exists(local_tar):
                os.unlink(local_tar)
        written["sent_bytes"] = sent_bytes
        if "diff" in found and "diff" not in written:
            written["diff"] = found["diff"]
        return written
