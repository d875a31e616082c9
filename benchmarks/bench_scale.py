#!/usr/bin/env python3
"""Scale: deploy.yml's second run (changed=0) with 1, 10 and 50 simulated GPU nodes.

Runs against its OWN local cluster (state in .cache/bench-cluster, or BENCH_CLUSTER_STATE_DIR), never the shared
one in .localcluster: it resizes it with `localcluster.py nodes --gpu-nodes N`. If that cluster is not running,
this benchmark starts it and stops it at the end; if it was running, it is left running (undeploy.yml cleans up).

For each N: an inventory like inventories/simulated (same group_vars) with hosts gpu-node-0..N-1 whose node folders
live in a temp dir; a first deploy.yml run (it prepares the nodes and deploys), then RUNS (default 3) measured
runs, each of which must report changed=0 on every host. Per run: wall time, CPU time (user + system of
ansible-playbook and every process it started), the peak of the summed RSS of the controller's process tree
(ansible-playbook, its forks and the module processes, sampled from /proc every 50 ms) and the largest single
process's peak RSS (sampled the same way), and the task results in the recap. Then one more run with -vvv, not
timed, counts the module processes it starts (every host, the cluster host's included): their growth per added node
is the per-node cost that does not depend on the machine.

--repo runs the deploy.yml of another checkout of this repository (its ansible.cfg and collection), for example a
`git worktree` of an older commit, against the same cluster: old and new code measured in the same minutes.
--forks sets ANSIBLE_FORKS (default: the checkout's ansible.cfg).

Usage: .venv/bin/python benchmarks/bench_scale.py [--nodes 1 10 50] [--runs 3] [--repo DIR] [--forks N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _common import OURS_BIN, REPO, load, median, ours_env, spread, timed_tree

WHO = "bench_scale"
LOCALCLUSTER = [sys.executable, str(REPO / "tools/localcluster/localcluster.py")]
STATE_DIR = Path(os.environ.get("BENCH_CLUSTER_STATE_DIR", str(REPO / ".cache/bench-cluster")))
# A module run in -vvv output: the interpreter on an AnsiballZ file, or piped to it (pipelining).
MODULE_EXEC = re.compile(r"^<([^>]+)> EXEC /bin/sh -c '\S*python[0-9.]*( \S*AnsiballZ_\S+)? && sleep 0'$", re.M)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def cluster(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*LOCALCLUSTER, *args, "--state-dir", str(STATE_DIR)], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        sys.exit(f"{WHO}: localcluster {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def inventory(work: Path, nodes: int) -> Path:
    """inventories/simulated's group_vars, with node folders in `work` and paths that do not depend on inventory_dir."""
    inv = work / f"inventory-{nodes}"
    (inv / "group_vars").mkdir(parents=True)
    hosts = {
        "all": {
            "children": {
                "k8s_clusters": {"hosts": {"localcluster": None}},
                "gpu_nodes": {"hosts": {f"gpu-node-{i}": None for i in range(nodes)}},
            }
        }
    }
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    for source in sorted((REPO / "inventories/simulated/group_vars").glob("*.yml")):
        data = yaml.safe_load(source.read_text()) or {}
        if "model_repository_source" in data:
            data["model_repository_source"] = str(REPO / "playbooks/files/example-models")
        if "localcluster_nodes_dir" in data:
            data["localcluster_nodes_dir"] = str(work / "nodes")
        if "localcluster_state_dir" in data:
            data["localcluster_state_dir"] = str(STATE_DIR)  # its own cluster, whose CA k8s_auth_expect checks
        (inv / "group_vars" / source.name).write_text(yaml.safe_dump(data, width=1000))
    return inv


def recap(stdout: str) -> dict[str, dict[str, int]]:
    hosts = {}
    for host, ok, changed, unreachable, failed, skipped in RECAP.findall(stdout):
        hosts[host] = {"ok": int(ok), "changed": int(changed), "failed": int(failed) + int(unreachable)}
        hosts[host]["skipped"] = int(skipped)
    return hosts


