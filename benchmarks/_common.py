"""Helpers shared by bench_rollout, bench_scale and bench_full_deploy (bench_apply and bench_permissions predate it).

Not a benchmark itself: `make bench` runs only benchmarks/bench_*.py.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO / ".collections") not in sys.path:
    sys.path.insert(0, str(REPO / ".collections"))

OURS_BIN = Path(sys.executable).parent
KUBECTL = os.environ.get("KUBECTL", "kubectl")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def kubeconfig(who: str) -> str:
    path = (
        os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or str(REPO / ".localcluster/kubeconfig")
    )
    if not Path(path).exists():
        sys.exit(f"{who}: no kubeconfig at {path}; run make cluster-up first")
    return path


def load() -> str:
    """The 1-minute load average and the core count, to print next to every figure."""
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def base_env(config: str) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": config, "K8S_AUTH_KUBECONFIG": config, "ANSIBLE_NOCOLOR": "1"}


def ours_env(config: str) -> dict[str, str]:
    return {
        **base_env(config),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
    }


def write_playbook(path: Path, tasks: list[dict[str, Any]], python: str) -> Path:
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": python},
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump([play]))
    return path


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None, who: str = "bench") -> str:
    """Runs a command and exits the benchmark (non-zero) if it fails; returns stdout."""
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(
            f"{who}: {' '.join(argv[:4])} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}..{max(values):.2f}"


def delete_namespaces(names: list[str], env: dict[str, str]) -> None:
    if names:
        subprocess.run(
            [KUBECTL, "delete", "namespace", "--wait=false", "--ignore-not-found", *names],
            env=env,
            capture_output=True,
            check=False,
        )


# Peak memory of a process tree, sampled from /proc (no psutil) -------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_rss_kb(root: int) -> tuple[int, int, int]:
    """(sum of RSS over root and all its descendants in KiB, number of processes, largest single RSS in KiB)."""
    children = _children_map()
    todo, total, count, largest = [root], 0, 0, 0
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                rss = int(handle.read().split()[1]) * PAGE_KB
        except OSError:
            continue
        total, count, largest = total + rss, count + 1, max(largest, rss)
        todo.extend(children.get(pid, []))
    return total, count, largest


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree every `interval` seconds until the root process ends."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.peak_procs = 0
        self.peak_single_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total, count, largest = tree_rss_kb(self.pid)
            self.peak_single_kb = max(self.peak_single_kb, largest)
            if total > self.peak_kb:
                self.peak_kb, self.peak_procs = total, count
            time.sleep(self.interval)


def timed_tree(argv: list[str], env: dict[str, str], cwd: Path | None = None, who: str = "bench") -> dict[str, Any]:
    """Runs argv; returns wall seconds, the peak summed RSS of its process tree (MiB) and its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{who}: {' '.join(argv[:4])} failed (exit {proc.returncode}):\n{stdout[-4000:]}\n{stderr[-3000:]}")
    return {
        "wall": wall,
        "peak_mib": sampler.peak_kb / 1024,
        "procs": sampler.peak_procs,
        "peak_single_mib": sampler.peak_single_kb / 1024,
        "stdout": stdout,
    }


# Watching a Deployment from the benchmark's own process ---------------------------------------------------------


def rollout_complete(deployment: dict[str, Any]) -> bool:
    """kubectl rollout status's rule, written here independently of the collection's code under test."""
    spec, status, meta = deployment.get("spec") or {}, deployment.get("status") or {}, deployment.get("metadata") or {}
    desired = spec.get("replicas", 1)
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False
    if (status.get("updatedReplicas") or 0) != desired or (status.get("replicas") or 0) != desired:
        return False
    if (status.get("availableReplicas") or 0) != desired:
        return False
    available = [c for c in status.get("conditions") or [] if c.get("type") == "Available"]
    return not desired or (bool(available) and available[0].get("status") == "True")


