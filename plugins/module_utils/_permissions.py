# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Ownership and mode fix-up of a model repository, and the check of its Triton layout.

The fix-up asks one ``find`` process for the entries that are wrong (owner, group, or mode) and touches only
those, so a repository that is already right costs one directory walk in C and no per-file work in Python.
Everything except :func:`run_find`, :func:`apply_fixes` and :func:`check_layout` is pure, for unit tests.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from typing import Iterable, Optional

# find -printf: type, uid, gid, octal mode, path; NUL-terminated so that any byte may appear in a path.
FIND_FORMAT = "%y\\t%U\\t%G\\t%m\\t%p\\0"
_MODE_TEXT = re.compile(r"^0?[0-7]{3,4}$")
_VERSION_DIR = re.compile(r"^[0-9]+$")
CONFIG_FILE = "config.pbtxt"


class PermissionsError(Exception):
    """A failure fit for the user: names the option or the path."""


@dataclass(frozen=True)
class Wanted:
    """What every entry under the root should look like. ``None`` modes are left as they are."""

    uid: int
    gid: int
    dir_mode: Optional[int] = None
    file_mode: Optional[int] = None


@dataclass(frozen=True)
class Entry:
    """One entry ``find`` reported as wrong, with what it is now."""

    kind: str  # find's %y: d, f, l, p, s, c, b
    uid: int
    gid: int
    mode: int
    path: bytes


@dataclass(frozen=True)
class Fix:
    """What to do to one entry."""

    entry: Entry
    chown: bool
    chmod: Optional[int]


@dataclass
class FixReport:
    fixed: int = 0
    owner_fixed: int = 0
    mode_fixed: int = 0
    vanished: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


# The owner, modes and report size of the modules that set them on a node's model repository.
OWNERSHIP_SPEC = {
    "owner": {"type": "raw", "default": 1000},
    "group": {"type": "raw", "default": 1000},
    "dir_mode": {"type": "raw", "default": "0755"},
    "file_mode": {"type": "raw", "default": "0644"},
    "sample_size": {"type": "int", "default": 20},
}


