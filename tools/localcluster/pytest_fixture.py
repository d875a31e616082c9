"""Session-scoped pytest fixtures: ``kube_cluster``, a reachable Kubernetes API for integration tests, and
``helm_binary`` and ``kube_score_binary``, the paths of real tools built on demand (no cluster needed).

Use them from a conftest.py::

    from tools.localcluster.pytest_fixture import helm_binary, kube_cluster, kube_score_binary  # noqa: F401

Order of preference:
1. ``KUBECONFIG`` or ``K8S_AUTH_KUBECONFIG`` names a single kubeconfig file whose API server answers: reuse it
   (nothing is started or stopped; beware that this is whatever cluster that file points at).
2. Otherwise the local cluster in ``<repo>/.localcluster`` (or ``LOCALCLUSTER_STATE_DIR``) is brought up with
   ``localcluster.py up`` (which builds the binaries on first use), or reused when it already runs.
   A cluster this session started is stopped at the end, unless ``LOCALCLUSTER_KEEP=1``; one that was
   already running is left running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from . import _versions as v

CLI = Path(__file__).resolve().parent / "localcluster.py"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy and return it; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


KUBECONFIG_VARS = ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")


@dataclass(frozen=True)
class KubeCluster:
    """The cluster a test session talks to."""

    kubeconfig: str  # absolute path
    source: str  # "KUBECONFIG", "K8S_AUTH_KUBECONFIG", "started" or "reused"
    state_dir: str = ""  # the localcluster state folder, empty for a cluster given by the environment

    def env(self) -> dict[str, str]:
        """Environment variables pointing kubectl, the kubernetes client and Ansible at this cluster."""
        return {"KUBECONFIG": self.kubeconfig, "K8S_AUTH_KUBECONFIG": self.kubeconfig}


def api_answers(kubeconfig: str, timeout: float = 5.0) -> bool:
    """Tell whether the API server in a kubeconfig answers /version."""
    try:
        from kubernetes import client, config
    except ImportError:
        proc = subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", f"--request-timeout={int(timeout)}s", "version"],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        with api:
            client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception:  # any failure (bad file, refused, TLS, auth) means: not usable
        return False
    return True


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI, relaying its progress (stderr) live; return (exit status, stdout, stderr tail)."""
    proc = subprocess.Popen(
        [sys.executable, str(CLI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tail: deque[str] = deque(maxlen=60)
    assert proc.stderr is not None and proc.stdout is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        tail.append(line)
    out = proc.stdout.read()
    return proc.wait(), out, "".join(tail)


def kubeconfig_from(stdout: str) -> str:
    """Return the path of the last ``KUBECONFIG=<path>`` line of `up`'s output."""
    lines = [line for line in stdout.splitlines() if line.startswith("KUBECONFIG=")]
    if not lines:
        raise ValueError(f"no KUBECONFIG= line in {stdout!r}")
    return lines[-1].split("=", 1)[1]


def _from_environment() -> KubeCluster | None:
    for var in KUBECONFIG_VARS:
        value = os.environ.get(var, "")
        if value and os.pathsep not in value and Path(value).is_file() and api_answers(value):
            return KubeCluster(str(Path(value).resolve()), var)
    return None


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """A reachable cluster for the whole session (see the module docstring for the rules)."""
    given = _from_environment()
    if given is not None:
        yield given
        return
    state_dir = os.environ.get("LOCALCLUSTER_STATE_DIR") or str(v.DEFAULT_STATE_DIR)
    was_running = run_cli("status", "--state-dir", state_dir)[0] == 0
    code, out, err = run_cli("up", "--state-dir", state_dir)
    if code != 0:
        pytest.fail(f"`localcluster.py up --state-dir {state_dir}` failed (exit {code}):\n{err}", pytrace=False)
    cluster = KubeCluster(kubeconfig_from(out), "reused" if was_running else "started", state_dir)
    try:
        yield cluster
    finally:
        if not was_running and os.environ.get("LOCALCLUSTER_KEEP") != "1":
            run_cli("down", "--state-dir", state_dir)


def _tool(name: str, variable: str) -> Path:
    """An on-demand tool (``localcluster.py tool-path NAME``), or the one the environment variable names."""
    given = os.environ.get(variable)
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"{variable}={given} is not an executable file", pytrace=False)
        return Path(given)
    code, out, err = run_cli("tool-path", name)
    if code != 0:
        pytest.fail(f"`localcluster.py tool-path {name}` failed (exit {code}):\n{err}", pytrace=False)
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The pinned helm: built into the user cache on first use, then reused; ``HELM_BINARY`` names another."""
    return _tool("helm", "HELM_BINARY")


@pytest.fixture(scope="session")
def kube_score_binary() -> Path:
    """The pinned kube-score, built like helm; ``KUBE_SCORE_BINARY`` names another."""
    return _tool("kube-score", "KUBE_SCORE_BINARY")
