"""The real node: its configuration (pure), the running node of the session's cluster, and its whole lifecycle.

The lifecycle test (marker ``lifecycle``) starts a cluster of its own with a real node, runs a pod that serves,
stops the cluster and checks that nothing of it is left on the machine. One real node runs per machine, so it
runs before the session's cluster starts (``make test`` does so) and is skipped while another real node runs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tools.localcluster import _certs, _components, _images, _realnode, _state
from tools.localcluster.pytest_fixture import CLI, KubeCluster, wait_for

T = TypeVar("T")
BLOCK = ipaddress.ip_network(_realnode.BLOCK)
TOLERATION = {"key": _realnode.NODE_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a real node needs root")


def paths(tmp_path: Path) -> _realnode.Paths:
    return _realnode.Paths(_state.Layout(tmp_path / "state"))


# --- configuration (pure) ----------------------------------------------------------------------------------


def test_every_address_is_in_the_benchmarking_block() -> None:
    for text in (
        _realnode.NODE_IP,
        _realnode.POD_SUBNET,
        _realnode.POD_GATEWAY,
        _realnode.CLUSTER_CIDR,
        _components.POD_CIDR,
        _certs.SERVICE_CIDR,
        _certs.KUBERNETES_SERVICE_IP,
    ):
        # inside RFC 2544's benchmarking block, which lies outside every private (RFC 1918) range
        assert ipaddress.ip_network(text, strict=False).subnet_of(BLOCK), text


def test_pod_subnets_do_not_overlap() -> None:
    real = ipaddress.ip_network(_realnode.POD_SUBNET)
    simulated = ipaddress.ip_network(_components.POD_CIDR)
    services = ipaddress.ip_network(_certs.SERVICE_CIDR)
    assert not real.overlaps(simulated) and not real.overlaps(services) and not simulated.overlaps(services)
    assert ipaddress.ip_address(_realnode.NODE_IP) not in real


def test_names_and_folders_derive_from_the_state_folder(tmp_path: Path) -> None:
    one, other = paths(tmp_path), _realnode.Paths(_state.Layout(tmp_path / "other"))
    assert one.digest != other.digest
    for name in (one.bridge, one.veth, one.veth_peer):
        assert len(name) <= 15 and one.digest in name  # Linux interface names
    assert len(str(one.socket)) < 100  # unix socket paths are limited to 108 bytes
    assert one.containerd_root.is_relative_to(one.layout.root) and one.kubelet_root.is_relative_to(one.layout.root)


def test_a_state_folder_too_deep_for_the_kubelets_sockets_is_refused() -> None:
    from tools.localcluster._errors import LocalClusterError

    shallow = _realnode.Paths(_state.Layout(Path("/tmp/lc-x/cluster")))
    _realnode.check_socket_paths(shallow)
    deep_folder = Path("/tmp/pytest-of-root/pytest-170/test_up_runs_a_real_node_and_d0/cluster")
    deep = _realnode.Paths(_state.Layout(deep_folder))
    with pytest.raises(LocalClusterError, match=r"too deep for a real node: .* is 83 characters, at most 70"):
        _realnode.check_socket_paths(deep)


def test_only_running_kubelets_and_kube_proxies_count_as_another_node(tmp_path: Path) -> None:
    for pid, name in ((300, "kube-proxy"), (12, "kubelet"), (40, "containerd"), (41, "kubeletx")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(name + "\n")
    (tmp_path / "self").mkdir()
    (tmp_path / "77").mkdir()  # a process that ended while the folder was read: no comm file
    assert _realnode.running_node_components(tmp_path) == ["kubelet (pid 12)", "kube-proxy (pid 300)"]


def test_a_node_link_is_stale_only_when_no_node_runs() -> None:
    assert _realnode.stale_node_link("lc253d6bd4n", []) == "253d6bd4"
    assert _realnode.stale_node_link("lc253d6bd4n", ["kubelet (pid 12)"]) == ""
    for foreign in ("eth0", "lc253d6bd4br", "lc253d6bd4p", "xlc253d6bd4n"):
        assert _realnode.stale_node_link(foreign, []) == ""


def test_a_killed_nodes_pods_and_shims_are_found_by_its_cgroup_and_socket(tmp_path: Path) -> None:
    p = paths(tmp_path)
    cgroups, proc = tmp_path / "cgroup", tmp_path / "proc"
    pod = cgroups / "pids" / p.cgroup_root.lstrip("/") / "kubepods" / "pod1" / "c1"
    pod.mkdir(parents=True)
    (pod / "cgroup.procs").write_text("41\n42\n")
    other = cgroups / "pids" / "user.slice"
    other.mkdir(parents=True)
    (other / "cgroup.procs").write_text("7\n")
    shim = ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "c1", "-address"]
    for pid, argv in (
        (40, [*shim, str(p.socket)]),
        (50, [*shim, "/run/containerd/containerd.sock"]),  # another containerd's shim
        (60, ["/usr/bin/containerd", "--address", str(p.socket)]),  # not a shim
    ):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    assert _realnode.leftover_processes(p, cgroups, proc) == [40, 41, 42]


def test_the_machines_values_from_before_survive_a_killed_node(tmp_path: Path) -> None:
    record = tmp_path / "host.json"
    first = _realnode.record_host(paths(tmp_path), record)
    assert set(first["sysctls"]) == set(_realnode.SYSCTLS) and json.loads(record.read_text()) == first
    # the node was killed: its record stays, and the next node keeps the values from before it
    left = {"sysctls": {"net/ipv4/ip_forward": "0"}, "created_dirs": ["/var/lib/cni"]}
    record.write_text(json.dumps(left))
    assert _realnode.record_host(paths(tmp_path), record) == left
    _realnode.restore_host(paths(tmp_path), {}, [], record)
    assert not record.exists()


def test_containerd_config_keeps_to_its_own_folders(tmp_path: Path) -> None:
    p = paths(tmp_path)
    text = _realnode.containerd_config(p, 12345, _images.PAUSE_IMAGE)
    assert f'root = "{p.containerd_root}"' in text and f'state = "{p.containerd_state}"' in text
    assert f'address = "{p.socket}"' in text and 'address = "127.0.0.1:12345"' in text
    assert "restrict_oom_score_adj = true" in text  # no CAP_SYS_RESOURCE: sandboxes fail without it
    assert "netns_mounts_under_state_dir = true" in text
    assert f'sandbox_image = "{_images.PAUSE_IMAGE}"' in text
    assert "io.containerd.internal.v1.opt" in text  # would install into /opt


def test_kubelet_config_authenticates_and_allows_cgroup_v1(tmp_path: Path) -> None:
    p = paths(tmp_path)
    ports = {"kubelet": 1, "kubelet-healthz": 2, "kube-proxy-healthz": 3, "kube-proxy-metrics": 4}
    config = _realnode.kubelet_config(p, ports, tmp_path / "pki")
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs"
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["webhook"]["enabled"] is True
    assert config["authorization"]["mode"] == "Webhook"
    assert config["readOnlyPort"] == 0 and config["healthzBindAddress"] == "127.0.0.1"
    assert config["registerWithTaints"] == [_realnode.NODE_TAINT]
    assert config["containerRuntimeEndpoint"] == f"unix://{p.socket}"
    proxy = _realnode.kube_proxy_config(p, ports)
    assert proxy["nodePortAddresses"] == ["127.0.0.0/8", f"{_realnode.NODE_IP}/32"]
    assert proxy["conntrack"]["maxPerCore"] == 0


def test_cni_network_does_not_masquerade(tmp_path: Path) -> None:
    bridge = _realnode.cni_conflist(paths(tmp_path))["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": _realnode.POD_SUBNET, "gateway": _realnode.POD_GATEWAY}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))


def test_containerd_pulls_through_a_closed_local_port(tmp_path: Path) -> None:
    spec = _realnode.specs(paths(tmp_path), _state.Layout(tmp_path), dict.fromkeys(_realnode.PORT_NAMES, 1), tmp_path)
    env = spec[0].env
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://127.0.0.1:9"


# --- the session's real node -------------------------------------------------------------------------------

integration = pytest.mark.integration


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[Any]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kube_cluster.kubeconfig)
    with api_client:
        try:
            client.CoreV1Api(api_client).read_node(_realnode.NODE_NAME)
        except client.exceptions.ApiException:
            pytest.skip("the cluster has no real node (not root, or started with --real-nodes 0)")
        yield api_client


@pytest.fixture
def namespace(api: Any) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = f"lc-real-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(f"serviceaccount {name}/default", lambda: core.list_namespaced_service_account(name).items, 60)
    yield name
    core.delete_namespace(name)


def http_server_pod(name: str, port: int = 8080) -> dict[str, Any]:
    """A pod on the real node that serves HTTP with the Triton image's Python, as uid 1000."""
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"type": "real"},
            "tolerations": [TOLERATION],
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True},
            "containers": [
                {
                    "name": "main",
                    "image": _images.TRITON_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-m", "http.server", str(port), "--directory", "/etc"],
                    "ports": [{"containerPort": port}],
                    "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
                }
            ],
        },
    }