def resolve_id(value: object, option: str) -> int:
    """A uid (``option`` owner) or gid (group) from a number or a name of this host."""
    import grp
    import pwd

    if isinstance(value, bool):
        raise PermissionsError(f"{option}: expected a name or a number, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        if number < 0:
            raise PermissionsError(f"{option}: {number} is negative")
        return number
    try:
        if option == "owner":
            return pwd.getpwnam(str(value)).pw_uid
        return grp.getgrnam(str(value)).gr_gid
    except KeyError as exc:
        raise PermissionsError(
            f"{option}: no {'user' if option == 'owner' else 'group'} named {value!r} on this host"
        ) from exc


def parse_mode(value: object, option: str) -> Optional[int]:
    """``"0755"`` -> 0o755. ``None`` or ``""`` -> ``None`` (mode not managed). Integers are refused: YAML
    reads an unquoted ``0644`` as the decimal 420, which would silently mean another mode."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PermissionsError(f'{option}: give the mode as a quoted octal string such as "0755", got {value!r}')
    if not _MODE_TEXT.match(value):
        raise PermissionsError(f'{option}: {value!r} is not an octal mode such as "0755"')
    return int(value, 8)


def find_command(find: str, root: str, wanted: Wanted) -> list[str]:
    """The one ``find`` invocation listing only wrong entries, with their current type, owner and mode.

    ``-H`` follows the root if it is a symlink (a repository on another disk), never links inside it.
    """
    predicates = ["!", "-uid", str(wanted.uid), "-o", "!", "-gid", str(wanted.gid)]
    for kind, mode in (("d", wanted.dir_mode), ("f", wanted.file_mode)):
        if mode is not None:
            predicates += ["-o", "(", "-type", kind, "!", "-perm", f"{mode:04o}", ")"]
    return [find, "-H", root, "(", *predicates, ")", "-printf", FIND_FORMAT]


def parse_find_output(output: bytes) -> list[Entry]:
    """Records of :data:`FIND_FORMAT` -> entries. The path is last, so tabs in it are harmless."""
    entries = []
    for record in output.split(b"\0"):
        if not record:
            continue
        kind, uid, gid, mode, path = record.split(b"\t", 4)
        entries.append(Entry(kind.decode(), int(uid), int(gid), int(mode, 8), path))
    return entries


def plan_fixes(entries: Iterable[Entry], wanted: Wanted) -> list[Fix]:
    """What to change for each wrong entry. Symlinks get their own owner fixed, never a chmod (it would follow)."""
    fixes = []
    for entry in entries:
        chown = entry.uid != wanted.uid or entry.gid != wanted.gid
        mode = {"d": wanted.dir_mode, "f": wanted.file_mode}.get(entry.kind)
        chmod = mode if mode is not None and stat.S_IMODE(entry.mode) != mode else None
        if chown or chmod is not None:
            fixes.append(Fix(entry, chown, chmod))
    return fixes


def describe(entry: Entry) -> str:
    return f"{entry.uid}:{entry.gid} {stat.S_IMODE(entry.mode):04o}"


def diff_text(fixes: list[Fix], wanted: Wanted, limit: int) -> dict[str, str]:
    """Before/after text of the first ``limit`` fixes, one line per path."""
    before, after = [], []
    for fix in fixes[:limit]:
        path = fix.entry.path.decode("utf-8", "surrogateescape")
        before.append(f"{path} {describe(fix.entry)}\n")
        uid, gid = (wanted.uid, wanted.gid) if fix.chown else (fix.entry.uid, fix.entry.gid)
        mode = fix.chmod if fix.chmod is not None else stat.S_IMODE(fix.entry.mode)
        after.append(f"{path} {uid}:{gid} {mode:04o}\n")
    if len(fixes) > limit:
        more = f"... and {len(fixes) - limit} more\n"
        before.append(more)
        after.append(more)
    return {"before": "".join(before), "after": "".join(after)}


def run_find(find: str, root: str, wanted: Wanted) -> list[Entry]:
    command = find_command(find, root, wanted)
    proc = subprocess.run(command, capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PermissionsError(f"{' '.join(command[:3])} failed (exit {proc.returncode}): {'; '.join(message[:5])}")
    return parse_find_output(proc.stdout)


def apply_fixes(fixes: list[Fix], wanted: Wanted, error_limit: int = 10) -> FixReport:
    """chown first, then chmod (a chown may clear set-id bits). An entry gone since ``find`` saw it is skipped."""
    report = FixReport()
    for fix in fixes:
        path = fix.entry.path
        try:
            if fix.chown:
                os.lchown(path, wanted.uid, wanted.gid)
                report.owner_fixed += 1
            if fix.chmod is not None:
                # find said it is a file or a directory; if it was swapped for a symlink since, leave it.
                if stat.S_ISLNK(os.lstat(path).st_mode):
                    continue
                os.chmod(path, fix.chmod)
                report.mode_fixed += 1
            report.fixed += 1
        except FileNotFoundError:
            report.vanished += 1
        except OSError as exc:
            report.failed += 1
            if len(report.errors) < error_limit:
                report.errors.append(f"{path.decode('utf-8', 'surrogateescape')}: {exc.strerror}")
    return report


# Triton layout ------------------------------------------------------------------------------------------------


def config_model_name(text: str) -> Optional[str]:
    """The top-level ``name:`` of a config.pbtxt, if any (nested ``name:`` of inputs and outputs are skipped)."""
    depth = 0
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if depth == 0:
            match = re.match(r'^name\s*:\s*"([^"]*)"', stripped)
            if match:
                return match.group(1)
        depth += stripped.count("{") + stripped.count("[") - stripped.count("}") - stripped.count("]")
    return None


def model_problems(
    model: str, entries: dict[str, bool], config_text: Optional[str], require_config: bool, empty_versions: list[str]
) -> list[str]:
    """Problems of one model directory, given its entries (name -> is a directory)."""
    problems = []
    if CONFIG_FILE not in entries:
        if require_config:
            problems.append(f"no {CONFIG_FILE}")
    elif entries[CONFIG_FILE]:
        problems.append(f"{CONFIG_FILE} is a directory")
    elif config_text is not None:
        name = config_model_name(config_text)
        if name is not None and name != model:
            problems.append(f"{CONFIG_FILE} names the model {name!r}, but its directory is {model!r}")
    versions = sorted((n for n, is_dir in entries.items() if is_dir and _VERSION_DIR.match(n)), key=int)
    if not versions:
        problems.append("no numeric version directory (such as 1/)")
    for version in empty_versions:
        problems.append(f"version directory {version}/ is empty")
    return problems


def check_layout(root: str, require_config: bool = True) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """(models, problems by model, problems of the repository itself). Reads two levels, never the whole tree."""
    models: list[str] = []
    problems: dict[str, list[str]] = {}
    repository: list[str] = []
    with os.scandir(root) as top:
        for item in sorted(top, key=lambda e: e.name):
            if item.name.startswith("."):
                continue
            if not item.is_dir():
                repository.append(f"{item.name}: not a directory (Triton expects one directory per model)")
                continue
            models.append(item.name)
            with os.scandir(item.path) as inner:
                entries = {e.name: e.is_dir() for e in inner}
            config_text = None
            if entries.get(CONFIG_FILE) is False:
                with open(os.path.join(item.path, CONFIG_FILE), encoding="utf-8", errors="replace") as handle:
                    config_text = handle.read(1 << 20)
            empty = []
            for name, is_dir in entries.items():
                if is_dir and _VERSION_DIR.match(name):
                    with os.scandir(os.path.join(item.path, name)) as version:
                        if next(iter(version), None) is None:
                            empty.append(name)
            found = model_problems(item.name, entries, config_text, require_config, sorted(empty, key=int))
            if found:
                problems[item.name] = found
    return models, problems, repository
