"""Tests of tools/localcluster: pure helpers first, then the cluster's promises checked against the real cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tools.localcluster import _build, _certs, _cli, _cluster, _components, _kubeconfig, _nodes, _ports, _procs, _state
from tools.localcluster import _versions as v
from tools.localcluster.pytest_fixture import CLI, KubeCluster, kubeconfig_from, wait_for

T = TypeVar("T")


# --- versions and build ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kube", "staging"), [("v1.35.4", "v0.35.4"), ("v1.36.10", "v0.36.10")])
def test_staging_version(kube: str, staging: str) -> None:
    assert v.staging_version(kube) == staging


def test_wrapper_modules_pin_the_versions_of_versions_py() -> None:
    _build.check_pins()  # raises on any disagreement between gomod/*/go.mod and _versions.py


@pytest.mark.parametrize("tool", sorted(_build.ON_DEMAND))
def test_on_demand_wrappers_pin_the_versions_of_versions_py(tool: str) -> None:
    _build.check_tool_pin(tool)


def test_helm_and_kube_score_are_built_on_demand_only() -> None:
    # `build` and `up` build targets() alone; these would add minutes to every cold start.
    assert not set(_build.ON_DEMAND) & {t.name for t in _build.targets()}
    target = _build.helm_target()
    assert target.packages == ("helm.sh/helm/v3/cmd/helm",)
    assert target.outdir == v.helm_dir() and target.outdir.name == f"helm-{v.HELM_VERSION}"
    score = _build.kube_score_target()
    assert score.outdir.name == f"kube-score-{v.KUBE_SCORE_VERSION}" and score.binaries == ("kube-score",)


def test_helm_ldflags_set_its_version_and_the_kubernetes_version_of_its_client_go() -> None:
    flags = _build.helm_ldflags("v3.21.4", "v0.36.2")
    assert "-X helm.sh/helm/v3/internal/version.version=v3.21.4" in flags
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        assert f"-X {pkg}.k8sVersionMajor=1 -X {pkg}.k8sVersionMinor=36" in flags


def test_k8s_wrapper_replaces_every_staging_module_with_the_published_version() -> None:
    text = (v.GOMOD_DIR / "k8s" / "go.mod").read_text()
    replaced = {line.split()[0] for line in text.splitlines() if " => " in line}
    assert {"k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go", "k8s.io/apiserver"} <= replaced
    assert all(f"=> {mod} {v.staging_version()}" in text for mod in replaced)


def test_kube_ldflags_set_the_version_in_both_version_packages() -> None:
    flags = _build.kube_ldflags("v1.35.4", "2026-01-02T03:04:05Z")
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        assert f"-X {pkg}.gitVersion=v1.35.4" in flags
        assert f"-X {pkg}.gitMajor=1" in flags
        assert f"-X {pkg}.gitMinor=35" in flags
        assert f"-X {pkg}.buildDate=2026-01-02T03:04:05Z" in flags
    assert flags.startswith("-s -w ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("go version go1.26.8 linux/amd64", (1, 26)), ("go version go1.25rc1 linux/arm64", (1, 25))],
)
def test_parse_go_version(text: str, expected: tuple[int, int]) -> None:
    assert _build.parse_go_version(text) == expected


def test_build_without_go_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing built there
    monkeypatch.setenv("PATH", str(tmp_path))  # and no go
    with pytest.raises(_build.LocalClusterError, match=r"`go` is not on PATH.*Go 1\.26"):
        _build.build()


def test_failed_build_step_names_the_step_and_shows_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    argv = [sys.executable, "-c", "import sys; print('compiling'); print('boom: undefined x'); sys.exit(2)"]
    with pytest.raises(_build.LocalClusterError) as err:
        _build.run_step("compile something", argv, tmp_path, log, dict(os.environ))
    text = str(err.value)
    assert "build step failed: compile something (exit status 2" in text
    assert "boom: undefined x" in text
    assert str(log) in text


# --- certificates ---------------------------------------------------------------------------------------------


def test_apiserver_sans_cover_loopback_and_in_cluster_names() -> None:
    sans = _certs.subject_alt_names()
    for name in ("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes.default.svc", "IP:198.19.0.1"):
        assert name in sans.split(",")
    assert f"subjectAltName = {sans}" in _certs.openssl_config(sans)


def test_generated_pki_has_the_right_identities(tmp_path: Path) -> None:
    _certs.generate_pki(tmp_path)

    def text(name: str) -> str:
        return subprocess.run(
            ["openssl", "x509", "-noout", "-text", "-in", str(tmp_path / name)], capture_output=True, text=True
        ).stdout

    server = text("apiserver.crt")
    assert "IP Address:127.0.0.1" in server and "DNS:kubernetes.default.svc.cluster.local" in server
    assert "TLS Web Server Authentication" in server
    admin = text("admin.crt")
    assert "O = system:masters" in admin and "TLS Web Client Authentication" in admin
    assert "CA:TRUE" in text("ca.crt")
    for crt in ("apiserver.crt", "admin.crt"):
        verify = subprocess.run(["openssl", "verify", "-CAfile", "ca.crt", crt], cwd=tmp_path, capture_output=True)
        assert verify.returncode == 0, verify.stderr
    assert all((p.stat().st_mode & 0o077) == 0 for p in tmp_path.glob("*.key"))
    assert (tmp_path / "sa.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


# --- nodes ----------------------------------------------------------------------------------------------------


def test_gpu_node_manifest() -> None:
    node = _nodes.node_manifest("gpu-node-1", _nodes.NodeSpec(gpus_per_node=4, gpu_product="NVIDIA-H100-80GB-HBM3"))
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.count"] == "4"
    assert labels["kubernetes.io/hostname"] == "gpu-node-1"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    expected = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "1Ti", "nvidia.com/gpu": "4"}
    assert node["status"]["capacity"] == node["status"]["allocatable"] == expected
    assert "taints" not in node["spec"]  # no kwok taint: DaemonSets must land on simulated nodes


def test_cpu_node_manifest_has_no_gpu() -> None:
    node = _nodes.node_manifest("cpu-node-0", _nodes.NodeSpec())
    assert not any(k.startswith("nvidia.com/") for k in node["metadata"]["labels"])
    assert "nvidia.com/gpu" not in node["status"]["capacity"]


def test_node_names_follow_the_counts() -> None:
    names = _nodes.node_names(_nodes.NodeSpec(gpu_nodes=50, cpu_nodes=2))
    assert len(names) == 52 and names[0] == "gpu-node-0" and names[49] == "gpu-node-49" and names[-1] == "cpu-node-1"
    assert [_nodes.pool_of(n) for n in ("gpu-node-3", "cpu-node-0", "gpu-node-x", "worker")] == [
        "gpu",
        "cpu",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "pools", "key", "value"),
    [
        ("zone=a", ("gpu", "cpu"), "zone", "a"),
        ("gpu:nvidia.com/mig.strategy=single", ("gpu",), "nvidia.com/mig.strategy", "single"),
        ("cpu:role=", ("cpu",), "role", ""),
    ],
)
def test_parse_label(text: str, pools: tuple[str, ...], key: str, value: str) -> None:
    assert _nodes.parse_label(text) == (pools, key, value)


@pytest.mark.parametrize(
    ("text", "pools", "taint"),
    [
        ("gpu:nvidia.com/gpu=present:NoSchedule", ("gpu",), _nodes.Taint("nvidia.com/gpu", "present", "NoSchedule")),
        ("dedicated:NoExecute", ("gpu", "cpu"), _nodes.Taint("dedicated", "", "NoExecute")),
    ],
)
def test_parse_taint(text: str, pools: tuple[str, ...], taint: _nodes.Taint) -> None:
    assert _nodes.parse_taint(text) == (pools, taint)


@pytest.mark.parametrize("text", ["novalue", "=x", "k=v:Sometimes", ":NoSchedule"])
def test_bad_label_or_taint_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        _nodes.parse_taint(text) if ":" in text else _nodes.parse_label(text)


def test_labels_and_taints_go_to_their_pool() -> None:
    spec = _nodes.NodeSpec()
    _nodes.add_labels_and_taints(spec, ["gpu:a=1", "b=2"], ["gpu:nvidia.com/gpu=present:NoSchedule"])
    gpu = _nodes.node_manifest("gpu-node-0", spec)
    cpu = _nodes.node_manifest("cpu-node-0", spec)
    assert gpu["metadata"]["labels"]["a"] == "1" and "a" not in cpu["metadata"]["labels"]
    assert gpu["metadata"]["labels"]["b"] == cpu["metadata"]["labels"]["b"] == "2"
    assert gpu["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert "taints" not in cpu["spec"]
    assert _nodes.NodeSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


@pytest.mark.parametrize(
    ("conditions", "taints", "expected"),
    [
        ([{"type": "Ready", "status": "True"}], [], True),
        (
            [{"type": "Ready", "status": "True"}],
            [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}],
            False,
        ),
        ([{"type": "Ready", "status": "False"}], [], False),
        ([], [], False),
    ],
)
def test_is_schedulable(conditions: list[dict[str, str]], taints: list[dict[str, str]], expected: bool) -> None:
    node = {"status": {"conditions": conditions}, "spec": {"taints": taints}}
    assert _nodes.is_schedulable(node) is expected


# --- command line ---------------------------------------------------------------------------------------------


def test_up_defaults() -> None:
    args = _cli.build_parser().parse_args(["up"])
    spec = _cli.node_spec(args)
    assert (spec.gpu_nodes, spec.cpu_nodes, spec.gpus_per_node) == (2, 1, 8)
    assert spec.gpu_product == "NVIDIA-A100-SXM4-80GB"
    assert args.state_dir == v.DEFAULT_STATE_DIR
    assert all(getattr(args, f"port_{name}") == 0 for name in _ports.PORT_NAMES)


def test_up_options() -> None:
    argv = ["up", "--gpu-nodes", "50", "--cpu-nodes", "0", "--gpus-per-node", "4", "--api-port", "16443"]
    argv += ["--node-label", "gpu:x=y", "--node-taint", "k=v:NoSchedule", "--state-dir", "/tmp/lc"]
    args = _cli.build_parser().parse_args(argv)
    spec = _cli.node_spec(args)
    assert (spec.gpu_nodes, spec.cpu_nodes, spec.gpus_per_node) == (50, 0, 4)
    assert spec.labels["gpu"] == {"x": "y"} and len(spec.taints["cpu"]) == 1
    assert getattr(args, "port_kube-apiserver") == 16443
    assert args.state_dir == Path("/tmp/lc")


def test_nodes_options_change_only_what_is_given() -> None:
    args = _cli.build_parser().parse_args(["nodes", "--gpu-nodes", "50"])
    assert args.gpu_nodes == 50 and args.cpu_nodes is None and args.gpus_per_node is None


@pytest.mark.parametrize(
    "argv", [["up", "--node-taint", "k=v:Bad"], ["up", "--gpu-nodes", "-1"], ["up", "--api-port", "70000"]]
)
def test_bad_options_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _cli.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


# --- components, ports, state ---------------------------------------------------------------------------------


def _specs(tmp_path: Path) -> dict[str, _components.Spec]:
    ports = dict(zip(_ports.PORT_NAMES, range(20001, 20007), strict=True))
    binaries = {name: Path(f"/bin/{name}") for name in _components.ORDER}
    return {s.name: s for s in _components.specs(binaries, _state.Layout(tmp_path), ports)}


def test_components_listen_on_loopback_only(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    assert list(specs) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    for spec in specs.values():
        for arg in spec.argv[1:]:
            flag, _, value = arg.partition("=")
            if any(word in flag for word in ("listen", "bind-address", "server-address", "advertise", "node-ip")):
                assert value.replace("http://", "").startswith("127.0.0.1"), arg
        assert spec.probe.url.startswith(("http://127.0.0.1:", "https://127.0.0.1:"))


def test_apiserver_flags(tmp_path: Path) -> None:
    argv = _specs(tmp_path)["kube-apiserver"].argv
    for flag in (
        "--authorization-mode=Node,RBAC",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        "--service-cluster-ip-range=198.19.0.0/16",
        "--secure-port=20003",
    ):
        assert flag in argv
    assert not any(a.startswith(("--disable-admission-plugins", "--admission-control")) for a in argv)


def test_controller_manager_and_scheduler_flags(tmp_path: Path) -> None:
    specs = _specs(tmp_path)
    kcm, sched = specs["kube-controller-manager"].argv, specs["kube-scheduler"].argv
    assert "--leader-elect=false" in kcm and "--controllers=*" in kcm and "--leader-elect=false" in sched
    assert any(a.startswith("--root-ca-file=") for a in kcm)
    assert any(a.startswith("--service-account-private-key-file=") for a in kcm)


def test_kwok_points_kubelet_endpoints_at_itself(tmp_path: Path) -> None:
    argv = _specs(tmp_path)["kwok"].argv
    for flag in (
        "--node-ip=127.0.0.1",
        "--node-name=localhost",
        "--node-port=20006",
        "--server-address=127.0.0.1:20006",
    ):
        assert flag in argv
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv


def test_kwok_stages_come_from_the_module_source() -> None:
    if not _build.is_built(_build.targets()[1]):
        pytest.skip("kwok not built yet")
    text = _components.kwok_stages(_build.kwok_stage_dir(), v.KWOK_STAGE_FILES)
    names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(text)]
    assert names == ["node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete"]


def test_assign_ports_keeps_requested_and_fills_the_rest() -> None:
    ports = _ports.assign_ports({"kube-apiserver": 16443})
    assert ports["kube-apiserver"] == 16443
    assert set(ports) == set(_ports.PORT_NAMES) and len(set(ports.values())) == len(ports)


def test_listening_ports_reads_proc_net(tmp_path: Path) -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue\n"
    (tmp_path / "tcp").write_text(
        header
        + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n"  # 127.0.0.1:8080 LISTEN
        + "   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000\n"  # established: ignored
    )
    assert _ports.listening_ports(tmp_path) == {8080}


def test_kubeconfig_embeds_the_credentials(tmp_path: Path) -> None:
    for name in ("ca.crt", "admin.crt", "admin.key"):
        (tmp_path / name).write_text(name)
    text = _kubeconfig.render(
        "https://127.0.0.1:1234", tmp_path / "ca.crt", tmp_path / "admin.crt", tmp_path / "admin.key"
    )
    doc = yaml.safe_load(text)
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1234"
    assert doc["current-context"] == "localcluster"
    assert doc["users"][0]["user"]["client-key-data"] == "YWRtaW4ua2V5"


def test_kubeconfig_line_is_taken_from_the_last_line() -> None:
    assert kubeconfig_from("noise\nKUBECONFIG=/a/kubeconfig\n") == "/a/kubeconfig"


@pytest.mark.parametrize(
    ("script", "timeout", "expected"),
    [
        ("print('flag provided but not defined: -bogus'); raise SystemExit(1)", 30, "the process exited"),
        ("import time; print('waiting for etcd'); time.sleep(30)", 1, "not ready after 1 s"),
    ],
)
def test_component_that_does_not_get_ready_is_reported_with_its_log(
    tmp_path: Path, script: str, timeout: float, expected: str
) -> None:
    layout = _state.Layout(tmp_path)
    layout.logs.mkdir()
    port = _ports.free_ports(1)[0]
    state = _state.State(ports={"kwok": port}, versions={}, nodes={})
    spec = _components.Spec(
        "kwok", [sys.executable, "-c", script], port, _components.Probe(f"http://127.0.0.1:{port}/healthz"), timeout
    )
    try:
        with pytest.raises(_cluster.LocalClusterError) as err:
            _cluster._start_component(layout, state, spec)
    finally:
        for comp in state.components:
            _procs.stop(comp.pid, comp.binary, timeout=2)
    text = str(err.value)
    assert text.startswith("kwok did not become ready") and expected in text
    assert str(layout.log("kwok")) in text
    assert ("flag provided but not defined" in text) or ("waiting for etcd" in text)  # the log's last lines


def test_stop_leaves_unrelated_processes_alone(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    wait_for("sleep to exec", lambda: _procs.cmdline(proc.pid)[:1] == ["sleep"], timeout=10, interval=0.01)
    try:
        assert _procs.stop(proc.pid, "/not/the/binary") == "not running"
        assert proc.poll() is None
        assert _procs.stop(proc.pid, "sleep") == "stopped"
        assert not _procs.is_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


# --- integration: the cluster's promises ---------------------------------------------------------------------------

integration = pytest.mark.integration


@pytest.fixture(scope="module")
def api(kube_cluster: KubeCluster) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=kube_cluster.kubeconfig)
    with client:
        yield client


@pytest.fixture
def namespace(api: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace (labels from an optional `ns_labels` marker), deleted afterwards."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    marker = request.node.get_closest_marker("ns_labels")
    name = f"lc-test-{uuid.uuid4().hex[:8]}"
    labels = marker.args[0] if marker else {}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    # pods are refused until the ServiceAccount controller has made the namespace's `default` account
    wait_for(f"serviceaccount {name}/default", lambda: core.list_namespaced_service_account(name).items, 60)
    yield name
    core.delete_namespace(name)


def gpu_container(gpus: int) -> dict[str, Any]:
    return {"name": "main", "image": "pause:3.10", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}


@integration
def test_version_is_the_pinned_release(api: Any) -> None:
    from kubernetes import client

    info = client.VersionApi(api).get_code()
    assert info.git_version == v.KUBERNETES_VERSION
    assert (info.major, info.minor) == ("1", v.KUBERNETES_VERSION.split(".")[1])


@integration
def test_default_nodes_are_ready_gpu_and_cpu_nodes(api: Any) -> None:
    from kubernetes import client

    nodes = {n.metadata.name: n for n in client.CoreV1Api(api).list_node(label_selector="type=kwok").items}
    assert {"gpu-node-0", "gpu-node-1", "cpu-node-0"} <= set(nodes)
    gpu = nodes["gpu-node-0"]
    assert gpu.status.allocatable["nvidia.com/gpu"] == "8"
    assert gpu.metadata.labels["nvidia.com/gpu.present"] == "true"
    assert "nvidia.com/gpu" not in nodes["cpu-node-0"].status.allocatable
    for node in nodes.values():
        assert _nodes.is_schedulable(api.sanitize_for_serialization(node))
        # the kubelet endpoint is kwok on loopback: nothing dials a fake node address
        assert node.status.daemon_endpoints.kubelet_endpoint.port > 0
        assert {a.address for a in node.status.addresses if a.type == "InternalIP"} == {"127.0.0.1"}


@integration
def test_gpu_deployment_becomes_available_on_gpu_nodes(api: Any, namespace: str) -> None:
    from kubernetes import client

    labels = {"app": "gpu-deploy"}
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "gpu-deploy"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [gpu_container(1)]}},
            },
        },
    )

    def available() -> bool:
        dep = client.AppsV1Api(api).read_namespaced_deployment("gpu-deploy", namespace)
        conds = {c.type: c.status for c in dep.status.conditions or []}
        return dep.status.available_replicas == 2 and conds.get("Available") == "True"

    wait_for("Deployment gpu-deploy Available with 2 replicas", available)
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=gpu-deploy").items
    assert len(pods) == 2
    assert all(p.spec.node_name.startswith("gpu-node-") and p.status.phase == "Running" for p in pods)


@integration
def test_gpu_daemonset_has_one_ready_pod_per_gpu_node(api: Any, namespace: str) -> None:
    from kubernetes import client

    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    # the simulated ones: the real node is tainted against pods that do not ask for it
    selector = "nvidia.com/gpu.present=true,type=kwok"
    gpu_nodes = {n.metadata.name for n in core.list_node(label_selector=selector).items}
    assert len(gpu_nodes) >= 2
    labels = {"app": "gpu-ds"}
    apps.create_namespaced_daemon_set(
        namespace,
        {
            "metadata": {"name": "gpu-ds"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"nvidia.com/gpu.present": "true"},
                        "containers": [{"name": "main", "image": "pause:3.10"}],
                    },
                },
            },
        },
    )

    def all_ready() -> bool:
        st = apps.read_namespaced_daemon_set("gpu-ds", namespace).status
        return st.desired_number_scheduled == len(gpu_nodes) and st.number_ready == len(gpu_nodes)

    wait_for("DaemonSet gpu-ds ready on every GPU node", all_ready)
    pods = core.list_namespaced_pod(namespace, label_selector="app=gpu-ds").items
    assert sorted(p.spec.node_name for p in pods) == sorted(gpu_nodes)  # exactly one per GPU node
    for pod in pods:
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"


@integration
def test_pod_asking_for_too_many_gpus_stays_pending(api: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "greedy"}, "spec": {"containers": [gpu_container(9)]}})

    def failed_scheduling() -> str:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=greedy").items
        return next((e.message for e in events if e.reason == "FailedScheduling"), "")

    message = wait_for("the FailedScheduling event of pod greedy", failed_scheduling)
    assert "Insufficient nvidia.com/gpu" in message
    pod = core.read_namespaced_pod("greedy", namespace)
    assert pod.status.phase == "Pending" and not pod.spec.node_name


@integration
@pytest.mark.ns_labels({"pod-security.kubernetes.io/enforce": "restricted"})
def test_restricted_namespace_rejects_a_privileged_pod(api: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    pod = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "main", "image": "pause:3.10", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).create_namespaced_pod(namespace, pod)
    assert err.value.status == 403
    message = json.loads(err.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest": privileged (container "main" must not set' in message


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@integration
def test_lifecycle_up_twice_resize_down_twice(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    """A second, small cluster in its own folder: idempotent up, nodes resize, and a down that leaves nothing."""
    state = str(tmp_path / "cluster")
    # one real node per machine: the session's cluster has it (tests/test_realnode.py covers its lifecycle)
    first = run_cli("up", "--state-dir", state, "--gpu-nodes", "1", "--cpu-nodes", "0", "--real-nodes", "0")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == f"KUBECONFIG={state}/kubeconfig"
    recorded = _state.load(_state.Layout(Path(state)))
    assert recorded is not None and len(recorded.components) == 5
    try:
        again = run_cli("up", "--state-dir", state)
        assert again.returncode == 0 and "already running" in again.stderr
        assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
        assert [c.pid for c in _state.load(_state.Layout(Path(state))).components] == [
            c.pid for c in recorded.components
        ]
        assert run_cli("status", "--state-dir", state).returncode == 0

        grown = run_cli("nodes", "--state-dir", state, "--gpu-nodes", "3")
        assert grown.returncode == 0, grown.stderr
        kubectl = ["kubectl", f"--kubeconfig={state}/kubeconfig", "get", "nodes", "-o", "name"]
        names = subprocess.run(kubectl, capture_output=True, text=True, check=True).stdout.split()
        assert sorted(names) == ["node/gpu-node-0", "node/gpu-node-1", "node/gpu-node-2"]
        shrunk = run_cli("nodes", "--state-dir", state, "--gpu-nodes", "1")
        assert shrunk.returncode == 0, shrunk.stderr
        names = subprocess.run(kubectl, capture_output=True, text=True, check=True).stdout.split()
        assert names == ["node/gpu-node-0"]
    finally:
        down = run_cli("down", "--state-dir", state)
    assert down.returncode == 0, down.stderr
    for comp in recorded.components:
        assert not _procs.is_alive(comp.pid), comp
    assert not set(recorded.ports.values()) & _ports.listening_ports()
    assert not Path(state).exists()
    assert run_cli("down", "--state-dir", state).returncode == 0  # safe to call twice
    assert run_cli("status", "--state-dir", state).returncode == 3


@integration
def test_port_in_use_is_reported_and_nothing_is_left_running(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    import socket

    state = str(tmp_path / "cluster")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("up", "--state-dir", state, "--api-port", str(port), "--real-nodes", "0")
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1, wanted by kube-apiserver, is in use" in result.stderr
    recorded = _state.load(_state.Layout(Path(state)))
    assert recorded is not None and recorded.phase == "failed"
    assert not any(_procs.is_alive(c.pid) for c in recorded.components)
    assert run_cli("down", "--state-dir", state).returncode == 0
