#!/usr/bin/env python3
"""Rollout detection latency: from the moment a Deployment's rollout is complete to the moment the tool returns.

Each run changes one env var of the Triton container (so each run starts a new rollout), then runs the tool as a
whole ansible-playbook process:
- inference.triton.triton_server (wait: true, the default): applies, then watches the Deployment;
- kubernetes.core.k8s with wait: true (default wait_sleep: 5 s, and wait_sleep: 1 s), from PyPI's `ansible`
  package in .cache/bench-venv (bench_apply.py creates it the first time).

Meanwhile a thread of this process watches the same Deployment with the kubernetes client and stamps the first
watch event where the rollout is complete (kubectl rollout status's rule: new generation observed, all replicas
updated and available, no old replica left). The latency is the tool's process exit minus that stamp, so it
includes what the tool still does after noticing (returning the result, ansible-playbook's exit). lastTransitionTime
of the Available condition is not used: it is second-granular, and Available stays True through a rolling update.

Each tool has its own namespace; the first run (warm-up) creates the release there. Median of RUNS (default 7).
The namespaces are deleted at the end.

Usage: .venv/bin/python benchmarks/bench_rollout.py   (the cluster of KUBECONFIG, else .localcluster, must be up)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
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
    delete_namespaces,
    generation_of,
    kubeconfig,
    last_stamp,
    load,
    median,
    ours_env,
    spread,
    write_playbook,
)
from bench_apply import OPTIONS, bench_venv

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options

RUNS = max(5, int(os.environ.get("BENCH_RUNS", "7")))
NAME = "bench"
WHO = "bench_rollout"


def manifests(namespace: str, stamp: str) -> list[dict]:
    merged, _ = merge_options({**OPTIONS, "env": {"BENCH_ROLLOUT": stamp}}, [])
    return list(render(NAME, namespace, merged).values())


def deployment_name(namespace: str) -> str:
    return next(m["metadata"]["name"] for m in manifests(namespace, "x") if m["kind"] == "Deployment")


def main() -> None:
    config = kubeconfig(WHO)
    bench_bin = bench_venv()
    env = base_env(config)
    suffix = f"-{os.getpid()}"
    tools = {
        "inference.triton.triton_server (wait: true)": f"bench-ro-ours{suffix}",
        "kubernetes.core.k8s wait: true (wait_sleep 5, default)": f"bench-ro-kc{suffix}",
        "kubernetes.core.k8s wait: true, wait_sleep: 1": f"bench-ro-kc1{suffix}",
    }
    namespaces = list(tools.values())
    results: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
    loads: list[float] = []
    watcher_starts: list[float] = []
    try:
        for ns in namespaces:
            subprocess.run([KUBECTL, "create", "namespace", ns], env=env, capture_output=True, check=False)
        with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
            work = Path(tmp)
            (work / "ansible.cfg").write_text("[defaults]\n")
            kc_env = {**env, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
            commands = {}
            # Ours: the env value comes in as an extra var, so one playbook serves every run.
            ours_args = {
                "name": NAME,
                "namespace": tools_ns(tools, 0),
                **OPTIONS,
                "env": {"BENCH_ROLLOUT": "{{ stamp }}"},
            }
            ours = write_playbook(
                work / "ours.yml", [{"inference.triton.triton_server": ours_args}], str(OURS_BIN / "python")
            )
            commands[list(tools)[0]] = (
                lambda stamp: [
                    str(OURS_BIN / "ansible-playbook"),
                    "-i",
                    "localhost,",
                    str(ours),
                    "-e",
                    f"stamp={stamp}",
                ],
                ours_env(config),
                None,
            )
            for index, sleep in ((1, None), (2, 1)):
                ns = tools_ns(tools, index)
                definition = work / f"kc-{index}.yaml"
                task = {
                    "definition": "{{ lookup('ansible.builtin.file', '"
                    + str(definition)
                    + "') | ansible.builtin.from_yaml_all | list }}",
                    "apply": True,
                    "server_side_apply": {"field_manager": "bench", "force_conflicts": True},
                    "wait": True,
                    "wait_timeout": 300,
                }
                if sleep:
                    task["wait_sleep"] = sleep
                book = write_playbook(
                    work / f"kc-{index}.yml", [{"kubernetes.core.k8s": task}], str(bench_bin / "python")
                )
                commands[list(tools)[index]] = (
                    lambda stamp, book=book: [str(bench_bin / "ansible-playbook"), "-i", "localhost,", str(book)],
                    kc_env,
                    (definition, ns),
                )

            # Interleave the tools run by run, so a burst of load from the other users hits all of them alike.
            for run in range(RUNS + 1):
                for index, (tool, ns) in enumerate(tools.items()):
                    argv_for, tool_env, kc_file = commands[tool]
                    stamp = uuid.uuid4().hex[:12]
                    if kc_file:
                        kc_file[0].write_text(yaml.safe_dump_all(manifests(kc_file[1], stamp)))
                    name = deployment_name(ns)
                    clock = RolloutClock(config, ns, name, generation_of(config, ns, name))
                    clock.start()
                    run_env, stamps = clock_env(work, tool_env)
                    stamps.unlink(missing_ok=True)
                    start = time.monotonic()
                    proc = subprocess.Popen(
                        argv_for(stamp),
                        env=run_env,
                        cwd=REPO,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    # Ours follows the rollout in a second module (rollout_status) after the apply: when does it start?
                    spotter = ProcessSpotter(proc.pid, b"AnsiballZ_rollout_status") if index == 0 else None
                    if spotter:
                        spotter.start()
                    proc.stdout_text, proc.stderr_text = proc.communicate()
                    end = time.monotonic()
                    if spotter:
                        spotter.stop.set()
                        spotter.join()
                    if proc.returncode != 0:
                        sys.exit(f"{WHO}: {tool} failed:\n{proc.stdout_text[-3000:]}\n{proc.stderr_text[-2000:]}")
                    try:
                        complete = clock.result()
                    except RuntimeError as exc:
                        sys.exit(f"{WHO}: {tool}: {exc}")
                    if complete > end:
                        sys.exit(f"{WHO}: {tool} returned before the rollout was complete")
                    if run == 0:
                        continue  # warm-up: creates the release in its namespace
                    if index == 0:
                        loads.append(os.getloadavg()[0])
                    task_end = last_stamp(stamps)
                    results[tool].append(
                        {
                            "latency": end - complete,
                            "to_task_end": task_end - complete,
                            "task_end_to_exit": end - task_end,
                            "rollout": complete - start,
                            "wall": end - start,
                        }
                    )
                    if spotter and spotter.seen_at is not None:
                        watcher_starts.append(spotter.seen_at - complete)
    finally:
        delete_namespaces(namespaces, env)

    print(f"\nRollout detection latency, median of {RUNS} runs after a warm-up, runs interleaved")
    print(f"machine: {os.cpu_count()} cores, 1-min load during the runs {min(loads):.2f}-{max(loads):.2f}")
    print(f"{'tool':56} {'latency s':>9} {'(min-max)':>11} {'task end':>8} {'exit':>6} {'rollout':>7} {'wall':>6}")
    medians = {}
    keys = ("latency", "to_task_end", "task_end_to_exit", "rollout", "wall")
    for tool, rows in results.items():
        lat = [r["latency"] for r in rows]
        medians[tool] = {k: median([r[k] for r in rows]) for k in keys}
        m = medians[tool]
        print(
            f"{tool:56} {m['latency']:9.3f} {spread(lat):>11} {m['to_task_end']:8.3f} {m['task_end_to_exit']:6.3f} "
            f"{m['rollout']:7.3f} {m['wall']:6.3f}"
        )
    ours, kc, kc1 = (medians[t]["latency"] for t in tools)
    print("\nlatency: time from the rollout being complete (watch event) to the tool's process exit")
    print("task end: from complete to the task's end in the controller (a callback's stamp); exit: task end to exit")
    print("rollout: from the tool's start to the rollout being complete; wall: the tool's whole run")
    print(
        f"ours latency: {ours:.3f} s (target <= 1 s); kubernetes.core / ours: {kc / ours:.1f}x (wait_sleep 5), "
        f"{kc1 / ours:.1f}x (wait_sleep 1)"
    )
    if watcher_starts:
        print(
            f"ours: the rollout_status module process started {median(watcher_starts):+.3f} s (median; "
            f"{spread(watcher_starts)}) relative to the rollout being complete (negative: before)"
        )
    print(f"[{load()} at the end]")
    print(json.dumps({"runs": RUNS, "medians": medians, "raw": results}), file=sys.stderr)


def tools_ns(tools: dict[str, str], index: int) -> str:
    return list(tools.values())[index]


if __name__ == "__main__":
    main()
