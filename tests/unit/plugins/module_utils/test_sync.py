"""model_repository_sync without a cluster: the manifest of a source, the fingerprint the role has always recorded,
the node-side comparison (content decides, not times), the diff, the write from a tar, and the per-run cache that
hashes a source once."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ansible_collections.inference.triton.plugins.action.model_repository_sync import cached_manifest
from ansible_collections.inference.triton.plugins.module_utils import _sync
from ansible_collections.inference.triton.plugins.module_utils._sync import (
    SyncError,
    Wanted,
    apply,
    apply_root,
    build_manifest,
    diff_text,
    plan,
    plan_root,
    source_revision,
)

ME = Wanted(uid=os.geteuid(), gid=os.getegid(), dir_mode=0o755, file_mode=0o644)


def make_source(root: Path) -> Path:
    (root / "add_sub" / "1").mkdir(parents=True)
    (root / "add_sub" / "config.pbtxt").write_text('name: "add_sub"\n')
    (root / "add_sub" / "1" / "model.py").write_text("print(1)\n")
    (root / "empty").mkdir()
    (root / ".hidden").write_text("h\n")
    return root


def content_tar(source: Path, paths: list[str], target: Path) -> str:
    with tarfile.open(target, "w:") as archive:
        for rel in paths:
            archive.add(source / rel, arcname=rel, recursive=False)
    return str(target)


def sync(source: Path, dest: Path, tmp: Path, wanted: Wanted = ME) -> _sync.Plan:
    manifest = build_manifest(str(source))
    found = plan(str(dest), manifest, wanted)
    tar = content_tar(source, found.content, tmp / "content.tar") if found.content else None
    apply(str(dest), manifest, found, wanted, tar)
    return found


def test_manifest_lists_directories_and_files_with_size_and_sha256(tmp_path):
    source = make_source(tmp_path / "src")
    manifest = build_manifest(str(source))
    assert manifest["dirs"] == ["add_sub", "empty", "add_sub/1"]
    digest = hashlib.sha256(b"print(1)\n").hexdigest()
    assert manifest["files"]["add_sub/1/model.py"] == [9, digest]
    assert set(manifest["files"]) == {".hidden", "add_sub/config.pbtxt", "add_sub/1/model.py"}


def test_manifest_follows_links_and_reads_a_looped_directory_once(tmp_path):
    source = make_source(tmp_path / "src")
    (source / "link.py").symlink_to(source / "add_sub" / "1" / "model.py")
    (source / "add_sub" / "loop").symlink_to(source / "add_sub")
    manifest = build_manifest(str(source))
    assert manifest["files"]["link.py"][0] == 9
    assert "add_sub/loop" not in manifest["dirs"]


def test_known_sha256_is_reused_only_while_the_quick_check_holds(tmp_path, monkeypatch):
    source = make_source(tmp_path / "src")
    first = build_manifest(str(source))
    read = []
    original = _sync.sha256_file
    monkeypatch.setattr(_sync, "sha256_file", lambda path: read.append(path) or original(path))
    assert build_manifest(str(source), first) == first
    assert read == []
    (source / "add_sub" / "config.pbtxt").write_text('name: "other"\n')
    again = build_manifest(str(source), first)
    assert [Path(p).name for p in read] == ["config.pbtxt"]
    assert again["files"]["add_sub/config.pbtxt"] != first["files"]["add_sub/config.pbtxt"]


def test_source_revision_is_the_roles_historical_fingerprint(tmp_path):
    source = make_source(tmp_path / "src")
    (source / "link.py").symlink_to(source / ".hidden")  # links are not regular files: not in the fingerprint
    lines = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        info = path.lstat()
        lines.append(f"{path.relative_to(source)} {info.st_size} {info.st_mtime}")
    assert source_revision(str(source)) == hashlib.sha256("\\n".join(lines).encode()).hexdigest()
    (source / "add_sub" / "2").mkdir()
    (source / "add_sub" / "2" / "model.py").write_text("print(2)\n")
    assert source_revision(str(source)) != hashlib.sha256("\\n".join(lines).encode()).hexdigest()


def test_missing_destination_plans_everything_and_a_synced_one_nothing(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    manifest = build_manifest(str(source))
    found = plan(str(dest), manifest, ME)
    assert found.dirs_created == ["add_sub", "empty", "add_sub/1"]
    assert sorted(found.added) == [".hidden", "add_sub/1/model.py", "add_sub/config.pbtxt"]
    dest.mkdir()
    sync(source, dest, tmp_path)
    assert (dest / "add_sub" / "1" / "model.py").read_text() == "print(1)\n"
    assert stat.S_IMODE((dest / "add_sub" / "config.pbtxt").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "empty").stat().st_mode) == 0o755
    assert not plan(str(dest), manifest, ME).changed


def test_content_decides_not_times_and_extra_files_are_kept(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    sync(source, dest, tmp_path)
    target = dest / "add_sub" / "1" / "model.py"
    os.utime(target, (0, 0))  # an older time, the same content: nothing to do
    (dest / "extra.txt").write_text("mine\n")
    manifest = build_manifest(str(source))
    assert not plan(str(dest), manifest, ME).changed
    target.write_text("print(7)\n")  # the same size, another content
    found = plan(str(dest), manifest, ME)
    assert found.updated == ["add_sub/1/model.py"] and found.added == []
    sync(source, dest, tmp_path)
    assert target.read_text() == "print(1)\n"
    assert (dest / "extra.txt").read_text() == "mine\n"


def test_wrong_mode_is_an_attribute_fix_and_a_diff_line(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    sync(source, dest, tmp_path)
    (dest / "add_sub" / "config.pbtxt").chmod(0o600)
    (dest / "empty").chmod(0o700)
    manifest = build_manifest(str(source))
    found = plan(str(dest), manifest, ME)
    assert [entry[0] for entry in found.attributes] == ["empty", "add_sub/config.pbtxt"]
    diff = diff_text(found, manifest, ME)
    me = f"{ME.uid}:{ME.gid}"
    assert diff["before"] == f"add_sub/config.pbtxt {me} 0600\nempty/ {me} 0700\n"
    assert diff["after"] == f"add_sub/config.pbtxt {me} 0644\nempty/ {me} 0755\n"
    apply(str(dest), manifest, found, ME, None)
    assert stat.S_IMODE((dest / "empty").stat().st_mode) == 0o755
    assert not plan(str(dest), manifest, ME).changed


def test_without_modes_new_files_get_the_umask_default_and_existing_keep_theirs(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    loose = Wanted(uid=ME.uid, gid=ME.gid)
    old = os.umask(0o027)
    try:
        sync(source, dest, tmp_path, loose)
    finally:
        os.umask(old)
    config = dest / "add_sub" / "config.pbtxt"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    config.chmod(0o600)
    config.write_text("changed\n")
    sync(source, dest, tmp_path, loose)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and config.read_text() == 'name: "add_sub"\n'


def test_a_directory_where_the_source_has_a_file_is_an_error(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    (dest / ".hidden").mkdir(parents=True)
    with pytest.raises(SyncError, match="is a directory: the source has a file there"):
        plan(str(dest), build_manifest(str(source)), ME)


def test_a_symlink_in_the_destination_is_replaced_not_written_through(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.write_text('name: "add_sub"\n')
    (dest / ".hidden").symlink_to(outside)
    found = sync(source, dest, tmp_path)
    assert ".hidden" in found.updated
    assert not (dest / ".hidden").is_symlink() and outside.read_text() == 'name: "add_sub"\n'


def test_content_that_no_longer_matches_the_manifest_fails_and_leaves_the_file(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    manifest = build_manifest(str(source))
    apply(str(dest), manifest, plan(str(dest), {"dirs": manifest["dirs"], "files": {}}, ME), ME, None)
    found = plan(str(dest), manifest, ME)
    tar = tmp_path / "content.tar"
    with tarfile.open(tar, "w:") as archive:
        for rel in found.content:
            data = b"changed since\n"
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(SyncError, match="the source changed during the run"):
        apply(str(dest), manifest, found, ME, str(tar))
    assert not any(p.is_file() for p in dest.rglob("*"))


def test_the_run_cache_hashes_a_source_once(tmp_path, monkeypatch):
    source = make_source(tmp_path / "src")
    cache = tmp_path / "cache"
    read = []
    original = _sync.sha256_file
    monkeypatch.setattr(_sync, "sha256_file", lambda path: read.append(path) or original(path))
    first = cached_manifest(str(source), str(cache))
    assert len(read) == 3
    assert cached_manifest(str(source), str(cache)) == first
    assert len(read) == 3
    (cached,) = cache.glob("*.json")
    assert json.loads(cached.read_text()) == first


def test_create_makes_missing_parents_plainly_and_the_root_with_its_owner_and_mode(tmp_path):
    source = make_source(tmp_path / "src")
    root = tmp_path / "a" / "b" / "models"
    manifest = build_manifest(str(source))
    found = _sync.Plan()
    plan_root(str(root), found, ME, 0o750)
    assert found.parents_created == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert found.root_created and found.changed
    plan(str(root), manifest, ME, found)
    diff = diff_text(found, manifest, ME, 0o750)
    assert diff["after"].startswith(
        f"{tmp_path / 'a'}/ directory (parent)\n{tmp_path / 'a' / 'b'}/ directory (parent)\n"
    )
    assert f"./ directory {ME.uid}:{ME.gid} 0750\n" in diff["after"]
    old = os.umask(0o022)
    try:
        apply_root(str(root), found, ME, 0o750)
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755  # a parent gets the default, as mkdir -p


def test_a_parent_or_root_made_by_another_host_since_the_plan_is_taken_as_it_is(tmp_path):
    # Two hosts sharing one file system (or two inventory hosts on one machine) create repositories side by side.
    root = tmp_path / "shared" / "models"
    found = _sync.Plan()
    plan_root(str(root), found, ME, 0o750)
    assert found.parents_created == [str(tmp_path / "shared")] and found.root_created
    root.mkdir(parents=True)  # the other host, between this plan and this write
    apply_root(str(root), found, ME, 0o750)
    assert stat.S_IMODE(root.stat().st_mode) == 0o750  # still brought to the wanted mode


def test_a_file_made_where_a_planned_parent_goes_still_fails(tmp_path):
    root = tmp_path / "shared" / "models"
    found = _sync.Plan()
    plan_root(str(root), found, ME, 0o750)
    (tmp_path / "shared").write_text("")
    with pytest.raises(FileExistsError):
        apply_root(str(root), found, ME, 0o750)


def test_create_on_an_existing_root_sets_only_a_wrong_mode(tmp_path):
    root = tmp_path / "models"
    root.mkdir(mode=0o700)
    root.chmod(0o700)
    found = _sync.Plan()
    plan_root(str(root), found, ME, 0o755)
    assert not found.root_created and found.parents_created == []
    assert found.root_attributes == (ME.uid, ME.gid, 0o700)
    apply_root(str(root), found, ME, 0o755)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    again = _sync.Plan()
    plan_root(str(root), again, ME, 0o755)
    assert not again.changed


def test_create_refuses_a_file_where_the_root_should_be(tmp_path):
    (tmp_path / "models").write_text("")
    with pytest.raises(SyncError, match="exists and is not a directory"):
        plan_root(str(tmp_path / "models"), _sync.Plan(), ME, 0o755)