def commit(repo: Path) -> str:
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True
    )
    return proc.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_SCALE_RUNS", "3")))
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose deploy.yml runs")
    parser.add_argument("--forks", type=int, default=None)
    args = parser.parse_args()
    repo = args.repo.resolve()

    started = cluster("status", check=False).returncode != 0
    if started:
        print(f"[{WHO}] starting its own cluster in {STATE_DIR}", file=sys.stderr)
        cluster("up", "--gpu-nodes", str(args.nodes[0]), "--real-nodes", "0")
    config = str(STATE_DIR / "kubeconfig")
    env = {
        **ours_env(config),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(repo / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(repo / ".collections"),
    }
    if args.forks:
        env["ANSIBLE_FORKS"] = str(args.forks)
    playbook = [str(OURS_BIN / "ansible-playbook"), str(repo / "deploy.yml")]
    rows = []
    last_inv = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            work = Path(tmp)
            for nodes in args.nodes:
                cluster("nodes", "--gpu-nodes", str(nodes))
                inv = inventory(work, nodes)
                last_inv = inv
                first = timed_tree([*playbook, "-i", str(inv)], env, repo, WHO)  # prepares the nodes, deploys
                runs = []
                for _ in range(args.runs):
                    cpu_before = children_cpu()
                    measured = timed_tree([*playbook, "-i", str(inv)], env, repo, WHO)
                    measured["cpu"] = children_cpu() - cpu_before
                    hosts = recap(measured["stdout"])
                    if len(hosts) != nodes + 1 or any(h["changed"] or h["failed"] for h in hosts.values()):
                        sys.exit(
                            f"{WHO}: the second run with {nodes} nodes changed something:\n{measured['stdout'][-3000:]}"
                        )
                    measured["tasks"] = sum(h["ok"] + h["skipped"] for h in hosts.values())
                    measured["load"] = os.getloadavg()[0]
                    runs.append(measured)
                verbose = subprocess.run(
                    [*playbook, "-i", str(inv), "-vvv"], env=env, cwd=repo, capture_output=True, text=True, check=False
                )
                modules = len(MODULE_EXEC.findall(verbose.stdout))
                rows.append(
                    {
                        "nodes": nodes,
                        "first_wall": first["wall"],
                        "wall": median([r["wall"] for r in runs]),
                        "wall_range": spread([r["wall"] for r in runs]),
                        "cpu": median([r["cpu"] for r in runs]),
                        "peak_tree_mib": max(r["peak_mib"] for r in runs),
                        "peak_procs": max(r["procs"] for r in runs),
                        "max_single_mib": max(r["peak_single_mib"] for r in runs),
                        "tasks": runs[0]["tasks"],
                        "modules": modules,
                        "load": spread([r["load"] for r in runs]),
                    }
                )
                print(f"[{WHO}] {nodes} nodes done ({load()}): {json.dumps(rows[-1])}", file=sys.stderr)
            if not started and last_inv is not None:
                subprocess.run(
                    [str(OURS_BIN / "ansible-playbook"), str(repo / "undeploy.yml"), "-i", str(last_inv)],
                    env=env,
                    cwd=repo,
                    capture_output=True,
                    check=False,
                )
    finally:
        if started:
            cluster("down", check=False)

    print(
        f"\ndeploy.yml second run (changed=0), median of {args.runs} runs per size; machine: {os.cpu_count()} cores; "
        f"{repo} at {commit(repo)}; forks {args.forks or 'from ansible.cfg'}"
    )
    print(
        f"{'GPU nodes':>9} {'wall s':>7} {'(range)':>11} {'CPU s':>6} {'peak tree MiB':>13} {'procs':>5} "
        f"{'max 1 proc MiB':>14} {'task results':>12} {'modules':>7} {'1st run s':>9}  load"
    )
    for r in rows:
        print(
            f"{r['nodes']:9d} {r['wall']:7.2f} {r['wall_range']:>11} {r['cpu']:6.2f} {r['peak_tree_mib']:13.0f} "
            f"{r['peak_procs']:5d} {r['max_single_mib']:14.0f} {r['tasks']:12d} {r['modules']:7d} "
            f"{r['first_wall']:9.2f}  {r['load']}"
        )
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        per_node = (b["wall"] - a["wall"]) / (b["nodes"] - a["nodes"])
        cpu_per_node = (b["cpu"] - a["cpu"]) / (b["nodes"] - a["nodes"])
        tasks_per_node = (b["tasks"] - a["tasks"]) / (b["nodes"] - a["nodes"])
        modules_per_node = (b["modules"] - a["modules"]) / (b["nodes"] - a["nodes"])
        print(
            f"\ngrowth {a['nodes']}->{b['nodes']} nodes: {per_node:.3f} s wall and {cpu_per_node:.3f} s CPU per added "
            f"node, {tasks_per_node:.1f} task results and {modules_per_node:.2f} module processes per node; "
            f"{b['wall'] / a['wall']:.1f}x the wall time for {b['nodes'] / a['nodes']:.0f}x the nodes"
        )
    print("peak tree: summed RSS of ansible-playbook, its forks and module processes; max 1 proc: the largest one")
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
