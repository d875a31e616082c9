"""The roles and playbooks end to end on the local control plane's simulated GPU nodes (inventories/simulated), plus
triton_verify against a local HTTP stand-in of Triton for the failures only a stand-in can produce.

Each test runs ansible-playbook from the repository root, as a user would, and asserts on the cluster (kubernetes
client) and on the node directories, not on the playbook's own output, except for the PLAY RECAP's counts.
The tests of the deploy sequence share one release (module-scoped) and run in file order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import local_inventory_args
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent / "roles"
GPU_NODES = ("gpu-node-0", "gpu-node-1")
# The roles apply the device plugin DaemonSet and label nodes: make test runs these beside no other such test.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PREPARED = "inference.triton/model-repository"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.seconds = seconds
        self.recap = {
            m[0]: {"ok": int(m[1]), "changed": int(m[2]), "failed": int(m[4])} for m in RECAP.findall(self.out)
        }

    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    def __repr__(self) -> str:
        return f"rc={self.rc} recap={self.recap}\n{self.out[-6000:]}"


class Playbooks:
    """ansible-playbook from the repository root against inventories/simulated, a per-module release and nodes dir."""

    def __init__(self, kubeconfig: str, namespace: str, nodes_dir: Path):
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.nodes_dir = nodes_dir

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            K8S_AUTH_KUBECONFIG=self.kubeconfig,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        env.pop("KUBECONFIG", None)
        return env

    def run(self, playbook: str, *args: str, inventory: str = "inventories/simulated", check: bool = False) -> Run:
        argv = [str(BIN / "ansible-playbook"), playbook, "-i", inventory]
        argv += ["-e", f"localcluster_nodes_dir={self.nodes_dir}", "-e", f"roles_test_namespace={self.namespace}"]
        argv += local_inventory_args(self.kubeconfig)
        if inventory == "inventories/simulated":
            argv += ["-e", f"triton_server_namespace={self.namespace}"]
        if check:
            argv += ["--check", "--diff"]
        argv += list(args)
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env(), cwd=REPO, check=False)
        return Run(proc, time.monotonic() - started)

    def model_dir(self, node: str) -> Path:
        return self.nodes_dir / node / "srv" / "triton" / "models"


@pytest.fixture(scope="module")
def playbooks(kube_cluster, k8s, tmp_path_factory):
    namespace = f"it-roles-{uuid.uuid4().hex[:6]}"
    nodes = tmp_path_factory.mktemp("nodes")
    yield Playbooks(kube_cluster.kubeconfig, namespace, nodes)
    core = client.CoreV1Api(k8s)
    for name in (namespace, f"{namespace}-a", f"{namespace}-b"):
        try:
            core.delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def release_objects(k8s, namespace: str) -> dict[str, str]:
    """resourceVersion of every object of the release (and its ReplicaSets) plus the device plugin's objects."""
    core, apps, policy = client.CoreV1Api(k8s), client.AppsV1Api(k8s), client.PolicyV1Api(k8s)
    selector = "app.kubernetes.io/managed-by=inference.triton"
    found = {}
    for kind, listing in (
        ("Deployment", apps.list_namespaced_deployment(namespace, label_selector=selector)),
        ("Service", core.list_namespaced_service(namespace, label_selector=selector)),
        ("PodDisruptionBudget", policy.list_namespaced_pod_disruption_budget(namespace, label_selector=selector)),
        ("ReplicaSet", apps.list_namespaced_replica_set(namespace)),
        ("DaemonSet", apps.list_namespaced_daemon_set("kube-system", label_selector=selector)),
        ("ConfigMap", core.list_namespaced_config_map("kube-system", label_selector=selector)),
    ):
        for item in listing.items:
            found[f"{kind}/{item.metadata.namespace}/{item.metadata.name}"] = item.metadata.resource_version
    return found


def tree_state(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """(uid, gid, mode, mtime_ns) of every entry under root."""
    entries = [root, *sorted(root.rglob("*"))]
    return {str(p): (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode), s.st_mtime_ns) for p in entries for s in [p.lstat()]}


def node_labels(k8s, name: str) -> dict[str, str]:
    return client.CoreV1Api(k8s).read_node(name).metadata.labels or {}


# The deploy sequence on inventories/simulated -------------------------------------------------------------------


