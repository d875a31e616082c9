"""Which API server the playbooks talk to: inventories/local and inventories/simulated reach the local cluster or
refuse to run, and a cluster host without k8s_auth stops the run before anything is written.

The other API server is real: FaultProxy, an HTTPS proxy on another 127.0.0.1 port with a certificate of its own
CA, which forwards every request to the local cluster (so a run through it would deploy). Each refusal is shown by
the reason in the output, by the proxy having seen no request, and by the release's namespace and node folders not
existing afterwards.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, local_inventory_args
from faultproxy import FaultProxy
from kubernetes import client

from tools.localcluster.pytest_fixture import api_answers

BIN = Path(sys.executable).parent


def run_playbook(playbook: str, inventory: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    argv = [str(BIN / "ansible-playbook"), playbook, "-i", inventory, *args]
    full_env = dict(os.environ)
    full_env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    for var in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG"):
        full_env.pop(var, None)
    full_env.update(env or {})
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=REPO, check=False, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def namespace_exists(k8s, name: str) -> bool:
    try:
        client.CoreV1Api(k8s).read_namespace(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def kubeconfig_with(real: str, target: Path, server: str | None = None, ca_pem: bytes | None = None) -> str:
    """A copy of ``real`` (same credentials) with another server URL and/or another trusted CA."""
    config = yaml.safe_load(Path(real).read_text())
    for entry in config["clusters"]:
        if server:
            entry["cluster"]["server"] = server
        if ca_pem:
            entry["cluster"].pop("certificate-authority", None)
            entry["cluster"]["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return str(target)


def local_ca(kube_cluster) -> bytes:
    config = yaml.safe_load(Path(kube_cluster.kubeconfig).read_text())
    return base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])


@pytest.fixture
def proxy(kube_cluster, tmp_path):
    with FaultProxy(kube_cluster.kubeconfig, tmp_path) as running:
        yield running


@pytest.fixture
def release(k8s, tmp_path):
    """A namespace name and a node folder that a run which writes anything would create."""
    namespace = f"it-access-{uuid.uuid4().hex[:6]}"
    yield namespace, tmp_path / "nodes"
    if namespace_exists(k8s, namespace):
        client.CoreV1Api(k8s).delete_namespace(namespace)


def release_args(namespace: str, nodes: Path) -> list[str]:
    return ["-e", f"triton_server_namespace={namespace}", "-e", f"localcluster_nodes_dir={nodes}"]


def assert_nothing_written(k8s, namespace: str, nodes: Path, proxy: FaultProxy | None = None) -> None:
    assert not namespace_exists(k8s, namespace)
    assert not nodes.exists(), sorted(nodes.rglob("*"))
    if proxy is not None:
        assert proxy.state.log == [], proxy.state.log


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/simulated"])
def test_local_inventory_refuses_a_kubeconfig_of_another_api_server(inventory, kube_cluster, k8s, proxy, release):
    namespace, nodes = release
    rc, out = run_playbook(
        "deploy.yml", inventory, *release_args(namespace, nodes), "-e", f"localcluster_kubeconfig={proxy.kubeconfig}"
    )
    assert rc != 0, out[-4000:]
    assert "localcluster: refusing to run, nothing was written: not the expected API server" in out, out[-4000:]
    assert f"kubeconfig {proxy.kubeconfig}" in out, out[-4000:]
    assert "the connection options trust another CA than the expected one" in out, out[-4000:]
    assert f"(API server {proxy.server})" in out, out[-4000:]
    assert_nothing_written(k8s, namespace, nodes, proxy)
    # The refused kubeconfig works: through it, the same run would have deployed.
    assert api_answers(proxy.kubeconfig)
    assert proxy.state.log


def test_local_inventory_refuses_the_local_server_trusted_through_another_ca(
    kube_cluster, k8s, proxy, tmp_path, release
):
    namespace, nodes = release
    other_ca = (tmp_path / "proxy.crt").read_bytes()  # the proxy's own self-signed certificate
    config = kubeconfig_with(kube_cluster.kubeconfig, tmp_path / "other-ca.kubeconfig", ca_pem=other_ca)
    rc, out = run_playbook(
        "deploy.yml", "inventories/local", *release_args(namespace, nodes), "-e", f"localcluster_kubeconfig={config}"
    )
    assert rc != 0, out[-4000:]
    assert "refusing to run, nothing was written" in out, out[-4000:]
    assert "the connection options trust another CA than the expected one" in out, out[-4000:]
    assert_nothing_written(k8s, namespace, nodes)


def test_local_inventory_refuses_another_server_that_the_kubeconfig_would_trust(
    kube_cluster, k8s, proxy, tmp_path, release
):
    """The kubeconfig trusts the local CA (so the CA comparison passes), but the server on that address is another
    one: the TLS handshake against the local CA fails, and the reason says so."""
    namespace, nodes = release
    config = kubeconfig_with(
        kube_cluster.kubeconfig, tmp_path / "moved.kubeconfig", server=proxy.server, ca_pem=local_ca(kube_cluster)
    )
    rc, out = run_playbook(
        "deploy.yml", "inventories/local", *release_args(namespace, nodes), "-e", f"localcluster_kubeconfig={config}"
    )
    assert rc != 0, out[-4000:]
    port = proxy.server.rsplit(":", 1)[1]
    assert f"the server at 127.0.0.1:{port} presents a certificate that the expected CA did not issue" in out, out[
        -4000:
    ]
    assert "it is another API server" in out, out[-4000:]
    assert_nothing_written(k8s, namespace, nodes, proxy)


def test_local_inventory_refuses_an_api_server_set_in_the_environment(kube_cluster, k8s, proxy, release):
    """K8S_AUTH_HOST would send the modules elsewhere with the local kubeconfig's credentials: refused too."""
    namespace, nodes = release
    rc, out = run_playbook(
        "undeploy.yml",
        "inventories/simulated",
        *release_args(namespace, nodes),
        *local_inventory_args(kube_cluster.kubeconfig),
        env={"K8S_AUTH_HOST": proxy.server},
    )
    assert rc != 0, out[-4000:]
    assert f"host {proxy.server}" in out and "presents a certificate that the expected CA did not issue" in out, out[
        -4000:
    ]
    assert_nothing_written(k8s, namespace, nodes, proxy)


