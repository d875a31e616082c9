# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bringing a model repository on a node to the content of a source directory on the controller, in one module call.

The controller describes the source once per run as a manifest: its directories, and its files with size and sha256
(:func:`build_manifest`). The node compares the manifest with its disk (:func:`plan`): a file is rewritten only when
it is missing, is not a regular file, or differs in size or sha256 (the truth ``ansible.builtin.copy`` uses: content,
not modification times); owner, group and modes are set on the entries of the manifest where they are wrong.
Entries on the node that the source does not have are kept, as ``copy`` keeps them.

:func:`build_manifest`, :func:`source_revision`, :func:`plan` and :func:`diff_text` are pure or read-only, for
unit tests; :func:`apply` writes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

CHUNK = 1 << 20


class SyncError(Exception):
    """A failure fit for the user: names the path."""


@dataclass(frozen=True)
class Wanted:
    """Owner and modes of the entries of the manifest. ``None`` modes: new entries get the umask's default and
    existing ones keep theirs (what ``copy`` does without ``mode``)."""

    uid: int
    gid: int
    dir_mode: Optional[int] = None
    file_mode: Optional[int] = None


@dataclass
class Plan:
    """What the node lacks. Paths are relative to the repository root, in manifest order."""

    dirs_created: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    # (path, is a directory, uid, gid, mode now) of entries whose owner, group or mode is wrong
    attributes: list[tuple[str, bool, int, int, int]] = field(default_factory=list)
    # path -> what is there now, for the diff of updated files
    before: dict[str, str] = field(default_factory=dict)
    # With create: the missing parents of the root (absolute, outermost first), whether the root itself is missing,
    # and (uid, gid, mode now) of an existing root whose owner, group or mode is wrong.
    parents_created: list[str] = field(default_factory=list)
    root_created: bool = False
    root_attributes: Optional[tuple[int, int, int]] = None

    @property
    def content(self) -> list[str]:
        """The files whose content must come from the controller."""
        return self.added + self.updated

    @property
    def changed(self) -> bool:
        return bool(
            self.dirs_created
            or self.added
            or self.updated
            or self.attributes
            or self.root_created
            or self.root_attributes
        )


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Controller side ------------------------------------------------------------------------------------------------


def walk_source(root: str) -> tuple[list[str], dict[str, tuple[str, int, int, int, int]]]:
    """(directories, files) of a source directory, symlinks followed as ``copy`` follows them (``local_follow``), a
    directory reached twice (a link loop) read once. Files map to (real path, size, mtime_ns, inode, ctime_ns): the
    quick check that says whether a cached sha256 still holds."""
    if not os.path.isdir(root):
        raise SyncError(f"{root} is not a directory on the controller")
    dirs: list[str] = []
    files: dict[str, tuple[str, int, int, int, int]] = {}
    seen = {os.path.realpath(root)}
    for current, subdirs, names in os.walk(root, followlinks=True):
        rel = os.path.relpath(current, root)
        kept = []
        for name in sorted(subdirs):
            real = os.path.realpath(os.path.join(current, name))
            if real in seen:
                continue
            seen.add(real)
            kept.append(name)
            dirs.append(os.path.normpath(os.path.join(rel, name)))
        subdirs[:] = kept
        for name in sorted(names):
            path = os.path.join(current, name)
            try:
                info = os.stat(path)
            except FileNotFoundError:
                continue  # a dangling symlink: copy fails on it too, but a vanished file is no content
            if not stat.S_ISREG(info.st_mode):
                continue
            files[os.path.normpath(os.path.join(rel, name))] = (
                path,
                info.st_size,
                info.st_mtime_ns,
                info.st_ino,
                info.st_ctime_ns,
            )
    return dirs, files


