#!/usr/bin/env python3
"""Full deploy from nothing to Available: triton_server vs kubectl apply --server-side + kubectl rollout status.

Each run uses fresh namespaces. Both tools get the same objects, rendered once by this collection as
bench_apply.py renders them (Deployment, Service, PodDisruptionBudget), plus the Namespace:
- ours: one ansible-playbook with one triton_server task (create_namespace: true, wait: true, the default);
- kubectl: `kubectl apply --server-side -f <Namespace + the three objects>` then
  `kubectl rollout status deployment/<name> --timeout=300s`, two processes timed together.
Runs are interleaved (ours, kubectl, ours, ...), a warm-up pair first, median of RUNS (default 5). Reported: the
whole-process wall time, ours's task time (a callback's stamps, i.e. without ansible-playbook's start-up and exit),
the time until the rollout was complete (a watch from this process) and the latency after it. The namespaces of a
pair are deleted (and waited for) before the next pair, so every run starts from an empty namespace with free GPUs.

Usage: .venv/bin/python benchmarks/bench_full_deploy.py   (the cluster of KUBECONFIG, else .localcluster, must be up)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import (
    KUBECTL,
    OURS_BIN,
    REPO,
    ProcessSpotter,
    RolloutClock,
    base_env,
    clock_env,
    kubeconfig,
    load,
    median,
    ours_env,
    spread,
    write_playbook,
)
from bench_apply import OPTIONS

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options

RUNS = max(5, int(os.environ.get("BENCH_RUNS", "5")))
NAME = "bench"
WHO = "bench_full_deploy"
TRITON_MODULE = b"AnsiballZ_triton_server"
ROLLOUT_MODULE = b"AnsiballZ_rollout_status"


def manifests(namespace: str) -> list[dict]:
    merged, _ = merge_options(dict(OPTIONS), [])
    return list(render(NAME, namespace, merged).values())


def stamps_of(path: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in path.read_text().splitlines():
        what, value = line.split()
        found.setdefault(what, float(value))  # the first task_start, the first task_ok: there is one task
    return found


def delete_and_wait(namespaces: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [KUBECTL, "delete", "namespace", "--ignore-not-found", "--wait=true", "--timeout=120s", *namespaces],
        env=env,
        capture_output=True,
        check=False,
    )


def main() -> None:
    config = kubeconfig(WHO)
    env = base_env(config)
    tag = os.getpid()
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "kubectl": []}
    loads: list[float] = []
    phases: list[dict[str, float]] = []
    pending: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-full-") as tmp:
            work = Path(tmp)
            run_env, stamps = clock_env(work, ours_env(config))
            for run in range(RUNS + 1):
                ns_ours, ns_kubectl = f"bench-full-ours-{tag}-{run}", f"bench-full-kubectl-{tag}-{run}"
                pending = [ns_ours, ns_kubectl]
                deployment = next(m["metadata"]["name"] for m in manifests(ns_ours) if m["kind"] == "Deployment")

                book = write_playbook(
                    work / "ours.yml",
                    [
                        {
                            "inference.triton.triton_server": {
                                "name": NAME,
                                "namespace": ns_ours,
                                "create_namespace": True,
                                **OPTIONS,
                            }
                        }
                    ],
                    str(OURS_BIN / "python"),
                )
                stamps.unlink(missing_ok=True)
                clock = RolloutClock(config, ns_ours, deployment, None)
                clock.start()
                start = time.monotonic()
                proc = subprocess.Popen(
                    [str(OURS_BIN / "ansible-playbook"), "-i", "localhost,", str(book)],
                    env=run_env,
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                spotter = ProcessSpotter(proc.pid, TRITON_MODULE, ROLLOUT_MODULE, interval=0.02)
                spotter.start()
                stdout, stderr = proc.communicate()
                end = time.monotonic()
                spotter.stop.set()
                spotter.join()
                if proc.returncode != 0:
                    sys.exit(f"{WHO}: triton_server failed:\n{stdout[-3000:]}\n{stderr[-2000:]}")
                complete = clock.result()
                task = stamps_of(stamps)
                ours = {
                    "wall": end - start,
                    "task": task["task_ok"] - task["task_start"],
                    "available": complete - start,
                    "after": end - complete,
                }
                # Where ours's time goes, from the start of ansible-playbook (module processes spotted in /proc).
                phases.append(
                    {
                        "task start": task["task_start"] - start,
                        "triton_server module process": spotter.seen.get(TRITON_MODULE, float("nan")) - start,
                        "rollout_status module process": spotter.seen.get(ROLLOUT_MODULE, float("nan")) - start,
                        "rollout complete (watch)": complete - start,
                        "task end": task["task_ok"] - start,
                        "ansible-playbook exit": end - start,
                    }
                )

                # ansible-playbook's own cost, measured in the same minutes: "task time" is also the wall time minus
                # this floor, which counts what the task's action plugin imports in ansible-playbook before the task
                # starts (the kubernetes client), unlike the callback's stamps.
                floor_book = write_playbook(
                    work / "floor.yml", [{"ansible.builtin.debug": {"msg": "x"}}], str(OURS_BIN / "python")
                )
                start = time.monotonic()
                subprocess.run(
                    [str(OURS_BIN / "ansible-playbook"), "-i", "localhost,", str(floor_book)],
                    env=run_env,
                    cwd=REPO,
                    capture_output=True,
                    check=True,
                )
                ours["floor"] = time.monotonic() - start
                ours["task_floor"] = ours["wall"] - ours["floor"]

                path = work / "kubectl.yaml"
                namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_kubectl}}
                path.write_text(yaml.safe_dump_all([namespace, *manifests(ns_kubectl)]))
                clock = RolloutClock(config, ns_kubectl, deployment, None)
                clock.start()
                start = time.monotonic()
                for argv in (
                    [KUBECTL, "apply", "--server-side", "--field-manager=bench", "-f", str(path)],
                    [KUBECTL, "rollout", "status", f"deployment/{deployment}", "-n", ns_kubectl, "--timeout=300s"],
                ):
                    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
                    if proc.returncode != 0:
                        sys.exit(f"{WHO}: {' '.join(argv[:3])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
                end = time.monotonic()
                complete = clock.result()
                kubectl = {
                    "wall": end - start,
                    "task": end - start,
                    "floor": 0.0,
                    "task_floor": end - start,
                    "available": complete - start,
                    "after": end - complete,
                }

                load_now = os.getloadavg()[0]
                delete_and_wait(pending, env)
                pending = []
                if run == 0:
                    phases.clear()
                    continue  # warm-up pair
                loads.append(load_now)
                rows["ours"].append(ours)
                rows["kubectl"].append(kubectl)
    finally:
        if pending:
            delete_and_wait(pending, env)

    medians = {tool: {k: median([r[k] for r in runs]) for k in runs[0]} for tool, runs in rows.items()}
    print(f"\nFull deploy from an empty namespace to Available, median of {RUNS} runs after a warm-up, interleaved")
    print(f"machine: {os.cpu_count()} cores, 1-min load during the runs {spread(loads)}")
    print(f"{'tool':58} {'wall s':>7} {'(range)':>11} {'task s':>7} {'Available at s':>14} {'then s':>7}")
    names = {
        "ours": "inference.triton.triton_server (create_namespace, wait)",
        "kubectl": "kubectl apply --server-side + kubectl rollout status",
    }
    for tool, m in medians.items():
        print(
            f"{names[tool]:58} {m['wall']:7.3f} {spread([r['wall'] for r in rows[tool]]):>11} {m['task']:7.3f} "
            f"{m['available']:14.3f} {m['after']:7.3f}"
        )
    ours, kubectl = medians["ours"], medians["kubectl"]
    print("\ntask s: ours from the task's start to its end in the controller (callback stamps); kubectl: = wall")
    print("Available at: from the start to the first watch event with the rollout complete; then: from there to exit")
    print(
        f"ratios: whole process ours/kubectl {ours['wall'] / kubectl['wall']:.2f}x; task time ours/kubectl "
        f"{ours['task'] / kubectl['task']:.2f}x (callback stamps), "
        f"{ours['task_floor'] / kubectl['task']:.2f}x (wall minus the floor, {ours['floor']:.3f} s; target <= 2x)"
    )
    print("\nours, phases (median s from the start of ansible-playbook; module processes seen in /proc every 20 ms):")
    for key in phases[0]:
        seen = [p[key] for p in phases if p[key] == p[key]]  # NaN: that module process never started
        print(f"  {key:32} " + (f"{median(seen):6.3f}" if seen else "not started"))
    print(f"[{load()} at the end]")
    print(json.dumps({"runs": RUNS, "medians": medians, "raw": rows, "phases": phases}), file=sys.stderr)


if __name__ == "__main__":
    main()
