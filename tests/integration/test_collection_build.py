"""The built collection artifact: what it holds, and that the installed copy deploys on its own.

`ansible-galaxy collection build` writes the artifact into a temporary folder; it is installed into a temporary
collections path, and `ansible-playbook inference.triton.deploy` runs from a folder outside the repository with
only that path, against the local control plane. Assertions are on the artifact's member list and on the cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from conftest import local_inventory_args
from kubernetes import client

# deploy.yml applies the device plugin DaemonSet and labels nodes: make test runs it beside no other such test
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# Local state, tool chains and test infrastructure: never part of the artifact.
NOT_SHIPPED = (".localcluster", ".venv", ".collections", "tools", ".git", ".ansible", ".cache")
SHIPPED = (
    "MANIFEST.json",
    "FILES.json",
    "meta/runtime.yml",
    "playbooks/deploy.yml",
    "playbooks/undeploy.yml",
    "plugins/modules/triton_server.py",
    "plugins/action/triton_server.py",
    "roles/triton_server/tasks/main.yml",
    "roles/model_repository/meta/argument_specs.yml",
)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def isolated_env(collections: Path, home: Path, kubeconfig: str) -> dict[str, str]:
    """An environment in which the only inference.triton is the one installed under ``collections``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "KUBECONFIG", "K8S_AUTH_"))}
    env.update(
        HOME=str(home),
        ANSIBLE_CONFIG=str(home / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        K8S_AUTH_KUBECONFIG=kubeconfig,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out)], REPO, dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = sorted(out.glob("inference-triton-*.tar.gz"))
    assert len(built) == 1, (built, proc.stdout)
    return built[0]


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory, kube_cluster) -> dict[str, object]:
    """The artifact installed into a fresh collections path, with a working folder outside the repository."""
    work = tmp_path_factory.mktemp("installed")
    collections = work / "collections"
    home = work / "home"
    home.mkdir()
    (home / "ansible.cfg").write_text("[defaults]\nnocows = 1\n")
    env = isolated_env(collections, home, kube_cluster.kubeconfig)
    proc = run([str(BIN / "ansible-galaxy"), "collection", "install", str(artifact), "-p", str(collections)], work, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"work": work, "collections": collections, "env": env}


def test_artifact_leaves_out_local_state_and_test_infrastructure(artifact):
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    tops = {name.split("/", 1)[0] for name in names}
    assert not tops & set(NOT_SHIPPED), sorted(tops & set(NOT_SHIPPED))
    assert not [n for n in names if any(f"/{part}/" in f"/{n}/" for part in NOT_SHIPPED)]
    for path in SHIPPED:
        assert path in names, f"{path} missing from {artifact.name}"


def test_installed_copy_is_the_only_one_found(installed):
    galaxy = [str(BIN / "ansible-galaxy"), "collection", "list", "inference.triton"]
    proc = run(galaxy, installed["work"], installed["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(installed["collections"]) in proc.stdout, proc.stdout
    assert str(REPO) not in proc.stdout, proc.stdout

    # Without the temporary collections path the playbook cannot be found at all: nothing else supplies it.
    env = dict(installed["env"], ANSIBLE_COLLECTIONS_PATH=str(installed["work"] / "empty"))
    proc = run([str(BIN / "ansible-playbook"), "inference.triton.deploy", "--syntax-check"], installed["work"], env)
    assert proc.returncode != 0, proc.stdout
    assert "inference.triton.deploy could not be found" in proc.stderr, proc.stderr


def test_installed_collection_deploys_triton_on_the_local_cluster(installed, k8s, kube_cluster):
    namespace = f"it-build-{uuid.uuid4().hex[:6]}"
    nodes = Path(installed["work"]) / "nodes"
    argv = [
        str(BIN / "ansible-playbook"),
        "inference.triton.deploy",
        "-i",
        str(REPO / "inventories" / "local"),
        "-e",
        f"triton_server_namespace={namespace}",
        "-e",
        f"localcluster_nodes_dir={nodes}",
        *local_inventory_args(kube_cluster.kubeconfig),
    ]
    core = client.CoreV1Api(k8s)
    try:
        proc = run(argv, installed["work"], installed["env"])
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        recap = {m[0]: int(m[4]) for m in RECAP.findall(out)}
        assert set(recap) == {"localcluster", "real-node-0"} and not any(recap.values()), out[-3000:]
        # the installed collection's triton_verify talked to the real Triton on the real node
        answer = "add_sub(INPUT0=[1, 2, 3, 4], INPUT1=[10, 20, 30, 40]) -> OUTPUT0=[11.0, 22.0, 33.0, 44.0]"
        assert answer in out, out[-3000:]
        deployment = client.AppsV1Api(k8s).read_namespaced_deployment("triton", namespace)
        conditions = {c.type: c.status for c in deployment.status.conditions}
        assert conditions.get("Available") == "True", deployment.status
        assert deployment.status.available_replicas == deployment.spec.replicas == 2
        assert client.PolicyV1Api(k8s).read_namespaced_pod_disruption_budget("triton", namespace)
        assert core.read_namespaced_service("triton", namespace).spec.type == "NodePort"
        assert (nodes / "real-node-0" / "srv" / "triton" / "models" / "identity" / "config.pbtxt").is_file()

        undeploy = [str(BIN / "ansible-playbook"), "inference.triton.undeploy", *argv[2:]]
        proc = run(undeploy, installed["work"], installed["env"])
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
        selector = "app.kubernetes.io/instance=triton"
        assert client.AppsV1Api(k8s).list_namespaced_deployment(namespace, label_selector=selector).items == []
    finally:
        try:
            core.delete_namespace(namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