def build_manifest(root: str, known: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """{"dirs": [...], "files": {path: [size, sha256]}, "quick": {path: [size, mtime_ns, inode, ctime_ns]}}.

    ``known`` is an earlier manifest of the same source: a file whose quick check is unchanged keeps its sha256
    without being read again."""
    dirs, files = walk_source(root)
    known_files = (known or {}).get("files", {})
    known_quick = (known or {}).get("quick", {})
    manifest: dict[str, Any] = {"dirs": dirs, "files": {}, "quick": {}}
    for rel, (path, size, mtime_ns, inode, ctime_ns) in files.items():
        quick = [size, mtime_ns, inode, ctime_ns]
        if known_quick.get(rel) == quick and rel in known_files:
            digest = known_files[rel][1]
        else:
            digest = sha256_file(path)
        manifest["files"][rel] = [size, digest]
        manifest["quick"][rel] = quick
    return manifest


def source_revision(root: str) -> str:
    """The fingerprint of a source directory that the model_repository role has always recorded as
    ``model_repository_revision``: sha256 of sorted "<relative path> <size> <mtime>" records of its regular files
    (links not followed), as ``ansible.builtin.find`` reported them. Unchanged, so that a new version of this
    collection rolls no pod."""
    lines = []
    for current, _subdirs, names in os.walk(root):
        for name in names:
            path = os.path.join(current, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                path = os.path.normpath(path)
                lines.append((path, f"{os.path.relpath(path, root)} {info.st_size} {info.st_mtime}"))
    # Joined with a backslash and an "n", not a newline: the Jinja expression this replaces wrote '\n' in a YAML
    # block, which Jinja kept as two characters. Kept so that every revision recorded so far stays the same.
    return hashlib.sha256("\\n".join(line for _path, line in sorted(lines)).encode("utf-8")).hexdigest()


# Node side ------------------------------------------------------------------------------------------------------


def _attributes_wrong(info: os.stat_result, wanted: Wanted, mode: Optional[int]) -> bool:
    if info.st_uid != wanted.uid or info.st_gid != wanted.gid:
        return True
    return mode is not None and stat.S_IMODE(info.st_mode) != mode


def plan(root: str, manifest: dict[str, Any], wanted: Wanted, result: Optional[Plan] = None) -> Plan:
    """Compare the manifest with the disk under ``root`` (which may not exist yet: then everything is to add).
    ``result``: a plan to complete (the root's, from :func:`plan_root`)."""
    result = result if result is not None else Plan()
    for rel in manifest["dirs"]:
        path = os.path.join(root, rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            result.dirs_created.append(rel)
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise SyncError(f"{path} is in the way: the source has a directory there")
        if _attributes_wrong(info, wanted, wanted.dir_mode):
            result.attributes.append((rel, True, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)))
    for rel, (size, digest) in manifest["files"].items():
        path = os.path.join(root, rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            result.added.append(rel)
            continue
        if stat.S_ISDIR(info.st_mode):
            raise SyncError(f"{path} is a directory: the source has a file there")
        if not stat.S_ISREG(info.st_mode):
            result.updated.append(rel)
            result.before[rel] = "not a regular file"
            continue
        if info.st_size != size:
            result.updated.append(rel)
            result.before[rel] = f"{info.st_size} bytes"
            continue
        now = sha256_file(path)
        if now != digest:
            result.updated.append(rel)
            result.before[rel] = f"{info.st_size} bytes sha256:{now[:12]}"
            continue
        if _attributes_wrong(info, wanted, wanted.file_mode):
            result.attributes.append((rel, False, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)))
    return result


def plan_root(root: str, found: Plan, wanted: Wanted, root_mode: Optional[int]) -> None:
    """What creating the root needs (missing parents, the root), or what its owner, group and mode need."""
    try:
        info = os.stat(root)  # a root that is a symlink to a directory is that directory, as for ansible.builtin.file
    except FileNotFoundError:
        found.root_created = True
        parent = os.path.dirname(os.path.abspath(root))
        while parent != os.path.dirname(parent) and not os.path.lexists(parent):
            found.parents_created.insert(0, parent)
            parent = os.path.dirname(parent)
        return
    if not stat.S_ISDIR(info.st_mode):
        raise SyncError(f"dest: {root} exists and is not a directory")
    if _attributes_wrong(info, wanted, root_mode):
        found.root_attributes = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))


