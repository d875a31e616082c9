"""triton_server on the real node (real-node-0): a real tritonserver process, not a simulated pod.

Each test deploys its own release through the module, in its own namespace (``it-real-*``), with the CPU build of
Triton 2.51.0 that the local cluster loads into the node's containerd, and asserts on what really runs: the
process (its uid, found through its cgroup), the HTTP API through the NodePort on 127.0.0.1, the kubelet's probe
counters, ``/dev/shm`` as seen from inside the container. Traffic goes only to 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import routed_node_port
from kubernetes import client

from tools.localcluster.pytest_fixture import wait_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_MODELS = REPO / "playbooks/files/example-models"
REAL_NODE = "real-node-0"
SERVER_UID = 1000  # the module's default runAsUser / runAsGroup
REAL = dict(
    image_registry="localhost/inference-triton",
    image_repository="tritonserver-cpu",
    image_tag="2.51.0",
    image_pull_policy="IfNotPresent",
    use_cpu=True,
    node_selector={"type": "real"},
    tolerations=[{"key": "inference-triton.local/real-node", "operator": "Exists", "effect": "NoSchedule"}],
    # The real node has 2 cores for every test running beside this one: less than the default 1 CPU per server.
    resources={"requests": {"cpu": "100m", "memory": "512Mi"}},
)
ADD_SUB_REQUEST = {
    "inputs": [
        {"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]},
        {"name": "INPUT1", "shape": [4], "datatype": "FP32", "data": [10, 20, 30, 40]},
    ]
}


# -- helpers ------------------------------------------------------------------------------------------------------


def http(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request to Triton's HTTP endpoint through the NodePort on 127.0.0.1: (status, decoded JSON or text)."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def repository_index(port: int) -> dict[str, str]:
    """Model name -> state ("" when the server knows the model but has not loaded it)."""
    status, index = http(port, "POST", "/v2/repository/index")
    assert status == 200, index
    return {entry["name"]: entry.get("state", "") for entry in index}


def assert_add_sub_infers(port: int) -> None:
    status, answer = http(port, "POST", "/v2/models/add_sub/infer", ADD_SUB_REQUEST)
    assert status == 200, answer
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    assert outputs == {"OUTPUT0": [11, 22, 33, 44], "OUTPUT1": [-9, -18, -27, -36]}, answer


def model_repository(tmp_path: Path, owner: int | None = SERVER_UID, models: tuple[str, ...] = ("add_sub",)) -> Path:
    """A copy of example models under tmp_path (the kubelet bind-mounts it: any folder works), owned by ``owner``."""
    root = tmp_path / "models"
    root.mkdir()
    for model in models:
        shutil.copytree(EXAMPLE_MODELS / model, root / model)
    if owner is not None:
        chown_tree(root, owner)
    return root


def chown_tree(root: Path, owner: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, owner, owner)


def release(runner, namespace: str, name: str, repository: Path, **options: Any) -> tuple[dict[str, Any], float]:
    """Run triton_server for a release on the real node; returns (task result, seconds the task took)."""
    started = time.monotonic()
    options = {**REAL, "wait_timeout": 240, **options}
    result = runner.triton(name=name, namespace=namespace, model_repository_path=str(repository), **options)
    return result, time.monotonic() - started


def http_port(result: dict[str, Any]) -> int:
    """The release's HTTP nodePort, once this node's kube-proxy routes it."""
    return routed_node_port(int(result["endpoints"]["ports"]["http"]["node_port"]))


def the_pod(k8s, namespace: str, release_name: str) -> Any:
    """The release's only pod that is not being deleted."""
    pods = [
        p
        for p in client.CoreV1Api(k8s)
        .list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release_name}")
        .items
        if not p.metadata.deletion_timestamp
    ]
    assert len(pods) == 1, [p.metadata.name for p in pods]
    assert pods[0].spec.node_name == REAL_NODE, pods[0].spec.node_name
    return pods[0]


