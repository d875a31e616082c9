"""Integration fixtures: the real local control plane, and a way to run one module task through ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.localcluster.pytest_fixture import helm_binary, kube_cluster, kube_score_binary  # noqa: F401  # pylint: disable=unused-import

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONNECTION_PLUGINS = Path(__file__).resolve().parent / "fixtures" / "connection_plugins"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def local_inventory_args(kubeconfig: str) -> list[str]:
    """Extra vars pointing inventories/local and inventories/simulated at the test's kubeconfig of the local cluster.

    Those inventories read no kubeconfig from the environment; they take another kubeconfig of the local cluster
    (a restricted token's) only as localcluster_kubeconfig, and refuse any other API server (k8s_auth_expect).
    """
    args = ["-e", f"localcluster_kubeconfig={kubeconfig}"]
    if os.environ.get("LOCALCLUSTER_STATE_DIR"):
        args += ["-e", f"localcluster_state_dir={os.environ['LOCALCLUSTER_STATE_DIR']}"]
    return args


class Runner:
    """Runs tasks with ansible-playbook (the json callback) against the cluster and returns their results."""

    def __init__(self, kubeconfig: str, workdir: Path):
        self.kubeconfig = kubeconfig
        self.workdir = workdir

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            K8S_AUTH_KUBECONFIG=self.kubeconfig,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
            ANSIBLE_NOCOLOR="1",
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        env.update(extra)
        return env

    def play(
        self,
        tasks: list[dict[str, Any]],
        check: bool = False,
        diff: bool = False,
        verbosity: int = 0,
        connection: str = "local",
        env: dict[str, str] | None = None,
    ) -> dict:
        """Run the tasks (each registered, errors ignored) and return {"results": {task name: result}, ...}.

        ``connection: not_local`` (tests/integration/fixtures/connection_plugins) runs the modules as processes, as on
        a remote target, instead of in the controller's task process.
        """
        out = self.workdir / f"results-{uuid.uuid4().hex[:8]}.json"
        registered = []
        for index, task in enumerate(tasks):
            registered.append({**task, "register": f"r{index}", "ignore_errors": True})
        results = ", ".join(f"{json.dumps(t['name'])}: r{i}" for i, t in enumerate(tasks))
        registered.append(
            {
                "name": "Save the results",
                "ansible.builtin.copy": {
                    "content": "{{ {" + results + "} | to_json }}",
                    "dest": str(out),
                    "mode": "0600",
                },
                "check_mode": False,
                "diff": False,
            }
        )
        playbook = [
            {
                "name": "integration",
                "hosts": "localhost",
                "connection": connection,
                "gather_facts": False,
                "vars": {"ansible_python_interpreter": sys.executable},
                "tasks": registered,
            }
        ]
        path = self.workdir / f"play-{uuid.uuid4().hex[:8]}.yml"
        path.write_text(yaml.safe_dump(playbook, sort_keys=False))
        argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if verbosity:
            argv.append("-" + "v" * verbosity)
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env(ANSIBLE_CONNECTION_PLUGINS=str(CONNECTION_PLUGINS), **(env or {})),
            cwd=REPO,
            check=False,
        )
        if not out.exists():
            raise AssertionError(f"the play did not finish:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return {
            "results": json.loads(out.read_text()),
            "_stdout": proc.stdout,
            "_stderr": proc.stderr,
            "_rc": proc.returncode,
        }

    def triton(self, check: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        """One triton_server task; returns its result (with 'failed' when it failed).

        Tests run side by side on one cluster, so nodePorts are allocated by the server unless a test sets them.
        """
        if "values" not in args:
            for which in ("http", "grpc", "metrics"):
                args.setdefault(f"service_node_port_{which}", 0)
        report = self.play([{"name": "triton", "inference.triton.triton_server": args}], check=check, diff=diff)
        return task_result(report, "triton")


def task_result(report: dict[str, Any], name: str) -> dict[str, Any]:
    return report["results"][name]


def routed_node_port(port: int, timeout: float = 30) -> int:
    """``port`` once this node's kube-proxy routes it (127.0.0.1 accepts a connection), for a first request.

    A Service whose first pod has just become ready is refused on its nodePort until kube-proxy's next sync (at least
    1 s apart, later on a busy machine). The API does not show when a node has synced, so a task cannot wait for it:
    a client of a release created a moment ago meets the same delay."""
    import socket

    from tools.localcluster.pytest_fixture import wait_for

    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return False
        return True

    wait_for(f"kube-proxy to route nodePort {port}", accepts, timeout, 0.5)
    return port


def free_node_port(k8s: Any, start: int = 32100) -> int:
    """A nodePort no Service of the cluster uses now (tests that need a fixed one run side by side)."""
    from kubernetes import client

    used = {
        port.node_port
        for service in client.CoreV1Api(k8s).list_service_for_all_namespaces().items
        for port in service.spec.ports or []
        if port.node_port
    }
    return next(port for port in range(start, 32768) if port not in used)


@pytest.fixture(scope="session")
def runner(kube_cluster):  # noqa: F811
    with tempfile.TemporaryDirectory(prefix="triton-it-") as tmp:
        yield Runner(kube_cluster.kubeconfig, Path(tmp))


@pytest.fixture(scope="session")
def k8s(kube_cluster):  # noqa: F811
    """A kubernetes ApiClient for assertions on the cluster."""
    from kubernetes import config

    api = config.new_client_from_config(config_file=kube_cluster.kubeconfig)
    yield api
    api.close()


@pytest.fixture
def namespace(k8s):
    """A fresh namespace per test, deleted afterwards."""
    from kubernetes import client

    name = f"it-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(k8s)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
