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

Two modes. "immediate": kwok marks new pods Ready at once, so the rollout is complete about a second after the
apply, often before a tool has started watching. "held", closer to a real Triton whose pods take a while to pull
and load models: a ResourceQuota of 2 pods in the namespace keeps the ReplicaSet from creating the surge pod until
the benchmark raises the quota HOLD seconds (BENCH_ROLLOUT_HOLD, default 4) after the tool started; the ReplicaSet
controller's retry backoff then adds a few seconds more. Only the benchmark's own namespaces are touched.

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
import threading
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
    run,
    spread,
    write_playbook,
)
from bench_apply import OPTIONS, bench_venv

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options

RUNS = max(5, int(os.environ.get("BENCH_RUNS", "7")))
NAME = "bench"
WHO = "bench_rollout"
HOLD = float(os.environ.get("BENCH_ROLLOUT_HOLD", "4"))


def manifests(namespace: str, stamp: str) -> list[dict]:
    options = {**OPTIONS, "env": {"BENCH_ROLLOUT": stamp}}
    merged, _ = merge_options(options, [])
    return list(render(NAME, namespace, merged).values())


def deployment_name(namespace: str) -> str:
    return next(m["metadata"]["name"] for m in manifests(namespace, "x") if m["kind"] == "Deployment")


