#!/usr/bin/env python3
"""deploy.yml with nothing to change vs what a user would otherwise run: helm + kubectl.

On bench_scale's own cluster (.cache/bench-cluster, or BENCH_CLUSTER_STATE_DIR; started with simulated nodes only if
it is not running, and stopped again at the end), resized to NODES simulated GPU nodes (default 1):
- ours: `ansible-playbook deploy.yml` with an inventory like inventories/simulated (device plugin, the example model
  repository prepared on every GPU node, the Triton release with 2 replicas and a PDB, the verification), a run
  after the first, which must report changed=0 on every host;
- theirs: `helm upgrade --install --wait` of the triton-backend chart (tests/integration/fixtures/charts, the seed
  chart; helm built on demand with `localcluster.py tool-path helm`) with the same replicas, GPUs and node
  selection (not the PDB: the chart writes it as policy/v1beta1, which helm cannot install on Kubernetes 1.25+),
  plus `kubectl apply --server-side` of the device plugin's static manifest: the DaemonSet the nvidia_device_plugin
  role applied, read back from the cluster (server fields removed), in its own namespace.
  The two processes are timed together. Nothing prepares the model repository or labels the nodes on that side.
Runs interleave (ours, theirs, ours, ...) after a warm-up of each; median of RUNS (default 5), the ratio of the
medians, and the 1-minute load average around each run.

--repo runs the deploy.yml of another checkout (a `git worktree` of a commit), as bench_scale does.

Usage: .venv/bin/python benchmarks/bench_vs_helm.py [--runs 5] [--nodes 1] [--repo DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import KUBECTL, OURS_BIN, REPO, load, median, ours_env, spread
from bench_scale import LOCALCLUSTER, STATE_DIR, cluster, commit, inventory, recap

WHO = "bench_vs_helm"
CHART = REPO / "tests/integration/fixtures/charts/triton-backend"
HELM_NS = "bench-helm"
STATIC_NS = "bench-static-device-plugin"
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink")


def helm_path() -> str:
    given = os.environ.get("HELM_BINARY")
    if given:
        return given
    proc = subprocess.run([*LOCALCLUSTER, "tool-path", "helm"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{WHO}: `localcluster.py tool-path helm` failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def chart_values(path: Path) -> Path:
    """inventories/simulated's release in the chart's values: 2 replicas, 1 GPU each, on prepared GPU nodes."""
    values = {
        "replicaCount": 2,
        "mode": {"useCpu": False},
        "image": {"numGpus": 1, "modelRepositoryPath": "/srv/triton/models"},
        "service": {"type": "NodePort", "nodePortHttp": None, "nodePortGrpc": None, "nodePortMetrics": None},
        "nodeSelector": {"inference.triton/model-repository": "ready"},
        "tolerations": [KWOK_TOLERATION],
        # The chart writes its PDB as policy/v1beta1, which Kubernetes has not served since 1.25: helm cannot install
        # it, so the helm side runs without the PDB that ours applies.
        "podDisruptionBudget": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(values))
    return path


def static_device_plugin(env: dict[str, str], path: Path) -> Path:
    """The DaemonSet (and ConfigMap, if any) the role applied, as a static manifest in its own namespace."""
    selector = "app.kubernetes.io/managed-by=inference.triton"
    proc = subprocess.run(
        [KUBECTL, "get", "daemonset,configmap", "-n", "kube-system", "-l", selector, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"{WHO}: kubectl get of the device plugin failed: {proc.stderr}")
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STATIC_NS}}]
    for item in json.loads(proc.stdout)["items"]:
        item.pop("status", None)
        meta = item["metadata"]
        for name in SERVER_FIELDS:
            meta.pop(name, None)
        (meta.get("annotations") or {}).pop("deprecated.daemonset.template.generation", None)
        meta["namespace"] = STATIC_NS
        docs.append(item)
    if not any(d["kind"] == "DaemonSet" for d in docs):
        sys.exit(f"{WHO}: the device plugin DaemonSet of deploy.yml was not found in kube-system")
    path.write_text(yaml.safe_dump_all(docs))
    return path


def drop_orphaned_pods(env: dict[str, str], config: str) -> None:
    """Pods left bound to nodes that a smaller resize removed (bench_scale ran at 50 nodes before): the pod garbage
    collector takes its time, and a verification would meet a pod on a node that no longer exists. Only on the
    benchmark's own cluster."""
    kubectl = [KUBECTL, "--kubeconfig", config]
    nodes = subprocess.run(
        [*kubectl, "get", "nodes", "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    names = {n["metadata"]["name"] for n in json.loads(nodes.stdout)["items"]}
    pods = subprocess.run(
        [*kubectl, "get", "pods", "-A", "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    for pod in json.loads(pods.stdout)["items"]:
        node = pod["spec"].get("nodeName")
        if node and node not in names:
            meta = pod["metadata"]
            subprocess.run(
                [*kubectl, "delete", "pod", "-n", meta["namespace"], meta["name"], "--grace-period=0", "--force"],
                env=env,
                capture_output=True,
                check=False,
            )


def timed(argvs: list[list[str]], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of the commands run one after the other, and the last one's output; exits if one fails."""
    start = time.perf_counter()
    out = ""
    for argv in argvs:
        proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            failed = f"{WHO}: {' '.join(argv[:4])} failed (exit {proc.returncode})"
            sys.exit(f"{failed}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        out = proc.stdout
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose deploy.yml runs")
    args = parser.parse_args()
    repo = args.repo.resolve()

    started = cluster("status", check=False).returncode != 0
    if started:
        print(f"[{WHO}] starting its own cluster in {STATE_DIR}", file=sys.stderr)
        cluster("up", "--gpu-nodes", str(args.nodes), "--real-nodes", "0")
    config = str(STATE_DIR / "kubeconfig")
    env = {
        **ours_env(config),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(repo / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(repo / ".collections"),
    }
    helm = helm_path()
    ours_runs: list[float] = []
    theirs_runs: list[float] = []
    loads: list[float] = []
    try:
        cluster("nodes", "--gpu-nodes", str(args.nodes))
        drop_orphaned_pods(env, config)
        with tempfile.TemporaryDirectory(prefix="bench-vs-helm-") as tmp:
            work = Path(tmp)
            inv = inventory(work, args.nodes)
            ours = [str(OURS_BIN / "ansible-playbook"), str(repo / "deploy.yml"), "-i", str(inv)]
            timed([ours], env)  # the first run prepares the nodes and deploys
            values = chart_values(work / "values.yaml")
            static = static_device_plugin(env, work / "device-plugin.yaml")
            theirs = [
                [helm, "--kubeconfig", config, "upgrade", "--install", "--wait", "--timeout", "300s", "tb", str(CHART)]
                + ["-n", HELM_NS, "--create-namespace", "-f", str(values)],
                [KUBECTL, "--kubeconfig", config, "apply", "--server-side", "--field-manager", WHO, "-f", str(static)],
            ]
            timed(theirs, env)  # the first install
            for index in range(args.runs + 1):  # the first pair warms caches and is not counted
                ours_time, out = timed([ours], env)
                hosts = recap(out)
                if len(hosts) != args.nodes + 1 or any(h["changed"] or h["failed"] for h in hosts.values()):
                    sys.exit(f"{WHO}: deploy.yml's run with nothing to change changed something:\n{out[-3000:]}")
                theirs_time, _out = timed(theirs, env)
                if index:
                    ours_runs.append(ours_time)
                    theirs_runs.append(theirs_time)
                    loads.append(os.getloadavg()[0])
            subprocess.run(
                [str(OURS_BIN / "ansible-playbook"), str(repo / "undeploy.yml"), "-i", str(inv)],
                env=env,
                cwd=repo,
                capture_output=True,
                check=False,
            )
        subprocess.run(
            [helm, "--kubeconfig", config, "uninstall", "tb", "-n", HELM_NS], capture_output=True, check=False
        )
        subprocess.run(
            [KUBECTL, "--kubeconfig", config, "delete", "namespace", "--wait=false", HELM_NS, STATIC_NS],
            capture_output=True,
            check=False,
        )
    finally:
        if started:
            cluster("down", check=False)

    ours_median, theirs_median = median(ours_runs), median(theirs_runs)
    print("\ndeploy.yml with nothing to change vs helm upgrade --install --wait + kubectl apply --server-side")
    print(
        f"{args.nodes} simulated GPU node(s), median of {args.runs} interleaved runs; {load()}; "
        f"{repo} at {commit(repo)}"
    )
    print(f"{'':44} {'median s':>8} {'(range)':>12}")
    print(f"{'ours: ansible-playbook deploy.yml':44} {ours_median:8.2f} {spread(ours_runs):>12}")
    print(f"{'theirs: helm upgrade --install --wait + kubectl':44} {theirs_median:8.2f} {spread(theirs_runs):>12}")
    print(f"ratio ours/theirs: {ours_median / theirs_median:.2f}; load during the runs {spread(loads)}")
    print(json.dumps({"ours": ours_runs, "theirs": theirs_runs, "load": loads}), file=sys.stderr)


if __name__ == "__main__":
    main()