def container_id(pod: Any) -> str:
    """The runtime's id of the pod's Triton container (``containerd://<id>`` in the pod status)."""
    status = next(s for s in pod.status.container_statuses if s.name == "triton")
    return status.container_id.split("://", 1)[1]


def processes(*cgroup_parts: str) -> list[dict[str, Any]]:
    """Processes of this machine whose cgroup path contains one of ``cgroup_parts``: pid, argv, Uid and Gid."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
            if not any(part in cgroup for part in cgroup_parts):
                continue
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except OSError:  # the process ended while we looked
            continue
        found.append(
            {
                "pid": int(entry.name),
                "argv": argv,
                "uids": [int(x) for x in status["Uid"].split()],
                "gids": [int(x) for x in status["Gid"].split()],
            }
        )
    return found


def tritonserver_processes(cgroup_part: str) -> list[dict[str, Any]]:
    return [p for p in processes(cgroup_part) if p["argv"] and os.path.basename(p["argv"][0]) == "tritonserver"]


def pod_cgroup_parts(pod: Any) -> tuple[str, str]:
    """The pod's part of its containers' cgroup paths: pod<uid> (cgroupfs driver), pod<uid with _> (systemd)."""
    return f"pod{pod.metadata.uid}", f"pod{pod.metadata.uid.replace('-', '_')}"


def probe_counts(k8s, namespace: str, pod_name: str) -> dict[tuple[str, str], int]:
    """The kubelet's own count of probe results for the pod's Triton container: (probe type, result) -> count."""
    text = client.CoreV1Api(k8s).connect_get_node_proxy_with_path(REAL_NODE, "metrics/probes")
    counts: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if not line.startswith("prober_probe_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if (labels.get("namespace"), labels.get("pod"), labels.get("container")) == (namespace, pod_name, "triton"):
            counts[(labels["probe_type"], labels["result"])] = int(float(line.rsplit(" ", 1)[1]))
    return counts


def kubectl(kubeconfig: str, *args: str) -> str:
    proc = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def real_node(k8s):
    """Skip unless the cluster has its real node, Ready, on this machine (the tests look at its processes)."""
    try:
        node = client.CoreV1Api(k8s).read_node(REAL_NODE)
    except client.ApiException as exc:
        pytest.skip(f"no real node in this cluster ({exc.status})")
    ready = {c.type: c.status for c in node.status.conditions or []}.get("Ready")
    if ready != "True":
        pytest.skip(f"{REAL_NODE} is not Ready")
    if not Path("/proc/self/cgroup").exists():
        pytest.skip("no /proc: the node's processes cannot be inspected")
    if os.geteuid() != 0:
        pytest.skip("model repositories owned by uid 1000 (and by root only) need root to prepare")
    return node


def pod_namespace(k8s, prefix: str) -> Iterator[str]:
    """A namespace of our own, deleted afterwards; its pods are waited for, so that they leave the node before the
    next test starts (the namespace itself finishes going in the background)."""
    core = client.CoreV1Api(k8s)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
    wait_for(f"the pods of {name} to be gone", lambda: not core.list_namespaced_pod(name).items, 180)


@pytest.fixture
def real_ns(k8s):
    yield from pod_namespace(k8s, "it-real")


# -- 1. the hostPath repository, read by uid 1000 -----------------------------------------------------------------


def test_repository_owned_by_1000_is_read_by_a_server_running_as_1000(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path, models=("add_sub", "identity"))
    result, _seconds = release(runner, real_ns, "own", repository)
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True

    pod = the_pod(k8s, real_ns, "own")
    servers = tritonserver_processes(container_id(pod))
    assert len(servers) == 1, servers
    server = servers[0]
    # The process itself, whatever the spec says: real, effective, saved and filesystem ids.
    assert server["uids"] == [SERVER_UID] * 4 and server["gids"] == [SERVER_UID] * 4, server
    assert f"--model-repository={repository}" in server["argv"], server["argv"]
    # The repository as the container sees it (its mount namespace), owned by the same uid.
    inside = Path(f"/proc/{server['pid']}/root{repository}")
    assert inside.stat().st_uid == SERVER_UID and (inside / "add_sub" / "config.pbtxt").is_file()

    port = http_port(result)
    assert repository_index(port) == {"add_sub": "READY", "identity": "READY"}
    assert_add_sub_infers(port)


# -- 2. a repository the server cannot read -----------------------------------------------------------------------


def test_unreadable_repository_fails_the_wait_early_with_the_servers_reason(runner, real_ns, tmp_path):
    repository = model_repository(tmp_path, owner=None)  # root's, and only root's
    repository.chmod(0o700)
    result, elapsed = release(runner, real_ns, "unread", repository, wait_timeout=240)
    assert result.get("failed")
    msg = result["msg"]
    # Early: the container crash-loops, which waiting does not fix.
    assert elapsed < 120, (elapsed, msg)
    assert "stopped after" in msg and "new pods keep crashing" in msg, msg
    # From the container's state: its exit code.
    assert re.search(r"exited with code 1 \(Error\)", msg), msg
    # From its log: Triton's own words, and what they mean.
    assert f"failed to open directory {repository}" in msg, msg
    assert "cannot read the model repository" in msg, msg
    assert "Traceback" not in msg


def test_the_documented_role_can_read_the_log_that_explains_a_crash(kube_cluster, k8s, real_ns, tmp_path):
    """docs/rbac.yml's pods/log rule is what lets the reason quote the log; without it the reason says so."""
    from conftest import Runner
    from rbac_docs import allowed, create_rbac, rbac_objects, token_kubeconfig

    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    documents = {d["kind"]: d for d in rbac_objects("docs/rbac.yml", real_ns)}
    user = f"system:serviceaccount:{real_ns}:triton-deployer"
    create_rbac(k8s, documents, real_ns)
    try:
        wait_for("the Role to apply", lambda: allowed(k8s, user, real_ns, "get", "", "pods/log"), 30)
        token = core.create_namespaced_service_account_token(
            "triton-deployer", real_ns, {"spec": {"expirationSeconds": 900}}
        ).status.token
        deployer = Runner(token_kubeconfig(kube_cluster.kubeconfig, token, tmp_path / "deployer"), tmp_path)
        repository = model_repository(tmp_path, owner=None)
        repository.chmod(0o700)

        quoted, _seconds = release(deployer, real_ns, "rbac", repository)
        assert quoted.get("failed") and "new pods keep crashing" in quoted["msg"], quoted["msg"]
        assert f"failed to open directory {repository}" in quoted["msg"], quoted["msg"]

        role = documents["Role"]
        role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods/log"]]
        rbac.replace_namespaced_role("triton-deployer", real_ns, role)
        wait_for("pods/log to go", lambda: not allowed(k8s, user, real_ns, "get", "", "pods/log"), 30)
        # The same release again: nothing to write, the crash loop is seen at once, its log is not readable.
        unquoted, elapsed = release(deployer, real_ns, "rbac", repository)
        assert unquoted.get("failed") and "new pods keep crashing" in unquoted["msg"], unquoted["msg"]
        assert unquoted["changed"] is False and elapsed < 60, (unquoted.get("changed"), elapsed)
        assert "its log cannot be read" in unquoted["msg"] and "needs get on pods/log" in unquoted["msg"], unquoted[
            "msg"
        ]
        assert "failed to open directory" not in unquoted["msg"]
        # the state still says, whether the container is waiting ("last exited ...") or running again ("... exiting")
        assert re.search(r"(exited|exiting) with code 1 \(Error\)", unquoted["msg"]), unquoted["msg"]
    finally:
        rbac.delete_cluster_role_binding(f"triton-deployer-{real_ns}")
        rbac.delete_cluster_role(f"triton-deployer-{real_ns}")