def test_local_inventory_ignores_the_kubeconfig_of_the_environment(kube_cluster, k8s, proxy, release):
    """KUBECONFIG and K8S_AUTH_KUBECONFIG naming another API server change nothing: the run talks to the local
    cluster only (a check-mode run of the triton_server role, which reads the cluster), and the proxy sees nothing."""
    namespace, nodes = release
    args = [*release_args(namespace, nodes), "--tags", "triton_server", "--check"]
    if os.environ.get("LOCALCLUSTER_STATE_DIR"):
        args += ["-e", f"localcluster_state_dir={os.environ['LOCALCLUSTER_STATE_DIR']}"]
    rc, out = run_playbook(
        "deploy.yml",
        "inventories/simulated",
        *args,
        env={"KUBECONFIG": proxy.kubeconfig, "K8S_AUTH_KUBECONFIG": proxy.kubeconfig},
    )
    assert rc == 0, out[-4000:]
    assert re.search(r"^localcluster\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", out, re.M), out[-4000:]
    assert "refusing to run" not in out, out[-4000:]
    assert_nothing_written(k8s, namespace, nodes, proxy)


# A cluster host without k8s_auth -----------------------------------------------------------------------------


def write_inventory(root: Path, host_vars: dict[str, str], gpu_node_cluster: str = "prod-east") -> Path:
    """An inventory shaped like inventories/gpu with one cluster host, prod-east, and one GPU node on this machine."""
    inv = root / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "host_vars").mkdir()
    (inv / "hosts.yml").write_text(
        textwrap.dedent(
            f"""\
            all:
              children:
                k8s_clusters:
                  hosts:
                    prod-east:
                gpu_nodes:
                  hosts:
                    gpu-node-0:
                      k8s_cluster: {gpu_node_cluster}
            """
        )
    )
    (inv / "group_vars" / "all.yml").write_text(
        textwrap.dedent(
            f"""\
            ansible_connection: local
            ansible_python_interpreter: {sys.executable}
            model_repository_path: /srv/triton/models
            model_repository_host_root: {root}/nodes/gpu-node-0
            triton_server_use_cpu: true
            triton_server_create_namespace: true
            triton_server_model_repository_path: /srv/triton/models
            triton_server_service_node_port_http: 0
            triton_server_service_node_port_grpc: 0
            triton_server_service_node_port_metrics: 0
            """
        )
    )
    for name, text in host_vars.items():
        (inv / "host_vars" / name).write_text(text)
    return inv