def test_deploy_prepares_nodes_and_runs_triton_on_gpu_nodes(playbooks, k8s):
    run = playbooks.run("deploy.yml")
    assert run.rc == 0, run
    print(f"deploy.yml first run: {run.seconds:.1f}s")
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)

    deployment = apps.read_namespaced_deployment("triton", playbooks.namespace)
    conditions = {c.type: c.status for c in deployment.status.conditions}
    assert conditions["Available"] == "True"
    assert deployment.status.available_replicas == 2
    assert deployment.spec.template.spec.node_selector[PREPARED] == "ready"
    pods = core.list_namespaced_pod(playbooks.namespace, label_selector="app.kubernetes.io/instance=triton").items
    assert sorted(p.spec.node_name for p in pods) == sorted(GPU_NODES) or all(
        p.spec.node_name in GPU_NODES for p in pods
    )

    plugin = core.list_namespaced_pod("kube-system", label_selector="name=nvidia-device-plugin-ds").items
    assert sorted(p.spec.node_name for p in plugin) == sorted(GPU_NODES), "one plugin pod per GPU node, none elsewhere"
    for pod in plugin:
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True", pod.metadata.name

    for node in GPU_NODES:
        labels = node_labels(k8s, node)
        assert labels["nvidia.com/gpu.present"] == "true"
        assert labels[PREPARED] == "ready"
        root = playbooks.model_dir(node)
        assert (root / "identity" / "config.pbtxt").is_file()
        for path, (uid, gid, mode, _size) in tree_state(root).items():
            assert (uid, gid) == (1000, 1000), path
            assert mode == (0o755 if Path(path).is_dir() else 0o644), path
        # the parents were not given to uid 1000
        assert root.parent.stat().st_uid == os.geteuid()
    assert PREPARED not in node_labels(k8s, "cpu-node-0")
    assert "release: triton in namespace " + playbooks.namespace in run.out
    assert "Skip the HTTP checks on simulated nodes" in run.out


def test_second_deploy_changes_nothing(playbooks, k8s):
    before = release_objects(k8s, playbooks.namespace)
    files = {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES}
    run = playbooks.run("deploy.yml")
    assert run.rc == 0, run
    print(f"deploy.yml second run: {run.seconds:.1f}s")
    assert set(run.recap) == {"localcluster", *GPU_NODES}
    assert run.changed() == 0, run
    assert release_objects(k8s, playbooks.namespace) == before
    assert {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES} == files


def test_check_diff_reports_a_value_change_and_writes_nothing(playbooks, k8s):
    before = release_objects(k8s, playbooks.namespace)
    files = {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES}
    run = playbooks.run(
        "deploy.yml", "-e", "triton_server_replicas=3", "-e", "triton_server_image_tag=26.08-py3", check=True
    )
    assert run.rc == 0, run
    assert run.recap["localcluster"]["changed"] == 1, run
    assert sum(run.recap[node]["changed"] for node in GPU_NODES) == 0, run
    assert '+        "replicas": 3,' in run.out
    assert "tritonserver:26.08-py3" in run.out
    # the image tag is also the app.kubernetes.io/version label of every object of the release
    assert "would change: deployment updated, pdb updated, service updated" in run.out
    assert release_objects(k8s, playbooks.namespace) == before
    assert {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES} == files
    assert client.AppsV1Api(k8s).read_namespaced_deployment("triton", playbooks.namespace).spec.replicas == 2


def test_check_mode_on_a_fresh_namespace_and_nodes_writes_nothing(playbooks, k8s, tmp_path):
    fresh = f"{playbooks.namespace}-fresh"
    nodes = tmp_path / "nodes"
    run = playbooks.run(
        "deploy.yml", "-e", f"localcluster_nodes_dir={nodes}", "-e", f"triton_server_namespace={fresh}", check=True
    )
    assert run.rc == 0, run
    assert run.recap["localcluster"]["changed"] == 1, run  # the release would be created
    assert all(run.recap[node]["changed"] > 0 for node in GPU_NODES), run  # the directories would be created
    assert "namespace created" in run.out
    assert not nodes.exists()
    names = [ns.metadata.name for ns in client.CoreV1Api(k8s).list_namespace().items]
    assert fresh not in names