# -- 3. the rendered flags, as the real binary takes them ---------------------------------------------------------


def test_mode_none_with_extra_server_args(runner, real_ns, tmp_path):
    repository = model_repository(tmp_path, models=("add_sub", "identity"))
    server_id = f"it-real-{uuid.uuid4().hex[:6]}"
    result, _seconds = release(
        runner, real_ns, "none", repository, model_control_mode="none", server_args=[f"--id={server_id}"]
    )
    assert not result.get("failed"), result.get("msg")
    port = http_port(result)
    status, metadata = http(port, "GET", "/v2")
    assert status == 200 and metadata["name"] == server_id, metadata  # --id reached the server
    assert repository_index(port) == {"add_sub": "READY", "identity": "READY"}
    # Mode none refuses to load or unload through the API.
    status, answer = http(port, "POST", "/v2/repository/models/identity/unload")
    assert status != 200 and "explicit model load / unload is not allowed" in str(answer), (status, answer)


def test_mode_explicit_loads_only_load_models(runner, real_ns, tmp_path):
    repository = model_repository(tmp_path, models=("add_sub", "identity"))
    result, _seconds = release(
        runner, real_ns, "expl", repository, model_control_mode="explicit", load_models=["add_sub"]
    )
    assert not result.get("failed"), result.get("msg")
    port = http_port(result)
    assert repository_index(port) == {"add_sub": "READY", "identity": ""}
    assert_add_sub_infers(port)
    # Explicit mode: the API loads the rest.
    status, answer = http(port, "POST", "/v2/repository/models/identity/load")
    assert status == 200, answer
    assert repository_index(port)["identity"] == "READY"