def test_a_cluster_host_whose_host_vars_file_name_does_not_match_fails_before_any_write(
    kube_cluster, k8s, release, tmp_path
):
    namespace, _nodes = release
    auth = f"k8s_auth:\n  kubeconfig: {kube_cluster.kubeconfig}\n"
    inv = write_inventory(tmp_path, {"prod_east.yml": auth})  # the host is prod-east
    rc, out = run_playbook("deploy.yml", str(inv), "-e", f"triton_server_namespace={namespace}")
    assert rc != 0, out[-4000:]
    assert "k8s_auth: cluster host prod-east has no k8s_auth" in out, out[-4000:]
    assert f"Set it in {inv}/host_vars/prod-east.yml" in out, out[-4000:]
    assert f"or in {inv}/group_vars/k8s_clusters.yml" in out, out[-4000:]
    assert "Its host_vars folder holds prod_east.yml, named after no host of the inventory" in out, out[-4000:]
    assert "write `k8s_auth: {}`" in out, out[-4000:]
    # any_errors_fatal: the GPU node's play never ran either
    assert "PLAY [Prepare the model repositories" not in out, out[-4000:]
    assert_nothing_written(k8s, namespace, tmp_path / "nodes")


def test_a_gpu_node_naming_no_cluster_host_fails_before_any_write(kube_cluster, k8s, release, tmp_path):
    namespace, _nodes = release
    auth = f"k8s_auth:\n  kubeconfig: {kube_cluster.kubeconfig}\n"
    inv = write_inventory(tmp_path, {"prod-east.yml": auth}, gpu_node_cluster="prod-west")
    rc, out = run_playbook("deploy.yml", str(inv), "-e", f"triton_server_namespace={namespace}")
    assert rc != 0, out[-4000:]
    assert (
        "GPU node gpu-node-0: k8s_cluster is prod-west, which is not a host of the k8s_clusters group (prod-east)"
        in (" ".join(out.split()))
    ), out[-4000:]
    assert_nothing_written(k8s, namespace, tmp_path / "nodes")


def test_k8s_auth_written_empty_uses_the_current_context_on_purpose(kube_cluster, k8s, release, tmp_path):
    """`k8s_auth: {}` is the explicit spelling of "my kubeconfig's current context": the run goes on with
    KUBECONFIG (a check-mode run of the triton_server role, which reads the cluster through it)."""
    namespace, _nodes = release
    inv = write_inventory(tmp_path, {"prod-east.yml": "k8s_auth: {}\n"})
    rc, out = run_playbook(
        "deploy.yml",
        str(inv),
        "-e",
        f"triton_server_namespace={namespace}",
        "--tags",
        "triton_server",
        "--check",
        env={"KUBECONFIG": kube_cluster.kubeconfig},
    )
    assert rc == 0, out[-4000:]
    assert "cluster host prod-east has no k8s_auth" not in out, out[-4000:]
    # the release task talked to the cluster (a dry run of a new release: changed, in the namespace it would create)
    assert re.search(
        r"TASK \[inference.triton.triton_server : release \| Apply the Triton release\][^\n]*\nchanged: \[prod-east\]",
        out,
    ), out[-4000:]
    assert_nothing_written(k8s, namespace, tmp_path / "nodes")