def test_values_file_reaches_the_release_in_check_mode(playbooks, k8s, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("image:\n  tag: '26.09'\nservice:\n  type: NodePort\n")
    before = release_objects(k8s, playbooks.namespace)
    args = ("--tags", "triton_server", "-e", f"triton_server_values_file={values}")
    run = playbooks.run("deploy.yml", *args, check=True)
    assert run.rc == 0, run
    # the chart's image.tag gets its -py3 suffix; nothing is written in check mode
    assert "tritonserver:26.09-py3" in run.out
    assert release_objects(k8s, playbooks.namespace) == before


def test_wrong_ownership_is_fixed_only_where_wrong(playbooks):
    root = playbooks.model_dir("gpu-node-0")
    wrong_file, wrong_dir = root / "identity" / "config.pbtxt", root / "add_sub" / "1"
    os.chown(wrong_file, 0, 0)
    os.chmod(wrong_dir, 0o700)
    untouched = root / "add_sub" / "config.pbtxt"
    before = untouched.stat().st_mtime_ns, untouched.stat().st_ctime_ns

    check = playbooks.run("deploy.yml", "--tags", "model_repository_permissions", "--limit", "gpu-node-0", check=True)
    assert check.rc == 0, check
    assert check.recap["gpu-node-0"]["changed"] == 1
    assert f"{wrong_file} 0:0 0644" in check.out and f"{wrong_dir} 1000:1000 0700" in check.out
    assert wrong_file.stat().st_uid == 0, "check mode wrote"

    run = playbooks.run("deploy.yml", "--tags", "model_repository_permissions", "--limit", "gpu-node-0")
    assert run.rc == 0, run
    assert run.recap["gpu-node-0"]["changed"] == 1
    assert (wrong_file.stat().st_uid, wrong_file.stat().st_gid) == (1000, 1000)
    assert stat.S_IMODE(wrong_dir.stat().st_mode) == 0o755
    assert (untouched.stat().st_mtime_ns, untouched.stat().st_ctime_ns) == before, "a right entry was touched"


def test_archive_source_with_other_modes_settles_in_one_run(playbooks, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(REPO / "playbooks" / "files" / "example-models", source)
    for path in [source, *source.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o020)  # group-writable in the archive
    archive = tmp_path / "models.tar.gz"
    subprocess.run(["tar", "-C", str(source), "-czf", str(archive), "."], check=True)
    args = ("--tags", "model_repository", "--limit", "gpu-node-0", "-e", f"model_repository_source={archive}")
    args += ("-e", f"localcluster_nodes_dir={tmp_path / 'nodes'}")
    first = playbooks.run("deploy.yml", *args)
    assert first.rc == 0, first
    second = playbooks.run("deploy.yml", *args)
    assert second.rc == 0, second
    assert second.changed() == 0, second  # unarchive and the fix-up do not undo each other
    root = tmp_path / "nodes" / "gpu-node-0" / "srv" / "triton" / "models"
    for path, (uid, gid, mode, _size) in tree_state(root).items():
        assert (uid, gid, mode) == (1000, 1000, 0o755 if Path(path).is_dir() else 0o644), path


def test_verify_playbook_is_read_only_and_skips_http_on_simulated_nodes(playbooks, k8s):
    before = release_objects(k8s, playbooks.namespace)
    run = playbooks.run("verify.yml")
    assert run.rc == 0, run
    assert run.changed() == 0, run
    assert "no Triton process runs" in run.out
    assert "rollout: complete: 2/2 updated" in run.out
    assert release_objects(k8s, playbooks.namespace) == before


def test_verify_playbook_reports_drift_as_a_change(playbooks, k8s):
    before = release_objects(k8s, playbooks.namespace)
    run = playbooks.run("verify.yml", "-e", "triton_server_replicas=1", "--diff")
    assert run.rc == 0, run
    assert run.recap["localcluster"]["changed"] == 1
    assert '-        "replicas": 2,' in run.out
    assert release_objects(k8s, playbooks.namespace) == before


def test_layout_problems_fail_naming_the_model(playbooks, tmp_path):
    source = tmp_path / "models"
    shutil.copytree(REPO / "playbooks" / "files" / "example-models", source)
    (source / "broken" / "v1").mkdir(parents=True)
    run = playbooks.run(
        "deploy.yml",
        "--tags",
        "model_repository",
        "--limit",
        "gpu-node-1",
        "-e",
        f"model_repository_source={source}",
        "-e",
        f"localcluster_nodes_dir={tmp_path / 'nodes'}",
    )
    assert run.rc != 0, run
    assert "broken: no config.pbtxt, no numeric version directory (such as 1/)" in run.out
    assert "identity:" not in run.out.split("does not have the layout")[-1]


def test_unknown_gpu_node_fails_before_anything_is_written(playbooks, k8s):
    run = playbooks.run(
        "deploy.yml",
        "--tags",
        "nvidia_device_plugin",
        "-e",
        '{"nvidia_device_plugin_nodes": ["gpu-node-0", "no-such-gpu-node"]}',
    )
    assert run.rc != 0, run
    assert "no Kubernetes Node named no-such-gpu-node" in run.out
    names = [n.metadata.name for n in client.CoreV1Api(k8s).list_node().items]
    assert "no-such-gpu-node" not in names


def test_gpu_node_without_allocatable_gpus_is_named_with_causes(playbooks):
    # cpu-node-0 stands for a GPU node whose driver or toolkit is broken: it advertises no nvidia.com/gpu.
    run = playbooks.run(
        "deploy.yml",
        "--tags",
        "nvidia_device_plugin",
        "-e",
        '{"nvidia_device_plugin_nodes": ["gpu-node-0", "cpu-node-0"], "nvidia_device_plugin_label_nodes": false}',
    )
    assert run.rc != 0, run
    assert "1 GPU node(s) advertise no allocatable nvidia.com/gpu" in run.out
    assert "cpu-node-0 (capacity 0, Ready)" in run.out
    assert "gpu-node-0 (" not in run.out
    assert (
        "NVIDIA driver" in run.out
        and "Container Toolkit" in run.out
        and "RuntimeClass" in run.out.replace("runtime_class_name", "RuntimeClass")
    )


def test_undeploy_removes_the_release_and_keeps_model_data(playbooks, k8s):
    files = {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES}
    run = playbooks.run("undeploy.yml")
    assert run.rc == 0, run
    assert run.recap["localcluster"]["changed"] >= 1
    core, apps, policy = client.CoreV1Api(k8s), client.AppsV1Api(k8s), client.PolicyV1Api(k8s)
    selector = "app.kubernetes.io/instance=triton"
    assert apps.list_namespaced_deployment(playbooks.namespace, label_selector=selector).items == []
    assert core.list_namespaced_service(playbooks.namespace, label_selector=selector).items == []
    assert policy.list_namespaced_pod_disruption_budget(playbooks.namespace, label_selector=selector).items == []
    assert core.list_namespaced_pod(playbooks.namespace, label_selector=selector).items == []
    assert {node: tree_state(playbooks.model_dir(node)) for node in GPU_NODES} == files
    # the device plugin stays unless asked
    assert client.AppsV1Api(k8s).read_namespaced_daemon_set("nvidia-device-plugin-daemonset", "kube-system")

    again = playbooks.run("undeploy.yml")
    assert again.rc == 0, again
    assert again.changed() == 0, again


def test_several_clusters_from_one_inventory(playbooks, k8s):
    inventory = str(HERE / "two_clusters" / "hosts.yml")
    run = playbooks.run("deploy.yml", inventory=inventory)
    assert run.rc == 0, run
    assert set(run.recap) == {"cluster-a", "cluster-b", *GPU_NODES}
    apps = client.AppsV1Api(k8s)
    for suffix in ("a", "b"):
        deployment = apps.read_namespaced_deployment("triton", f"{playbooks.namespace}-{suffix}")
        assert deployment.status.available_replicas == 1
    # each GPU node's label task went to its own cluster host
    assert "[gpu-node-0 -> cluster-a]" in run.out and "[gpu-node-1 -> cluster-b]" in run.out
    again = playbooks.run("deploy.yml", inventory=inventory)
    assert again.rc == 0 and again.changed() == 0, again
    removed = playbooks.run("undeploy.yml", inventory=inventory)
    assert removed.rc == 0, removed


# triton_verify against the stand-in -----------------------------------------------------------------------------


@pytest.fixture
def standin():
    """Start the stand-in with the given models; yields a function returning its base URL."""
    procs = []

    def start(*models: str) -> str:
        argv = [sys.executable, str(HERE / "triton_standin.py")] + [f"--model={m}" for m in models]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def run_verify(playbooks: Playbooks, *extra: str) -> Run:
    return playbooks.run(str(HERE / "verify_standin.yml"), *extra, inventory="localhost,")


def test_verify_role_passes_against_a_serving_triton(playbooks, standin):
    url = standin("identity", "add_sub")
    run = run_verify(
        playbooks, "-e", f"triton_verify_base_url={url}", "-e", '{"triton_verify_expected_models": ["identity"]}'
    )
    assert run.rc == 0, run
    assert f"Triton 2.60.0 at {url}: live, ready, 2 model(s) READY (identity, add_sub)" in run.out


def test_verify_role_fails_naming_a_model_that_is_not_ready(playbooks, standin):
    url = standin("identity", "add_sub=UNAVAILABLE:failed to load 'add_sub': model.py missing")
    run = run_verify(
        playbooks,
        "-e",
        f"triton_verify_base_url={url}",
        "-e",
        "triton_verify_ready_timeout=2",
        "-e",
        "triton_verify_retry_delay=1",
    )
    assert run.rc != 0, run
    assert "add_sub version 1 is UNAVAILABLE: failed to load 'add_sub': model.py missing" in run.out
    assert "identity version" not in run.out


def test_verify_role_fails_on_an_expected_model_missing_from_the_index(playbooks, standin):
    url = standin("identity")
    run = run_verify(
        playbooks,
        "-e",
        f"triton_verify_base_url={url}",
        "-e",
        '{"triton_verify_expected_models": ["identity", "resnet50"], "triton_verify_ready_timeout": 1}',
    )
    assert run.rc != 0, run
    assert "resnet50 (not in the repository index)" in run.out


def test_verify_role_fails_when_metrics_are_not_tritons(playbooks, standin):
    url = standin("identity")
    run = run_verify(playbooks, "-e", f"triton_verify_base_url={url}", "-e", f"triton_verify_metrics_url={url}/v2")
    assert run.rc != 0, run
    assert "not with Triton's Prometheus metrics" in run.out


# triton_verify against the real Triton of the real node (inventories/local) -------------------------------------


def test_verify_role_names_the_output_a_real_triton_gets_wrong(playbooks):
    """The inference check compares the real server's answer: a wrong expectation fails naming the output."""
    namespace = f"{playbooks.namespace}-a"
    wrong = {
        "model": "add_sub",
        "inputs": [
            {"name": "INPUT0", "datatype": "FP32", "shape": [4], "data": [1, 2, 3, 4]},
            {"name": "INPUT1", "datatype": "FP32", "shape": [4], "data": [3, 4, 5, 6]},
        ],
        "expected_outputs": {"OUTPUT0": [4, 6, 8, 10], "OUTPUT1": [0, 0, 0, 0]},
    }
    args = ("-e", f"triton_server_namespace={namespace}", "-e", "triton_server_replicas=1")
    run = playbooks.run(
        "deploy.yml", *args, "-e", json.dumps({"triton_verify_inference": wrong}), inventory="inventories/local"
    )
    assert run.rc != 0, run
    answer = "add_sub(INPUT0=[1, 2, 3, 4], INPUT1=[3, 4, 5, 6]) -> OUTPUT0=[4.0, 6.0, 8.0, 10.0], OUTPUT1=[-2.0, "
    assert f"triton_verify: {answer}-2.0, -2.0, -2.0]; expected OUTPUT1=[0, 0, 0, 0]." in run.out, run
    # a request the model refuses fails with Triton's own reason
    inputs = wrong["inputs"][:1]
    refused = playbooks.run(
        "verify.yml", *args, "-e", json.dumps({"triton_verify_inference": {"model": "add_sub", "inputs": inputs}}),
        inventory="inventories/local",
    )  # fmt: skip
    assert refused.rc != 0, refused
    assert "add_sub at http://198.18.0.1:" in refused.out and "answered 400" in refused.out, refused
    assert "INPUT1" in refused.out, refused
    undeploy = playbooks.run("undeploy.yml", *args, inventory="inventories/local")
    assert undeploy.rc == 0, undeploy