def diff_text(found: Plan, manifest: dict[str, Any], wanted: Wanted, root_mode: Optional[int] = None) -> dict[str, str]:
    """One line per entry that changes, before and after, sorted by path (a unified diff then reads naturally).
    The root is "./", its missing parents are named in full."""
    before, after = [], []
    for parent in found.parents_created:
        after.append(("", f"{parent}/ directory (parent)"))
    if found.root_created:
        after.append(("./", f"./ directory {wanted.uid}:{wanted.gid} {_mode_text(root_mode)}"))
    if found.root_attributes:
        uid, gid, mode = found.root_attributes
        before.append(("./", f"./ {uid}:{gid} {mode:04o}"))
        after.append(("./", f"./ {wanted.uid}:{wanted.gid} {(root_mode if root_mode is not None else mode):04o}"))
    for rel in found.dirs_created:
        after.append((rel + "/", f"{rel}/ directory {wanted.uid}:{wanted.gid} {_mode_text(wanted.dir_mode)}"))
    for rel in found.added:
        size, digest = manifest["files"][rel]
        after.append((rel, f"{rel} {size} bytes sha256:{digest[:12]}"))
    for rel in found.updated:
        size, digest = manifest["files"][rel]
        before.append((rel, f"{rel} {found.before[rel]}"))
        after.append((rel, f"{rel} {size} bytes sha256:{digest[:12]}"))
    for rel, is_dir, uid, gid, mode in found.attributes:
        name = rel + "/" if is_dir else rel
        new_mode = wanted.dir_mode if is_dir else wanted.file_mode
        before.append((name, f"{name} {uid}:{gid} {mode:04o}"))
        after.append((name, f"{name} {wanted.uid}:{wanted.gid} {(new_mode if new_mode is not None else mode):04o}"))
    return {
        "before": "".join(line + "\n" for _key, line in sorted(before)),
        "after": "".join(line + "\n" for _key, line in sorted(after)),
    }


def _mode_text(mode: Optional[int]) -> str:
    return f"{mode:04o}" if mode is not None else "(umask)"


def apply_root(root: str, found: Plan, wanted: Wanted, root_mode: Optional[int]) -> None:
    """Missing parents as mkdir -p makes them (default owner and mode), then the root with its owner and mode.

    A directory made by someone else since the plan is taken as it is: another host writing its own repository under
    the same parent on a shared file system, or a second inventory host on the same machine."""
    for parent in found.parents_created:
        _mkdir(parent)
    if found.root_created:
        _mkdir(root)
        os.chown(root, wanted.uid, wanted.gid)
        os.chmod(root, _new_mode(root_mode, None, 0o777))
    elif found.root_attributes:
        os.chown(root, wanted.uid, wanted.gid)
        if root_mode is not None:
            os.chmod(root, root_mode)


def _mkdir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def _new_mode(wanted_mode: Optional[int], existing: Optional[int], default: int) -> int:
    if wanted_mode is not None:
        return wanted_mode
    if existing is not None:
        return existing
    umask = os.umask(0)
    os.umask(umask)
    return default & ~umask


def apply(root: str, manifest: dict[str, Any], found: Plan, wanted: Wanted, content: Optional[str]) -> None:
    """Write what ``found`` lacks: directories (parents first), files from the ``content`` tar (each written to a
    temporary file beside it and renamed over, so that a reader sees the old or the new file, never half of one),
    then owner and modes. A file whose sha256 is not the manifest's (the source changed since) fails the call."""
    for rel in found.dirs_created:
        path = os.path.join(root, rel)
        os.mkdir(path)
        os.chown(path, wanted.uid, wanted.gid)
        os.chmod(path, _new_mode(wanted.dir_mode, None, 0o777))
    if found.content:
        if not content:
            raise SyncError("files differ but no content was sent")
        with tarfile.open(content, "r:") as archive:
            for rel in found.content:
                _write_file(root, rel, archive, manifest["files"][rel], wanted)
    for rel, is_dir, _uid, _gid, mode in found.attributes:
        path = os.path.join(root, rel)
        os.lchown(path, wanted.uid, wanted.gid)
        new_mode = wanted.dir_mode if is_dir else wanted.file_mode
        if new_mode is not None and new_mode != mode:
            os.chmod(path, new_mode)


def _write_file(root: str, rel: str, archive: tarfile.TarFile, expected: list[Any], wanted: Wanted) -> None:
    path = os.path.join(root, rel)
    try:
        member = archive.getmember(rel)
        source = archive.extractfile(member)
    except KeyError:
        source = None
    if source is None:
        raise SyncError(f"{rel}: not in the content sent from the controller")
    try:
        existing: Optional[int] = stat.S_IMODE(os.stat(path).st_mode) if os.path.isfile(path) else None
    except OSError:
        existing = None
    handle, temp = tempfile.mkstemp(prefix=f".{os.path.basename(rel)}.", dir=os.path.dirname(path))
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            os.fchown(out.fileno(), wanted.uid, wanted.gid)
            os.fchmod(out.fileno(), _new_mode(wanted.file_mode, existing, 0o666))
        if digest.hexdigest() != expected[1]:
            raise SyncError(f"{rel}: the source changed during the run (sha256 differs from its manifest); run again")
        os.replace(temp, path)  # over a symlink or a special file too: the entry itself is replaced
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
