"""Ownership and mode fix-up of a model repository: inference.triton.repository_permissions vs ansible.builtin.file.

For each repository size (files spread over model/version directories, 1,000 files per model) and each case
(nothing to fix; 1% of the files with a wrong owner), runs both as a one-task ``ansible`` command on localhost,
a warm-up then ``--runs`` timed runs, and prints the median wall time of each and their ratio; then the work on
the tree: the CPU time (user + system, of ansible and the module process it starts) above the same command on an
empty repository, i.e. without Ansible's and the module's fixed cost. CPU time, unlike wall time, barely moves when
other processes share the machine. Last, our module's own wall time (its ``seconds`` result: find plus the fixes).

    .venv/bin/python benchmarks/bench_permissions.py                 # 1k, 10k, 100k files, 5 runs each
    .venv/bin/python benchmarks/bench_permissions.py --sizes 1000 --runs 3

Needs root (it chowns to 1000:1000 and back to 0:0). ansible.builtin.file gets owner, group and the symbolic mode
u=rwX,g=rX,o=rX with recurse: true, which gives the same result as dir_mode 0755 / file_mode 0644 here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FILES_PER_MODEL = 1000


def make_tree(root: Path, files: int) -> list[Path]:
    """models/model_<m>/config.pbtxt + models/model_<m>/1/part_<n>.bin; returns the regular files."""
    created = []
    for model in range(max(1, files // FILES_PER_MODEL)):
        version = root / f"model_{model:04d}" / "1"
        version.mkdir(parents=True)
        config = root / f"model_{model:04d}" / "config.pbtxt"
        config.write_text(f'name: "model_{model:04d}"\n')
        created.append(config)
        for n in range(min(files, FILES_PER_MODEL) - 1):
            path = version / f"part_{n:05d}.bin"
            path.write_bytes(b"")
            created.append(path)
    return created


def set_all(root: Path, uid: int, gid: int) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chown(dirpath, uid, gid)
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            os.chown(path, uid, gid)
            os.chmod(path, 0o644)


def break_some(files: list[Path], fraction: float) -> int:
    step = int(round(1 / fraction))
    broken = files[::step]
    for path in broken:
        os.chown(path, 0, 0)
    return len(broken)


def all_right(root: Path) -> bool:
    for dirpath, _, filenames in os.walk(root):
        for path in [dirpath, *(os.path.join(dirpath, n) for n in filenames)]:
            st = os.lstat(path)
            wanted = 0o755 if os.path.isdir(path) else 0o644
            if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (1000, 1000, wanted):
                return False
    return True


def ansible(module: str, args: str) -> tuple[float, dict, float]:
    """(wall seconds, module result, CPU seconds of the command and its children)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    argv = [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", module, "-a", args]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{module} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    # minimal callback: "localhost | CHANGED => {...json...}"
    result = json.loads(proc.stdout.split("=>", 1)[1])
    return elapsed, result, cpu


def commands(root: Path) -> list[tuple[str, str, str]]:
    return [
        ("ours", "inference.triton.repository_permissions", f"path={root} owner=1000 group=1000"),
        (
            "file",
            "ansible.builtin.file",
            f"path={root} state=directory recurse=true owner=1000 group=1000 mode=u=rwX,g=rX,o=rX",
        ),
    ]


def fixed_costs(base: Path, runs: int) -> dict[str, float]:
    """Median CPU time of each command on an empty repository: the cost that does not depend on the tree."""
    empty = base / "empty"
    empty.mkdir()
    os.chown(empty, 1000, 1000)
    costs = {}
    for name, module, args in commands(empty):
        costs[name] = statistics.median([ansible(module, args)[2] for _ in range(runs + 1)][1:])
    return costs


def measure(root: Path, files: list[Path], fraction: float, runs: int) -> dict:
    row: dict = {"files": len(files), "to_fix": 0}
    for name, module, args in commands(root):
        times, cpus, inner, changed = [], [], [], set()
        for attempt in range(runs + 1):  # the first is the warm-up
            set_all(root, 1000, 1000)
            row["to_fix"] = break_some(files, fraction) if fraction else 0
            elapsed, result, cpu = ansible(module, args)
            if not all_right(root):
                raise SystemExit(f"{module} left wrong entries under {root}")
            changed.add(bool(result.get("changed")))
            if attempt:
                times.append(elapsed)
                cpus.append(cpu)
                if "seconds" in result:
                    inner.append(result["seconds"])
        row[name] = statistics.median(times)
        row[f"{name}_cpu"] = statistics.median(cpus)
        row[f"{name}_changed"] = changed
        if inner:
            row[f"{name}_inner"] = statistics.median(inner)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to build the trees (default: a temporary directory)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark changes owners")
    base = Path(tempfile.mkdtemp(prefix="bench-permissions-", dir=args.dir))
    rows = []
    fixed = fixed_costs(base, args.runs)
    print(f"empty repository, CPU: ours {fixed['ours']:.2f}s, file {fixed['file']:.2f}s", file=sys.stderr)
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            root = base / f"models-{size}"
            root.mkdir()
            files = make_tree(root, size)
            for fraction in (0.0, 0.01):
                row = measure(root, files, fraction, args.runs)
                rows.append(row)
                print(
                    f"{row['files']:>7} files, {row['to_fix']:>5} to fix: ours {row['ours']:.2f}s "
                    f"(module {row['ours_inner']:.3f}s), file {row['file']:.2f}s",
                    file=sys.stderr,
                )
            shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print(f"\nMedian of {args.runs} runs after a warm-up; one `ansible -m` task on localhost (local connection).")
    print(
        f"On an empty repository the commands use {fixed['ours']:.2f} s (ours) and {fixed['file']:.2f} s (file) of CPU:"
        " the work columns are the CPU time above that.\n"
    )
    print("| files | to fix | wall: ours | wall: file | ratio | work: ours | work: file | ratio | module's own time |")
    print("|------:|-------:|-----:|-----:|-----:|-----:|-----:|-----:|-----:|")
    for row in rows:
        ours_work = max(row["ours_cpu"] - fixed["ours"], 0.005)
        file_work = max(row["file_cpu"] - fixed["file"], 0.005)
        print(
            f"| {row['files']:,} | {row['to_fix']:,} | {row['ours']:.2f} s | {row['file']:.2f} s "
            f"| {row['file'] / row['ours']:.1f}x | {ours_work:.2f} s | {file_work:.2f} s "
            f"| {file_work / ours_work:.0f}x | {row['ours_inner']:.3f} s |"
        )
    for row in rows:
        if row["ours_changed"] != {bool(row["to_fix"])}:
            print(f"note: repository_permissions reported changed={row['ours_changed']} with {row['to_fix']} to fix")


if __name__ == "__main__":
    main()