def set_quota(namespace: str, pods: int, env: dict[str, str], wait: bool) -> None:
    """A pods quota in the namespace; with `wait`, until the quota controller has taken it into its status (the
    admission check uses status.hard)."""
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "bench-hold", "namespace": namespace},
        "spec": {"hard": {"pods": str(pods)}},
    }
    proc = subprocess.run(
        [KUBECTL, "apply", "-f", "-"], input=json.dumps(quota), env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"{WHO}: cannot set the pods quota of {namespace}: {proc.stderr.strip()}")
    deadline = time.monotonic() + 30
    while wait:
        hard = run(
            [KUBECTL, "get", "resourcequota", "bench-hold", "-n", namespace, "-o", "jsonpath={.status.hard.pods}"],
            env,
            who=WHO,
        )
        if hard.strip() == str(pods):
            return
        if time.monotonic() > deadline:
            sys.exit(f"{WHO}: the pods quota of {namespace} did not reach {pods} within 30 s")
        time.sleep(0.1)


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
    modes = ("immediate", "held")
    results: dict[str, dict[str, list[dict[str, float]]]] = {m: {name: [] for name in tools} for m in modes}
    loads: dict[str, list[float]] = {m: [] for m in modes}
    watcher_starts: dict[str, list[float]] = {m: [] for m in modes}
    try:
        for ns in namespaces:
            subprocess.run([KUBECTL, "create", "namespace", ns], env=env, capture_output=True, check=False)
        with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
            work = Path(tmp)
            (work / "ansible.cfg").write_text("[defaults]\n")
            kc_env = {**env, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
            commands = {}
            # Ours: the changing values come in as extra vars, so one playbook serves every run.
            ours_args = {
                "name": NAME,
                "namespace": namespaces[0],
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
                    lambda stamp, book=book: [
                        str(bench_bin / "ansible-playbook"),
                        "-i",
                        "localhost,",
                        str(book),
                    ],
                    kc_env,
                    (definition, namespaces[index]),
                )

            for mode in modes:
                # Interleave the tools run by run, so a burst of load from the other users hits all of them alike.
                for run_index in range(RUNS + 1):
                    for index, (tool, ns) in enumerate(tools.items()):
                        argv_for, tool_env, kc_file = commands[tool]
                        stamp = uuid.uuid4().hex[:12]
                        if kc_file:
                            kc_file[0].write_text(yaml.safe_dump_all(manifests(kc_file[1], stamp)))
                        held = mode == "held"
                        if held:
                            # The rolling update needs a surge pod (maxSurge 1, maxUnavailable 0 for 2 replicas):
                            # a quota of 2 pods keeps the ReplicaSet from creating it until the quota is raised.
                            set_quota(ns, OPTIONS["replicas"], env, wait=True)
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
                        release = None
                        if held:
                            release = threading.Timer(HOLD, set_quota, args=(ns, 100, env, False))
                            release.start()
                        # Ours follows the rollout in a second module (rollout_status) after the apply: when does
                        # that module's process start?
                        spotter = ProcessSpotter(proc.pid, b"AnsiballZ_rollout_status") if index == 0 else None
                        if spotter:
                            spotter.start()
                        stdout, stderr = proc.communicate()
                        end = time.monotonic()
                        if release:
                            release.join()
                        if spotter:
                            spotter.stop.set()
                            spotter.join()
                        if proc.returncode != 0:
                            sys.exit(f"{WHO}: {tool} failed:\n{stdout[-3000:]}\n{stderr[-2000:]}")
                        try:
                            complete = clock.result()
                        except RuntimeError as exc:
                            sys.exit(f"{WHO}: {tool}: {exc}")
                        if complete > end:
                            sys.exit(f"{WHO}: {tool} returned before the rollout was complete")
                        if run_index == 0:
                            continue  # warm-up (the first one also creates the release in its namespace)
                        if index == 0:
                            loads[mode].append(os.getloadavg()[0])
                        task_end = last_stamp(stamps)
                        results[mode][tool].append(
                            {
                                "latency": end - complete,
                                "to_task_end": task_end - complete,
                                "task_end_to_exit": end - task_end,
                                "rollout": complete - start,
                                "wall": end - start,
                            }
                        )
                        if spotter and spotter.seen_at is not None:
                            watcher_starts[mode].append(spotter.seen_at - complete)
    finally:
        delete_namespaces(namespaces, env)

    medians: dict[str, dict[str, dict[str, float]]] = {}
    keys = ("latency", "to_task_end", "task_end_to_exit", "rollout", "wall")
    titles = {
        "immediate": "immediate rollout (kwok marks the new pods Ready at once)",
        "held": f"held rollout (a pods quota keeps the surge pod from being created until {HOLD:g} s after the start)",
    }
    print(
        f"\nRollout detection latency, median of {RUNS} runs after a warm-up, tools interleaved; {os.cpu_count()} cores"
    )
    for mode in modes:
        print(f"\n{titles[mode]}; 1-min load during the runs {spread(loads[mode])}")
        print(f"{'tool':56} {'latency s':>9} {'(range)':>11} {'task end':>8} {'exit':>6} {'rollout':>7} {'wall':>6}")
        medians[mode] = {}
        for tool, rows in results[mode].items():
            lat = [r["latency"] for r in rows]
            medians[mode][tool] = m = {k: median([r[k] for r in rows]) for k in keys}
            print(
                f"{tool:56} {m['latency']:9.3f} {spread(lat):>11} {m['to_task_end']:8.3f} "
                f"{m['task_end_to_exit']:6.3f} {m['rollout']:7.3f} {m['wall']:6.3f}"
            )
        ours, kc, kc1 = (medians[mode][t]["latency"] for t in tools)
        print(
            f"ours latency {ours:.3f} s (target <= 1 s); kubernetes.core / ours: {kc / ours:.1f}x (wait_sleep 5), "
            f"{kc1 / ours:.1f}x (wait_sleep 1)"
        )
        if watcher_starts[mode]:
            print(
                f"ours: its rollout_status module process started {median(watcher_starts[mode]):+.3f} s "
                f"({spread(watcher_starts[mode])}) relative to the rollout being complete (negative: before)"
            )
    print("\nlatency: time from the rollout being complete (first such watch event) to the tool's process exit")
    print("task end: from complete to the task's end in the controller (a callback's stamp); exit: task end to exit")
    print("rollout: from the tool's start to the rollout being complete; wall: the tool's whole run")
    print(f"[{load()} at the end]")
    print(json.dumps({"runs": RUNS, "medians": medians, "raw": results}), file=sys.stderr)


if __name__ == "__main__":
    main()