def http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.read() or b"(empty)"
    except OSError:
        return None


def pod_ready(core: Any, namespace: str, name: str) -> Any:
    pod = core.read_namespaced_pod(name, namespace)
    conditions = {c.type: c.status for c in pod.status.conditions or []}
    return pod if conditions.get("Ready") == "True" else None


@integration
def test_real_node_is_a_ready_gpu_node_of_its_own(api: Any) -> None:
    from kubernetes import client

    node = client.CoreV1Api(api).read_node(_realnode.NODE_NAME)
    assert node.status.node_info.kubelet_version == "v1.35.4"
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert {a.address for a in node.status.addresses if a.type == "InternalIP"} == {_realnode.NODE_IP}
    assert node.status.allocatable["nvidia.com/gpu"] == str(_realnode.GPUS)
    assert node.metadata.labels["nvidia.com/gpu.present"] == "true"
    assert node.metadata.labels["nvidia.com/gpu.deploy.device-plugin"] == "false"
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    assert [(t.key, t.effect) for t in node.spec.taints or []] == [(TOLERATION["key"], "NoSchedule")]


@integration
def test_pods_run_talk_to_each_other_and_answer_on_a_node_port(api: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, http_server_pod("server"))
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "server"},
            "spec": {"type": "NodePort", "selector": {"app": "server"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    server = wait_for("pod server Ready", lambda: pod_ready(core, namespace, "server"))
    pod_ip = ipaddress.ip_address(server.status.pod_ip)
    assert pod_ip in ipaddress.ip_network(_realnode.POD_SUBNET)
    node_port = core.read_namespaced_service("server", namespace).spec.ports[0].node_port
    # kube-proxy programs the nodePort within a second or so of the endpoint becoming ready
    assert wait_for(f"127.0.0.1:{node_port} to answer", lambda: http_get(f"http://127.0.0.1:{node_port}/hostname"), 30)
    # pod to pod, and pod to Service ClusterIP
    cluster_ip = core.read_namespaced_service("server", namespace).spec.cluster_ip
    client_pod = http_server_pod("client")
    fetch = (
        "import sys, urllib.request as u; "
        "[u.urlopen(url, timeout=5).read() for url in sys.argv[1:]]; print('fetched', len(sys.argv) - 1)"
    )
    client_pod["spec"]["containers"][0]["command"] = [
        "python3", "-c", fetch, f"http://{pod_ip}:8080/hostname", f"http://{cluster_ip}/hostname",
    ]  # fmt: skip
    client_pod["spec"]["containers"][0].pop("readinessProbe")
    client_pod["spec"]["restartPolicy"] = "Never"
    core.create_namespaced_pod(namespace, client_pod)

    def finished() -> str:
        phase = core.read_namespaced_pod("client", namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else ""

    assert wait_for("pod client to finish", finished) == "Succeeded", core.read_namespaced_pod_log("client", namespace)
    assert core.read_namespaced_pod_log("client", namespace).strip() == "fetched 2"


@integration
def test_images_are_never_pulled(api: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)
    pod = http_server_pod("remote")
    pod["spec"]["containers"][0].update(image="registry.invalid/nothing:1", imagePullPolicy="Always")
    core.create_namespaced_pod(namespace, pod)

    def pull_error() -> str:
        statuses = core.read_namespaced_pod("remote", namespace).status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.message if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff") else ""

    message = wait_for("the pull to fail", pull_error, 60)
    assert "127.0.0.1:9" in message and "connection refused" in message


@integration
def test_the_node_identity_is_restricted_to_its_own_node(api: Any, kube_cluster: KubeCluster) -> None:
    """The kubelet's credentials are a node's (Node authorizer + NodeRestriction), not an admin's."""
    from kubernetes import client, config

    kubeconfig = Path(kube_cluster.kubeconfig).parent / "node" / "kubelet.kubeconfig"
    with config.new_client_from_config(config_file=str(kubeconfig)) as node_client:
        core = client.CoreV1Api(node_client)
        assert core.read_node(_realnode.NODE_NAME).metadata.name == _realnode.NODE_NAME
        with pytest.raises(client.exceptions.ApiException) as err:
            core.patch_node("gpu-node-0", {"metadata": {"labels": {"stolen": "yes"}}})
        assert err.value.status == 403
        with pytest.raises(client.exceptions.ApiException) as err:
            core.list_secret_for_all_namespaces()
        assert err.value.status == 403


# --- lifecycle: a cluster of its own, up and down, nothing left ----------------------------------------------

lifecycle = pytest.mark.lifecycle


def host_snapshot() -> dict[str, Any]:
    """What a real node could leave behind, read from the machine."""
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return {
        "links": sorted(p.name for p in Path("/sys/class/net").iterdir()),
        "routes": subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout,
        "iptables": sorted(line for line in rules.splitlines() if line.startswith(("-A", ":", "*"))),
        "mounts": sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()),
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/localcluster-*")),
        "run": sorted(str(p) for p in Path("/run").glob("localcluster-*")),
        "sysctls": {name: _realnode.read_sysctl(name) for name in _realnode.SYSCTLS},
        "processes": sorted(
            " ".join(_cmd(pid)[:1])
            for pid in os.listdir("/proc")
            if pid.isdigit() and any(word in " ".join(_cmd(pid)) for word in ("kubelet", "containerd", "kube-proxy"))
        ),
    }


def _cmd(pid: str) -> list[str]:
    try:
        return [p.decode() for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if p]
    except OSError:
        return []


def run_cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@lifecycle
@needs_root
def test_up_runs_a_real_node_and_down_leaves_nothing_behind() -> None:
    from kubernetes import client, config

    if _realnode._address_holder(_realnode.NODE_IP):
        pytest.skip(f"another cluster's real node holds {_realnode.NODE_IP}: this test needs the machine to itself")
    before = host_snapshot()
    # Not pytest's tmp_path: its depth grows with the run counter, and the kubelet's sockets need a short folder.
    short = Path(tempfile.mkdtemp(prefix="lc-", dir="/tmp"))
    state = short / "cluster"
    up = run_cli("up", "--state-dir", str(state), "--gpu-nodes", "1", "--cpu-nodes", "0")
    try:
        assert up.returncode == 0, up.stderr
        assert "real node real-node-0 Ready" in up.stderr
        again = run_cli("up", "--state-dir", str(state))
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        status = run_cli("status", "--state-dir", str(state))
        assert status.returncode == 0 and "real node: real-node-0 Ready" in status.stdout, status.stdout
        with config.new_client_from_config(config_file=str(state / "kubeconfig")) as api_client:
            core = client.CoreV1Api(api_client)
            wait_for("serviceaccount default/default", lambda: core.list_namespaced_service_account("default").items)
            core.create_namespaced_pod("default", http_server_pod("server"))
            wait_for("pod server Ready", lambda: pod_ready(core, "default", "server"))
        during = host_snapshot()
        assert any(p.endswith("/kubelet") for p in during["processes"])
        assert during["links"] != before["links"] and during["iptables"] != before["iptables"]
    finally:
        down = run_cli("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    after = host_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} differs after down:\n{json.dumps(after[key], indent=1)[:3000]}"
    assert not state.exists()
    short.rmdir()


@lifecycle
@needs_root
def test_a_killed_real_node_neither_blocks_the_next_nor_is_broken_by_its_own_down() -> None:
    """A cluster whose processes were all killed (its session ended) leaves chains, a link and its address behind:
    the next `up` takes them over, and the killed cluster's `down` then stops the pod it left and leaves the running
    node alone."""
    from kubernetes import client, config

    if _realnode._address_holder(_realnode.NODE_IP):
        pytest.skip(f"another cluster's real node holds {_realnode.NODE_IP}: this test needs the machine to itself")
    before = host_snapshot()
    short = Path(tempfile.mkdtemp(prefix="lc-", dir="/tmp"))
    killed, fresh = short / "killed", short / "fresh"
    try:
        up = run_cli("up", "--state-dir", str(killed), "--gpu-nodes", "1", "--cpu-nodes", "0")
        assert up.returncode == 0, up.stderr
        with config.new_client_from_config(config_file=str(killed / "kubeconfig")) as api_client:
            core = client.CoreV1Api(api_client)
            wait_for("serviceaccount default/default", lambda: core.list_namespaced_service_account("default").items)
            core.create_namespaced_pod("default", http_server_pod("server"))
            wait_for("pod server Ready", lambda: pod_ready(core, "default", "server"))
        for comp in json.loads((killed / "state.json").read_text())["components"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(comp["pid"], signal.SIGKILL)
        wait_for("the killed node's processes gone", lambda: not _realnode.running_node_components())
        again = run_cli("up", "--state-dir", str(fresh), "--gpu-nodes", "1", "--cpu-nodes", "0")
        assert again.returncode == 0, again.stderr
        assert "left from a node no longer running" in again.stderr, again.stderr
        assert "left by a cluster that was killed" in again.stderr, again.stderr
        stale_down = run_cli("down", "--state-dir", str(killed))
        assert stale_down.returncode == 0, stale_down.stderr
        assert "left the machine's iptables rules and sysctls alone: another node runs" in stale_down.stderr
        # the pod and its shim outlived the killed containerd: down finds them by the node's cgroup and socket
        assert "process(es) left by the node's pods and shims" in stale_down.stderr, stale_down.stderr
        status = run_cli("status", "--state-dir", str(fresh))
        assert status.returncode == 0 and "real node: real-node-0 Ready" in status.stdout, status.stdout
        assert _realnode._address_holder(_realnode.NODE_IP) == _realnode.Paths(_state.Layout(fresh)).veth
    finally:
        downs = [run_cli("down", "--state-dir", str(folder)) for folder in (killed, fresh)]
    assert all(d.returncode == 0 for d in downs), [d.stderr for d in downs]
    after = host_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} differs after down:\n{json.dumps(after[key], indent=1)[:3000]}"
    short.rmdir()
