#!/usr/bin/env python3
"""No-change apply of Triton's objects: inference.triton.triton_server vs kubernetes.core.k8s vs kubectl.

All three apply the same three manifests (Deployment, Service, PodDisruptionBudget, rendered once by this
collection) to their own namespace of the local cluster, which already holds them, so every measured run is a
no-change run. Each tool's run is timed as a whole process (ansible-playbook or kubectl), median of RUNS runs
after one warm-up. kubernetes.core comes from PyPI's `ansible` package, installed only into this benchmark's
own venv (.cache/bench-venv), never into the project's.

Also measured: the rollout detection latency, from the moment a Deployment reports Available to the moment the
tool returns (ours watches; kubernetes.core.k8s with wait: true polls every wait_sleep seconds).

Usage: .venv/bin/python benchmarks/bench_apply.py  (the local cluster must be up: make cluster-up)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.inference.triton.plugins.module_utils._render import render  # noqa: E402
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
BENCH_VENV = REPO / ".cache" / "bench-venv"
ANSIBLE_PACKAGE = "ansible>=12,<13"  # the community package built on ansible-core 2.19, with kubernetes.core
KUBECTL = os.environ.get("KUBECTL", "kubectl")
OPTIONS = {
    "replicas": 2,
    "pdb_enabled": True,
    "service_node_port_http": 0,
    "service_node_port_grpc": 0,
    "service_node_port_metrics": 0,
}


def kubeconfig() -> str:
    path = (
        os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or str(REPO / ".localcluster/kubeconfig")
    )
    if not Path(path).exists():
        sys.exit(f"bench_apply: no kubeconfig at {path}; run make cluster-up first")
    return path


def bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".installed"
    if not stamp.exists():
        print(f"[bench] installing {ANSIBLE_PACKAGE} and kubernetes into {BENCH_VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                ANSIBLE_PACKAGE,
                "kubernetes==37.0.2",
                "jsonpatch",
            ],
            check=True,
        )
        stamp.touch()
    return BENCH_VENV / "bin"


def manifests(namespace: str) -> list[dict]:
    merged, _ = merge_options(OPTIONS, [])
    return list(render("bench", namespace, merged).values())


def timed(argv: list[str], env: dict[str, str], cwd: Path, warm_up: bool = False) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_apply: {' '.join(argv[:3])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if not warm_up and ("changed=1" in proc.stdout or "configured" in proc.stdout):
        sys.exit(f"bench_apply: a no-change run changed something:\n{proc.stdout[-2000:]}")
    return elapsed


def median_of(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    timed(argv, env, cwd, warm_up=True)  # warm-up (and, the first time, the initial create)
    return statistics.median(timed(argv, env, cwd) for _ in range(RUNS))


def playbook(path: Path, tasks: list[dict], python: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": python},
                    "tasks": tasks,
                }
            ]
        )
    )
    return path


def create_namespace(name: str, env: dict[str, str]) -> None:
    subprocess.run([KUBECTL, "create", "namespace", name], env=env, capture_output=True, check=False)


def main() -> None:
    config = kubeconfig()
    bench_bin = bench_venv()
    ours_bin = Path(sys.executable).parent
    env = {**os.environ, "KUBECONFIG": config, "K8S_AUTH_KUBECONFIG": config, "ANSIBLE_NOCOLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        work = Path(tmp)
        suffix = f"-{os.getpid()}"
        namespaces = [f"bench-ours{suffix}", f"bench-kc{suffix}", f"bench-kubectl{suffix}"]
        for ns in namespaces:
            create_namespace(ns, env)
        kubectl_file = work / "kubectl.yaml"
        kubectl_file.write_text(yaml.safe_dump_all(manifests(namespaces[2])))
        kc_file = work / "kc.yaml"
        kc_file.write_text(yaml.safe_dump_all(manifests(namespaces[1])))

        kc_definition = (
            "{{ lookup('ansible.builtin.file', '" + str(kc_file) + "') | ansible.builtin.from_yaml_all | list }}"
        )
        ours_env = {
            **env,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        }
        (work / "ansible.cfg").write_text("[defaults]\n")
        kc_env = {**env, "ANSIBLE_CONFIG": str(work / "ansible.cfg")}
        ours_args = {"name": "bench", "namespace": namespaces[0], **OPTIONS}
        ours_nowait = playbook(
            work / "ours.yml",
            [{"inference.triton.triton_server": {**ours_args, "wait": False}}],
            str(ours_bin / "python"),
        )
        ours_wait = playbook(
            work / "ours-wait.yml", [{"inference.triton.triton_server": ours_args}], str(ours_bin / "python")
        )
        kc_nowait = playbook(
            work / "kc.yml",
            [
                {
                    "kubernetes.core.k8s": {
                        "definition": kc_definition,
                        "apply": True,
                        "server_side_apply": {"field_manager": "bench", "force_conflicts": True},
                    }
                }
            ],
            str(bench_bin / "python"),
        )
        kc_wait = playbook(
            work / "kc-wait.yml",
            [
                {
                    "kubernetes.core.k8s": {
                        "definition": kc_definition,
                        "apply": True,
                        "server_side_apply": {"field_manager": "bench", "force_conflicts": True},
                        "wait": True,
                    }
                }
            ],
            str(bench_bin / "python"),
        )
        # The usual kubernetes.core pattern: one task per object (each pays the client import and discovery).
        kc_files = []
        for index, manifest in enumerate(manifests(namespaces[1])):
            path = work / f"kc-{index}.yaml"
            path.write_text(yaml.safe_dump(manifest))
            kc_files.append(path)
        kc_per_object = playbook(
            work / "kc-per-object.yml",
            [
                {
                    "kubernetes.core.k8s": {
                        "src": str(path),
                        "apply": True,
                        "server_side_apply": {"field_manager": "bench", "force_conflicts": True},
                    }
                }
                for path in kc_files
            ],
            str(bench_bin / "python"),
        )
        floor = playbook(work / "floor.yml", [{"ansible.builtin.debug": {"msg": "x"}}], str(ours_bin / "python"))
        # Three releases in one run (three namespaces each): what a platform team's playbook does. Ours imports the
        # client once per run (in ansible-playbook, before the task processes fork); kubernetes.core once per task.
        extra = [f"{ns}-{i}" for ns in namespaces[:2] for i in range(3)]
        for ns in extra:
            create_namespace(ns, env)
        namespaces += extra
        ours_three = playbook(
            work / "ours-three.yml",
            [
                {"inference.triton.triton_server": {**ours_args, "namespace": f"{namespaces[0]}-{i}", "wait": False}}
                for i in range(3)
            ],
            str(ours_bin / "python"),
        )
        kc_three_tasks = []
        for i in range(3):
            path = work / f"kc-three-{i}.yaml"
            path.write_text(yaml.safe_dump_all(manifests(f"{namespaces[1]}-{i}")))
            kc_three_tasks.append(
                {
                    "kubernetes.core.k8s": {
                        "definition": "{{ lookup('ansible.builtin.file', '"
                        + str(path)
                        + "') | ansible.builtin.from_yaml_all | list }}",
                        "apply": True,
                        "server_side_apply": {"field_manager": "bench", "force_conflicts": True},
                    }
                }
            )
        kc_three = playbook(work / "kc-three.yml", kc_three_tasks, str(bench_bin / "python"))

        rows = {
            "ansible-playbook floor (one debug task)": median_of(
                [str(ours_bin / "ansible-playbook"), "-i", "localhost,", str(floor)], ours_env, work
            ),
            "inference.triton.triton_server (wait: false)": median_of(
                [str(ours_bin / "ansible-playbook"), "-i", "localhost,", str(ours_nowait)], ours_env, work
            ),
            "inference.triton.triton_server (wait: true, default)": median_of(
                [str(ours_bin / "ansible-playbook"), "-i", "localhost,", str(ours_wait)], ours_env, work
            ),
            "kubernetes.core.k8s, 3 docs in one task (apply, SSA)": median_of(
                [str(bench_bin / "ansible-playbook"), "-i", "localhost,", str(kc_nowait)], kc_env, work
            ),
            "kubernetes.core.k8s, one task per object (usual)": median_of(
                [str(bench_bin / "ansible-playbook"), "-i", "localhost,", str(kc_per_object)], kc_env, work
            ),
            "kubernetes.core.k8s, same, wait: true": median_of(
                [str(bench_bin / "ansible-playbook"), "-i", "localhost,", str(kc_wait)], kc_env, work
            ),
            "inference.triton.triton_server, 3 releases in one run": median_of(
                [str(ours_bin / "ansible-playbook"), "-i", "localhost,", str(ours_three)], ours_env, work
            ),
            "kubernetes.core.k8s, 3 releases in one run (3 docs each)": median_of(
                [str(bench_bin / "ansible-playbook"), "-i", "localhost,", str(kc_three)], kc_env, work
            ),
            "kubectl apply --server-side (process)": median_of(
                [KUBECTL, "apply", "--server-side", "--field-manager=bench", "-f", str(kubectl_file)], env, work
            ),
        }
        floor_time = rows["ansible-playbook floor (one debug task)"]
        kc = rows["kubernetes.core.k8s, 3 docs in one task (apply, SSA)"]
        kc_w = rows["kubernetes.core.k8s, same, wait: true"]
        kubectl = rows["kubectl apply --server-side (process)"]
        print(
            f"\nNo-change apply of Deployment + Service + PDB, median of {RUNS} runs after a warm-up (whole process, s)"
        )
        print(f"{'tool':58} {'median s':>9} {'task s':>8}")
        for name, value in rows.items():
            task = value - floor_time if name.startswith(("inference", "kubernetes")) else value
            print(f"{name:58} {value:9.3f} {task:8.3f}")
        ours = rows["inference.triton.triton_server (wait: false)"]
        ours_w = rows["inference.triton.triton_server (wait: true, default)"]
        kc_usual = rows["kubernetes.core.k8s, one task per object (usual)"]
        ours_3 = rows["inference.triton.triton_server, 3 releases in one run"] - floor_time
        kc_3 = rows["kubernetes.core.k8s, 3 releases in one run (3 docs each)"] - floor_time
        ratios = [
            (
                "ours / kubernetes.core, 3 docs in one task (no wait)",
                (ours - floor_time) / (kc - floor_time),
                "<= 0.5x",
            ),
            ("ours / kubernetes.core, both wait", (ours_w - floor_time) / (kc_w - floor_time), "<= 0.5x"),
            ("ours / kubernetes.core, one task per object", (ours - floor_time) / (kc_usual - floor_time), ""),
            ("ours / kubernetes.core, 3 releases in one run", ours_3 / kc_3, ""),
            ("ours / kubectl apply --server-side (its whole process)", (ours - floor_time) / kubectl, "<= 2x"),
        ]
        print(f"\n{'ratios of task times (playbook floor subtracted)':60} {'measured':>9}   target")
        for label, ratio, target in ratios:
            print(f"{label:60} {ratio:8.2f}x   {target}")
        print(f"per release in a run of 3: ours {ours_3 / 3:.3f} s, kubernetes.core {kc_3 / 3:.3f} s")
        print(json.dumps({"runs": RUNS, "medians": rows}), file=sys.stderr)
        subprocess.run(
            [KUBECTL, "delete", "namespace", "--wait=false", *namespaces], env=env, capture_output=True, check=False
        )


if __name__ == "__main__":
    main()