class RolloutClock(threading.Thread):
    """Watches one Deployment and records time.monotonic() of the first event showing a complete rollout of a
    generation newer than `after_generation` (None: any generation, the Deployment may not exist yet).

    The watch starts from the resourceVersion of a list made in __init__, so no event between that list and the
    start of the thread is missed, whenever the measured tool starts.
    """

    def __init__(self, config: str, namespace: str, name: str, after_generation: int | None, timeout: float = 300):
        super().__init__(daemon=True)
        from kubernetes import client, watch
        from kubernetes import config as kconfig

        self.api = client.AppsV1Api(kconfig.new_client_from_config(config_file=config))
        self.watch = watch.Watch()
        self.namespace, self.name = namespace, name
        self.after_generation = after_generation
        self.timeout = timeout
        self.completed_at: float | None = None
        self.error: str | None = None
        listed = self.api.list_namespaced_deployment(namespace, field_selector=f"metadata.name={name}")
        self.resource_version = listed.metadata.resource_version

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while self.completed_at is None and time.monotonic() < deadline:
                stream = self.watch.stream(
                    self.api.list_namespaced_deployment,
                    self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=self.resource_version,
                    timeout_seconds=max(1, int(deadline - time.monotonic())),
                    allow_watch_bookmarks=False,
                )
                for event in stream:
                    now = time.monotonic()
                    obj = event["raw_object"]
                    self.resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        continue
                    generation = obj["metadata"].get("generation") or 0
                    if self.after_generation is not None and generation <= self.after_generation:
                        continue
                    if rollout_complete(obj):
                        self.completed_at = now
                        self.watch.stop()
                        break
        except Exception as exc:  # noqa: BLE001 - reported by the caller, which exits non-zero
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self, wait: float = 30) -> float:
        self.join(wait)
        if self.completed_at is None:
            self.watch.stop()
            raise RuntimeError(
                f"no complete rollout of Deployment {self.namespace}/{self.name} seen ({self.error or 'timeout'})"
            )
        return self.completed_at


def generation_of(config: str, namespace: str, name: str) -> int | None:
    from kubernetes import client
    from kubernetes import config as kconfig

    api = client.AppsV1Api(kconfig.new_client_from_config(config_file=config))
    try:
        return api.read_namespaced_deployment(name, namespace).metadata.generation
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


# A callback plugin that stamps each task's end with time.monotonic() (the same clock in every process on Linux) --

_CLOCK_CALLBACK = """
from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_clock"
    CALLBACK_NEEDS_ENABLED = True

    def _stamp(self, what):
        with open(os.environ["BENCH_CLOCK_FILE"], "a") as handle:
            handle.write(f"{what} {time.monotonic()!r}\\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._stamp("task_start")

    def v2_runner_on_ok(self, result):
        self._stamp("task_ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._stamp("task_failed")
"""


def clock_env(work: Path, env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """Env that enables the bench_clock callback; returns it and the file it writes to."""
    plugins = work / "callback_plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "bench_clock.py").write_text(_CLOCK_CALLBACK)
    stamps = work / "clock.txt"
    return {
        **env,
        "ANSIBLE_CALLBACK_PLUGINS": str(plugins),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_clock",
        "BENCH_CLOCK_FILE": str(stamps),
    }, stamps


def last_stamp(stamps: Path, what: str = "task_ok") -> float:
    lines = [line.split() for line in stamps.read_text().splitlines() if line.startswith(what)]
    return float(lines[-1][1])


class ProcessSpotter(threading.Thread):
    """Stamps (time.monotonic()) the first time a descendant of `pid` whose command line holds a needle is seen.

    One /proc scan costs about 1 ms of CPU here, so at the default interval the spotter takes ~10% of one core
    from the measured run (it only makes the spotted tool look slower).
    """

    def __init__(self, pid: int, *needles: bytes, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.needles, self.interval = pid, needles, interval
        self.seen: dict[bytes, float] = {}
        self.stop = threading.Event()

    @property
    def seen_at(self) -> float | None:
        return self.seen.get(self.needles[0])

    def run(self) -> None:
        while not self.stop.is_set() and len(self.seen) < len(self.needles):
            children = _children_map()
            todo = list(children.get(self.pid, []))
            while todo:
                pid = todo.pop()
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        cmdline = handle.read()
                except OSError:
                    continue
                for needle in self.needles:
                    if needle in cmdline and needle not in self.seen:
                        self.seen[needle] = time.monotonic()
                todo.extend(children.get(pid, []))
            time.sleep(self.interval)
