"""Pure parts of repository_permissions: find command, parsing, planning, diff, layout rules; plus the fix-up on a
temporary tree (no cluster)."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from ansible_collections.inference.triton.plugins.module_utils._permissions import (
    Entry,
    PermissionsError,
    Wanted,
    apply_fixes,
    check_layout,
    config_model_name,
    diff_text,
    find_command,
    model_problems,
    parse_find_output,
    parse_mode,
    plan_fixes,
    resolve_id,
    run_find,
)

FIND = shutil.which("find") or "find"
WANTED = Wanted(uid=1000, gid=1000, dir_mode=0o755, file_mode=0o644)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0755", 0o755), ("755", 0o755), ("0644", 0o644), ("2775", 0o2775), (None, None), ("", None)],
)
def test_parse_mode_accepts_octal_text(value, expected):
    assert parse_mode(value, "dir_mode") == expected


@pytest.mark.parametrize(("value", "fragment"), [(420, "quoted octal"), ("0855", "not an octal"), ("u+rw", "not an")])
def test_parse_mode_refuses_ints_and_garbage_naming_the_option(value, fragment):
    with pytest.raises(PermissionsError, match=rf"^file_mode: .*{fragment}"):
        parse_mode(value, "file_mode")


@pytest.mark.parametrize(
    ("wanted", "tail"),
    [
        (
            WANTED,
            ["-o", "(", "-type", "d", "!", "-perm", "0755", ")", "-o", "(", "-type", "f", "!", "-perm", "0644", ")"],
        ),
        (Wanted(1000, 1000, None, 0o640), ["-o", "(", "-type", "f", "!", "-perm", "0640", ")"]),
        (Wanted(5, 6), []),
    ],
)
def test_find_command_is_one_process_with_only_the_needed_predicates(wanted, tail):
    command = find_command("find", "/models", wanted)
    owner = ["!", "-uid", str(wanted.uid), "-o", "!", "-gid", str(wanted.gid)]
    assert command == ["find", "-H", "/models", "(", *owner, *tail, ")", "-printf", "%y\\t%U\\t%G\\t%m\\t%p\\0"]


def test_parse_find_output_keeps_tabs_and_newlines_in_paths():
    output = b"f\t0\t0\t600\t/m/a\tb\nc\0d\t1000\t1000\t700\t/m/d\0"
    assert parse_find_output(output) == [
        Entry("f", 0, 0, 0o600, b"/m/a\tb\nc"),
        Entry("d", 1000, 1000, 0o700, b"/m/d"),
    ]
    assert parse_find_output(b"") == []


@pytest.mark.parametrize(
    ("entry", "chown", "chmod"),
    [
        (Entry("f", 0, 0, 0o644, b"x"), True, None),
        (Entry("f", 1000, 0, 0o600, b"x"), True, 0o644),
        (Entry("d", 1000, 1000, 0o700, b"x"), False, 0o755),
        (Entry("l", 0, 1000, 0o777, b"x"), True, None),  # a symlink: owner only, chmod would follow it
        (Entry("f", 1000, 1000, 0o4644, b"x"), False, 0o644),  # a set-id bit makes the mode wrong
        (Entry("p", 1000, 1000, 0o600, b"x"), None, None),  # a fifo with the right owner: nothing to do
    ],
)
def test_plan_fixes_changes_only_what_is_wrong(entry, chown, chmod):
    fixes = plan_fixes([entry], WANTED)
    if chown is None:
        assert fixes == []
    else:
        assert (fixes[0].chown, fixes[0].chmod) == (chown, chmod)


def test_diff_text_lists_before_and_after_and_truncates():
    entries = [Entry("f", 0, 0, 0o600, f"/m/{i}".encode()) for i in range(3)]
    diff = diff_text(plan_fixes(entries, WANTED), WANTED, limit=2)
    assert diff["before"] == "/m/0 0:0 0600\n/m/1 0:0 0600\n... and 1 more\n"
    assert diff["after"] == "/m/0 1000:1000 0644\n/m/1 1000:1000 0644\n... and 1 more\n"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('name: "resnet"\nplatform: "onnxruntime_onnx"\n', "resnet"),
        ('platform: "x"\ninput [\n  {\n    name: "INPUT0"\n  }\n]\nname: "late"\n', "late"),
        ('input [ { name: "INPUT0" } ]\n', None),
        ('# name: "commented"\nbackend: "python"\n', None),
    ],
)
def test_config_model_name_reads_only_the_top_level_name(text, name):
    assert config_model_name(text) == name


@pytest.mark.parametrize(
    ("entries", "config", "require", "empty", "expected"),
    [
        ({"config.pbtxt": False, "1": True}, 'name: "m"', True, [], []),
        ({"1": True}, None, True, [], ["no config.pbtxt"]),
        ({"1": True}, None, False, [], []),
        ({"config.pbtxt": False, "v1": True}, "", True, [], ["no numeric version directory (such as 1/)"]),
        (
            {"config.pbtxt": False, "1": True},
            'name: "other"',
            True,
            [],
            ["config.pbtxt names the model 'other', but its directory is 'm'"],
        ),
        (
            {"config.pbtxt": True, "1": True},
            None,
            True,
            ["1"],
            ["config.pbtxt is a directory", "version directory 1/ is empty"],
        ),
    ],
)
def test_model_problems(entries, config, require, empty, expected):
    assert model_problems("m", entries, config, require, empty) == expected


def _tree(root):
    (root / "good" / "1").mkdir(parents=True)
    (root / "good" / "config.pbtxt").write_text('name: "good"\n')
    (root / "good" / "1" / "model.onnx").write_bytes(b"\0")
    (root / "noversion").mkdir()
    (root / "noversion" / "config.pbtxt").write_text('name: "noversion"\n')
    (root / "README.md").write_text("models\n")
    (root / ".cache").mkdir()


def test_check_layout_reports_by_model_name(tmp_path):
    _tree(tmp_path)
    models, problems, repository = check_layout(str(tmp_path))
    assert models == ["good", "noversion"]
    assert problems == {"noversion": ["no numeric version directory (such as 1/)"]}
    assert repository == ["README.md: not a directory (Triton expects one directory per model)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_run_find_and_apply_fix_only_wrong_entries(tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    _tree(root)
    link_target = tmp_path / "outside"
    link_target.write_text("not ours")
    os.chmod(link_target, 0o600)
    (root / "good" / "link").symlink_to(link_target)
    for path in [root, *root.rglob("*")]:
        os.lchown(path, 1000, 1000)
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert run_find(FIND, str(root), WANTED) == []

    os.chown(root / "good" / "config.pbtxt", 0, 0)
    os.chmod(root / "good" / "1", 0o700)
    os.lchown(root / "good" / "link", 0, 0)
    entries = run_find(FIND, str(root), WANTED)
    assert sorted(e.path.decode() for e in entries) == sorted(
        str(root / p) for p in ("good/config.pbtxt", "good/1", "good/link")
    )
    report = apply_fixes(plan_fixes(entries, WANTED), WANTED)
    assert (report.fixed, report.owner_fixed, report.mode_fixed, report.failed) == (3, 2, 1, 0)
    assert run_find(FIND, str(root), WANTED) == []
    # the symlink's target outside the repository was not touched
    assert stat.S_IMODE(link_target.stat().st_mode) == 0o600 and link_target.stat().st_uid == os.geteuid()


def test_apply_fixes_counts_vanished_entries(tmp_path):
    gone = Entry("f", 0, 0, 0o600, str(tmp_path / "gone").encode())
    report = apply_fixes(plan_fixes([gone], WANTED), WANTED)
    assert (report.fixed, report.vanished, report.failed) == (0, 1, 0)


@pytest.mark.parametrize(("value", "expected"), [(1000, 1000), ("1000", 1000), ("root", 0)])
def test_resolve_id(value, expected):
    assert resolve_id(value, "owner") == expected


@pytest.mark.parametrize(
    ("value", "option"), [("no-such-user-xyz", "owner"), ("no-such-group-xyz", "group"), (True, "owner")]
)
def test_resolve_id_errors_name_the_option(value, option):
    with pytest.raises(PermissionsError, match=rf"^{option}: "):
        resolve_id(value, option)