def test_mode_poll_picks_up_a_model_added_later(runner, real_ns, tmp_path):
    repository = model_repository(tmp_path, models=("add_sub",))
    result, _seconds = release(runner, real_ns, "poll", repository, model_control_mode="poll", repository_poll_secs=2)
    assert not result.get("failed"), result.get("msg")
    port = http_port(result)
    assert repository_index(port) == {"add_sub": "READY"}

    late = repository / "identity_late"
    shutil.copytree(EXAMPLE_MODELS / "identity", late)
    config = late / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "identity"', 'name: "identity_late"'))
    chown_tree(late, SERVER_UID)
    wait_for("the poll to load identity_late", lambda: repository_index(port).get("identity_late") == "READY", 60, 1)


def test_unknown_server_flag_fails_the_rollout_with_the_servers_message(runner, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    result, elapsed = release(runner, real_ns, "flag", repository, server_args=["--no-such-flag=1"])
    assert result.get("failed")
    msg = result["msg"]
    assert elapsed < 120, (elapsed, msg)
    assert "new pods keep crashing" in msg, msg
    # The first line of tritonserver's output, not the 400 lines of usage after it.
    assert "tritonserver: unrecognized option '--no-such-flag=1'" in msg, msg
    assert "does not accept a flag" in msg, msg
    assert len(msg) < 4000, len(msg)


# -- 4. probes ------------------------------------------------------------------------------------------------------


def test_probes_pass_on_a_healthy_server(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    result, _seconds = release(runner, real_ns, "healthy", repository)
    assert not result.get("failed"), result.get("msg")
    pod = the_pod(k8s, real_ns, "healthy")
    triton = pod.spec.containers[0]
    assert triton.startup_probe and triton.liveness_probe and triton.readiness_probe
    # The kubelet ran each probe against the real server and counted successes (liveness starts after startup).
    counts = wait_for(
        "a successful liveness probe",
        lambda: (c := probe_counts(k8s, real_ns, pod.metadata.name)).get(("Liveness", "successful")) and c,
        40,
        1,
    )
    for probe in ("Startup", "Readiness", "Liveness"):
        assert counts.get((probe, "successful"), 0) >= 1, counts
    assert not [k for k in counts if k[1] != "successful" and k[0] != "Startup"], counts
    pod = the_pod(k8s, real_ns, "healthy")
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert pod.status.container_statuses[0].restart_count == 0


def test_a_60s_model_load_is_not_killed_by_the_default_probes(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path, owner=None, models=("add_sub",))
    slow = repository / "slow"
    (repository / "add_sub").rename(slow)
    config = slow / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "add_sub"', 'name: "slow"'))
    model = slow / "1" / "model.py"
    model.write_text(
        model.read_text()
        .replace("import triton_python_backend_utils", "import time\n\nimport triton_python_backend_utils")
        .replace(
            "    def execute(self, requests):",
            "    def initialize(self, args):\n        time.sleep(60)\n\n    def execute(self, requests):",
        )
    )
    chown_tree(repository, SERVER_UID)

    result, elapsed = release(runner, real_ns, "slow", repository, wait_timeout=240)
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True
    assert elapsed >= 60, elapsed  # the rollout did wait for the load
    pod = the_pod(k8s, real_ns, "slow")
    assert pod.status.container_statuses[0].restart_count == 0
    # The startup probe did fail while the model loaded, and that was not fatal.
    events = client.CoreV1Api(k8s).list_namespaced_event(
        real_ns, field_selector=f"involvedObject.name={pod.metadata.name},reason=Unhealthy"
    )
    messages = [e.message for e in events.items]
    assert any(m.startswith("Startup probe failed") for m in messages), messages
    assert not any(m.startswith("Liveness probe failed") for m in messages), messages
    assert repository_index(http_port(result)) == {"slow": "READY"}


# -- 5. /dev/shm ----------------------------------------------------------------------------------------------------


def test_read_only_root_sized_shm_and_tmp_and_the_chosen_resources(runner, k8s, kube_cluster, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    result, _seconds = release(runner, real_ns, "shm", repository, shm_size="320Mi", tmp_size="96Mi")
    assert not result.get("failed"), result.get("msg")
    # The Python backend (add_sub) runs its stub and answers with nothing writable but /tmp and /dev/shm.
    assert_add_sub_infers(http_port(result))
    pod = the_pod(k8s, real_ns, "shm")
    resources = next(c for c in pod.spec.containers if c.name == "triton").resources
    assert resources.requests == {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "1Gi"}
    assert resources.limits == {"memory": "832Mi", "ephemeral-storage": "1120Mi"}  # 512Mi + shm; tmp + 1Gi
    probe = (
        "import errno, os\n"
        "s = os.statvfs('/dev/shm'); print(s.f_blocks * s.f_frsize)\n"
        "try:\n    open('/written-to-root', 'w')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
        "open('/tmp/written-to-tmp', 'w').write('x'); print('tmp ok')\n"
    )
    out = kubectl(
        kube_cluster.kubeconfig, "exec", "-n", real_ns, pod.metadata.name, "-c", "triton", "--", "python3", "-c", probe
    )
    shm, root, tmp = out.strip().splitlines()[-3:]  # kubectl may print a warning line first
    assert int(shm) == 320 * 1024 * 1024, out
    assert root == "EROFS", out
    assert tmp == "tmp ok", out


# -- 6. idempotence on a running server, and removal ----------------------------------------------------------------


def test_rerun_is_unchanged_and_absent_stops_the_server(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    first, _seconds = release(runner, real_ns, "life", repository)
    assert not first.get("failed"), first.get("msg")
    pod = the_pod(k8s, real_ns, "life")
    servers = tritonserver_processes(container_id(pod))
    assert len(servers) == 1, servers

    again, _seconds = release(runner, real_ns, "life", repository)
    assert again["changed"] is False, again["actions"]
    assert set(again["actions"].values()) == {"unchanged"}
    assert tritonserver_processes(container_id(pod)) == servers  # same process: nothing restarted

    removed = runner.triton(name="life", namespace=real_ns, state="absent")
    assert not removed.get("failed"), removed.get("msg")
    assert removed["changed"] is True and set(removed["actions"].values()) == {"deleted"}
    # The module waited until the pod was gone from the API; by then the kubelet had stopped its containers.
    assert tritonserver_processes(container_id(pod)) == []
    assert processes(*pod_cgroup_parts(pod)) == []  # nor any other process of the pod (Python backend stubs)
    assert client.CoreV1Api(k8s).list_namespaced_pod(real_ns).items == []
