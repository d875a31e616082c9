"""adopt_helm_release: a live release of the triton-backend chart, installed with the real helm, taken over.

The main test runs on the real node: Triton serves, a model is loaded through its API, and a bounded load loop sends
inferences through the NodePort on 127.0.0.1 while the release is taken over. The others use simulated nodes: a
release with the chart's PodDisruptionBudget (as a cluster upgraded past Kubernetes 1.25 holds it), and a failure
between the apply and the deletion of Helm's Secrets, followed by helm rollback and by a re-run.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration.loadloop import Load
from tests.integration.rbac_docs import token_kubeconfig
from tests.integration.test_real_triton import REAL_NODE, SERVER_UID, chown_tree, model_repository, pod_namespace
from tools.localcluster._realnode import NODE_IP
from tools.localcluster.pytest_fixture import wait_for

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "tests/integration/fixtures/charts/triton-backend"
IMAGE = "localhost/inference-triton/tritonserver-cpu"
VERSION = "2.51.0"
REAL_TOLERATION = {"key": "inference-triton.local/real-node", "operator": "Exists", "effect": "NoSchedule"}
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
HELM_MARKS = ("heritage", "chart", "meta.helm.sh/release-name", "meta.helm.sh/release-namespace", "rollme")


# -- helpers ------------------------------------------------------------------------------------------------------


def helm(helm_binary: str, kubeconfig: str, *args: str) -> str:
    proc = subprocess.run(
        [helm_binary, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def helm_releases(helm_binary: str, kubeconfig: str, namespace: str) -> list[str]:
    return [r["name"] for r in json.loads(helm(helm_binary, kubeconfig, "list", "-a", "-n", namespace, "-o", "json"))]


def adopt(runner, name: str, namespace: str, **args: Any) -> dict[str, Any]:
    args.setdefault("values", {})  # the runner sets nodePort options otherwise, which adoption refuses
    return runner.triton(name=name, namespace=namespace, adopt_helm_release=True, wait_timeout=240, **args)


def assert_ours(obj: Any, release: str) -> None:
    """Labelled as ours, nothing of Helm's left: labels, annotations, field managers."""
    meta = obj.metadata
    labels, annotations = meta.labels or {}, meta.annotations or {}
    assert labels.get("app.kubernetes.io/managed-by") == "inference.triton", labels
    assert labels.get("app.kubernetes.io/instance") == release, labels
    assert not [k for k in HELM_MARKS if k in labels or k in annotations], (labels, annotations)
    managers = {(f.manager, f.operation) for f in meta.managed_fields}
    assert ("inference.triton", "Apply") in managers, managers
    assert not [m for m in managers if m[0] == "helm"], managers


def pod_state(k8s, namespace: str, selector: str) -> dict[str, int]:
    pods = client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector=selector).items
    return {
        p.metadata.name: sum(c.restart_count for c in p.status.container_statuses or [])
        for p in pods
        if not p.metadata.deletion_timestamp
    }


def assert_no_failure(figures: list[dict[str, Any]]) -> None:
    """Every loop sent requests, and not one failed: HTTP keep-alive, a new HTTP connection per request, gRPC."""
    for loop in figures:
        assert loop["sent"] > 50, figures
        assert loop["failed"] == 0, figures


def http_status(port: int, method: str, path: str, host: str = "127.0.0.1") -> int:
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=b"" if method == "POST" else None)
    request.method = method
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def loaded_models(port: int) -> dict[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/repository/index", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=15) as answer:
        return {m["name"]: m.get("state", "") for m in json.loads(answer.read())}


def containerd_address(state_dir: str) -> str:
    text = (Path(state_dir) / "node/containerd.toml").read_text()
    return re.search(r'address = "([^"]+containerd\.sock)"', text).group(1)  # type: ignore[union-attr]


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def helm_ns(k8s):
    yield from pod_namespace(k8s, "it-adopt")


@pytest.fixture(scope="module")
def chart_tags(kube_cluster):
    """The chart appends -py3 to image.tag and -cpu to tritonEnv.tag (NVIDIA's and Instill AI's tag names): the
    real node's Triton image gets those two names too (ctr images tag: new names, same image)."""
    if not kube_cluster.state_dir or not shutil.which("ctr"):
        pytest.skip("the real node's containerd is not this machine's")
    address = containerd_address(kube_cluster.state_dir)
    listed = subprocess.run(
        ["ctr", "--address", address, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    for suffix in ("py3", "cpu"):
        if f"{IMAGE}:{VERSION}-{suffix}" not in listed:
            subprocess.run(
                ["ctr", "--address", address, "-n", "k8s.io", "images", "tag", f"{IMAGE}:{VERSION}",
                 f"{IMAGE}:{VERSION}-{suffix}"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip


def real_values(tmp_path: Path) -> dict[str, Any]:
    """Values of the chart that run it on the real node with the local image and a hostPath model repository."""
    models = model_repository(tmp_path)
    # The chart's init container runs `cp <condaPackPath>/<condaPackFileName> <condaPackPath>-env && chown ...` in
    # the tritonEnv image, which holds the conda pack (the hostPath is mounted at <condaPackPath>-env only). The
    # stand-in image has none: the file name, which the chart pastes into that shell line as it is, makes the copy
    # optional. The rest of the line (the chown of the hostPath, as uid 1000) runs as in the chart.
    conda = tmp_path / "conda-pack"
    conda.mkdir()
    chown_tree(conda, SERVER_UID)
    return {
        "image": {
            "registry": IMAGE.rsplit("/", 1)[0],
            "repository": IMAGE.rsplit("/", 1)[1],
            "tag": VERSION,
            "pullPolicy": "IfNotPresent",
            "modelRepositoryPath": str(models),
            "condaPackPath": str(conda),
            "condaPackFileName": "python-3-8.tar.gz 2>/dev/null || true; true",
        },
        "tritonEnv": {"registry": IMAGE.rsplit("/", 1)[0], "repository": IMAGE.rsplit("/", 1)[1], "tag": VERSION},
        # nodePorts from the API server: tests run side by side (the chart's 31000-31002 would collide).
        "service": {"type": "NodePort", "nodePortHttp": None, "nodePortGrpc": None, "nodePortMetrics": None},
        "nodeSelector": {"type": "real"},
        "tolerations": [REAL_TOLERATION],
    }


def install(helm_binary: str, kubeconfig: str, namespace: str, name: str, values: dict[str, Any], tmp: Path) -> None:
    path = tmp / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    helm(helm_binary, kubeconfig, "install", name, str(CHART), "-n", namespace, "-f", str(path))


# -- the proof on the real node -----------------------------------------------------------------------------------


def test_live_release_is_taken_over_under_load_without_a_pod_restart(
    runner, k8s, kube_cluster, helm_binary, helm_ns, chart_tags, tmp_path
):
    kubeconfig = kube_cluster.kubeconfig
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    install(helm_binary, kubeconfig, helm_ns, "tb", real_values(tmp_path), tmp_path)
    name, selector = "tb-triton-backend", "app=triton-backend,release=tb"
    ports = {p.name: p.node_port for p in core.read_namespaced_service(name, helm_ns).spec.ports}
    port, grpc_port = ports["http"], ports["grpc"]
    # Waited for through the node's address, not 127.0.0.1, where the load loops connect: a connect to a NodePort
    # without a ready endpoint, from this machine, leaves a conntrack entry without DNAT for 120 s (the SYN is
    # rejected after the entry was confirmed), and a later connect from the same source port to the same address
    # and NodePort matches it and is refused by this machine itself (docs/reliability.md section 12).
    wait_for(
        "the chart's Triton to be ready", lambda: http_status(port, "GET", "/v2/health/ready", NODE_IP) == 200, 240, 2
    )
    # The chart's users load models through Triton's API (explicit model control, hard-coded by the chart).
    assert http_status(port, "POST", "/v2/repository/models/add_sub/load") == 200
    assert loaded_models(port).get("add_sub") == "READY"
    pods = pod_state(k8s, helm_ns, selector)
    assert len(pods) == 1, pods
    assert core.read_namespaced_pod(next(iter(pods)), helm_ns).spec.node_name == REAL_NODE

    # Check mode: the whole hand-over is shown, nothing is written.
    checked = adopt(runner, "tb", helm_ns, check=True, diff=True)
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    report = checked["adoption"]
    assert report["pods_roll"] is False and report["values_changed"] == {}
    assert report["helm_secrets"] == ["sh.helm.release.v1.tb.v1"]
    assert report["server"]["model_control_mode"] == "explicit"
    assert "spec.template" in report["objects"]["deployment"]["fields_from_helm"]
    assert "meta.helm.sh/release-name" in report["objects"]["deployment"]["annotations_removed"]
    assert "heritage" in report["objects"]["service"]["labels_removed"]
    assert checked["actions"]["sh.helm.release.v1.tb.v1"] == "deleted"
    after = {d["after_header"]: d["after"] for d in checked["diff"]}
    shown = after[f"Deployment {helm_ns}/{name} (updated)"]
    assert "heritage" not in shown["metadata"]["labels"] and shown["metadata"]["labels"]["release"] == "tb"
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == ["tb"]
    assert apps.read_namespaced_deployment(name, helm_ns).metadata.labels.get("heritage") == "Helm"

    # The hand-over, under load: HTTP keep-alive, a new HTTP connection per request, gRPC. First the same loops for
    # as long with nothing written, as a baseline.
    with Load("127.0.0.1", port, grpc_port, max_requests=30000, max_seconds=120) as baseline:
        time.sleep(9)
    with Load("127.0.0.1", port, grpc_port, max_requests=30000, max_seconds=120) as load:
        time.sleep(3)  # the loops run before, during and after the hand-over
        result = adopt(runner, "tb", helm_ns)
        time.sleep(3)
    figures = load.summaries()
    print(f"\nload with nothing written: {baseline.summaries()}")
    print(f"\nload during the hand-over: {figures}, pods {pods}")
    assert_no_failure(baseline.summaries())
    assert_no_failure(figures)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["adoption"]["pods_roll"] is False
    assert pod_state(k8s, helm_ns, selector) == pods  # same pods, same restart counts
    assert loaded_models(port).get("add_sub") == "READY"  # the API-loaded model is still loaded
    assert_ours(apps.read_namespaced_deployment(name, helm_ns), "tb")
    assert_ours(core.read_namespaced_service(name, helm_ns), "tb")
    # Nothing of the replacement's hand-off is added while the pods stay: the chart's selector, no preStop hook.
    assert core.read_namespaced_service(name, helm_ns).spec.selector == {"app": "triton-backend", "release": "tb"}
    assert apps.read_namespaced_deployment(name, helm_ns).spec.min_ready_seconds in (None, 0)
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == []
    assert not core.list_namespaced_secret(helm_ns, label_selector="owner=helm").items

    again = adopt(runner, "tb", helm_ns)
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False, again["actions"]

    # A value that changes the pod template: the pods roll, the load goes on until the old pod is gone. The chart's
    # pod has no preStop hook: it leaves the Service (its serving label flipped) once the new pod is ready, and is
    # deleted DRAIN_SECONDS later. The new pods load add_sub at start (load_models): the API-loaded model of the old
    # pods is not carried over.
    with Load("127.0.0.1", port, grpc_port, max_requests=30000, max_seconds=300) as load:
        time.sleep(3)
        rolled = adopt(runner, "tb", helm_ns, values={"image": {"pullPolicy": "Never"}}, load_models=["add_sub"])
        wait_for("the old pod to be gone", lambda: set(pod_state(k8s, helm_ns, selector)).isdisjoint(pods), 120, 1)
        time.sleep(3)
    figures = load.summaries()
    print(f"\nload during the rolling update: {figures}")
    assert_no_failure(figures)
    assert not rolled.get("failed"), rolled.get("msg")
    assert rolled["adoption"]["pods_roll"] is True
    assert rolled["adoption"]["values_changed"] == {"image.pullPolicy": {"release": "IfNotPresent", "now": "Never"}}
    assert any("loaded through Triton's API are not loaded in the new pods" in w for w in rolled.get("warnings", []))
    assert rolled["adoption"]["server"]["load_models"] == ["add_sub"]
    container = apps.read_namespaced_deployment(name, helm_ns).spec.template.spec.containers[0]
    assert "--model-control-mode=explicit --strict-model-config=false --load-model=add_sub" in container.args[2]
    assert container.lifecycle.pre_stop.sleep.seconds == 10
    assert rolled["adoption"]["rollout"]["drained"] == list(pods), rolled["adoption"]["rollout"]
    serving = {"app": "triton-backend", "release": "tb", "inference.triton/serving": "true"}
    assert core.read_namespaced_service(name, helm_ns).spec.selector == serving
    assert apps.read_namespaced_deployment(name, helm_ns).spec.min_ready_seconds == 10
    new_pods = pod_state(k8s, helm_ns, selector)
    assert len(new_pods) == 1 and not set(new_pods) & set(pods), (pods, new_pods)

    gone = runner.triton(name="tb", namespace=helm_ns, state="absent", wait_timeout=180)
    assert not gone.get("failed"), gone.get("msg")
    assert gone["changed"] is True
    assert not apps.list_namespaced_deployment(helm_ns).items
    assert not core.list_namespaced_service(helm_ns).items
    assert not pod_state(k8s, helm_ns, selector)


# -- simulated nodes: the PodDisruptionBudget, and a failure between the apply and the Secrets' deletion -----------


def kwok_values(**extra: Any) -> dict[str, Any]:
    return {
        "service": {"type": "ClusterIP"},
        "nodeSelector": {"type": "kwok"},
        "tolerations": [KWOK_TOLERATION],
        **extra,
    }


def with_legacy_pdb(k8s, helm_binary: str, kubeconfig: str, namespace: str, release: str, values_file: Path) -> None:
    """What a cluster upgraded past Kubernetes 1.25 holds for a release installed with the PDB enabled before: Helm's
    Secret lists a policy/v1beta1 PDB (helm install refuses it now: no such API), the API server serves the stored
    object as policy/v1. Written as Helm would have: the Secret's release, and the PDB with Helm's metadata."""
    rendered = helm(
        helm_binary, kubeconfig, "template", release, str(CHART), "-n", namespace, "-f", str(values_file),
        "--set", "podDisruptionBudget.enabled=true",
    )  # fmt: skip
    pdb = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1beta1"
    core = client.CoreV1Api(k8s)
    secret_name = f"sh.helm.release.v1.{release}.v1"
    secret = core.read_namespaced_secret(secret_name, namespace)
    data = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret.data["release"]))))
    data["config"].setdefault("podDisruptionBudget", {})["enabled"] = True
    data["manifest"] += "\n---\n# Source: triton-backend/templates/pdb.yaml\n" + yaml.safe_dump(pdb)
    encoded = base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()
    core.patch_namespaced_secret(
        secret_name, namespace, {"data": {"release": base64.b64encode(encoded.encode()).decode()}}
    )
    pdb["apiVersion"] = "policy/v1"
    pdb["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "Helm"}
    pdb["metadata"]["annotations"] = {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
    client.PolicyV1Api(k8s).create_namespaced_pod_disruption_budget(namespace, pdb, field_manager="helm")


def test_release_with_the_charts_pdb_is_taken_over_as_policy_v1(
    runner, k8s, kube_cluster, helm_binary, helm_ns, tmp_path
):
    kubeconfig = kube_cluster.kubeconfig
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "preference": {"matchExpressions": [{"key": "type", "operator": "In", "values": ["kwok"]}]},
                }
            ]
        }
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(kwok_values(affinity=affinity)))
    helm(helm_binary, kubeconfig, "install", "tp", str(CHART), "-n", helm_ns, "-f", str(values_file))
    with_legacy_pdb(k8s, helm_binary, kubeconfig, helm_ns, "tp", values_file)
    policy, apps = client.PolicyV1Api(k8s), client.AppsV1Api(k8s)
    name = "tp-triton-backend"

    result = adopt(runner, "tp", helm_ns)
    assert not result.get("failed"), result.get("msg")
    assert result["actions"]["pdb"] == "updated", result["actions"]
    assert any("policy/v1beta1" in w for w in result.get("warnings", [])), result.get("warnings")
    pdb = policy.read_namespaced_pod_disruption_budget(name, helm_ns)
    assert_ours(pdb, "tp")
    assert pdb.spec.min_available == 1
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == []
    assert adopt(runner, "tp", helm_ns)["changed"] is False

    # A value dropped after the take-over is gone from the object: Helm's field managers no longer hold it.
    dropped = adopt(runner, "tp", helm_ns, values={"affinity": None})
    assert not dropped.get("failed"), dropped.get("msg")
    assert apps.read_namespaced_deployment(name, helm_ns).spec.template.spec.affinity is None
    # The pods rolled, with the hand-off for the next replacement; the same values again change nothing.
    assert dropped["adoption"]["pods_roll"] is True
    again = adopt(runner, "tp", helm_ns, values={"affinity": None})
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False and again["adoption"]["pods_roll"] is False, again["actions"]

    off = adopt(runner, "tp", helm_ns, values={"affinity": None, "podDisruptionBudget": {"enabled": False}})
    assert not off.get("failed"), off.get("msg")
    assert off["actions"]["pdb"] == "deleted", off["actions"]
    assert not policy.list_namespaced_pod_disruption_budget(helm_ns).items

    gone = runner.triton(name="tp", namespace=helm_ns, state="absent", wait_timeout=120)
    assert gone["changed"] is True and not apps.list_namespaced_deployment(helm_ns).items


def restricted_deployer(
    k8s, namespace: str, tmp_path: Path, kubeconfig: str, name: str, pod_verbs: list[str], secret_verbs: list[str]
) -> str:
    """A kubeconfig whose identity may do everything the hand-over needs, but on pods and Secrets only the verbs
    given."""
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    write = ["get", "list", "watch", "create", "patch"]
    rules = [
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": write},
        {"apiGroups": [""], "resources": ["services", "events"], "verbs": write},
        {"apiGroups": [""], "resources": ["pods"], "verbs": pod_verbs},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list", "create", "patch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": secret_verbs},
    ]  # fmt: skip
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    return token_kubeconfig(kubeconfig, token, tmp_path / f"{name}.kubeconfig")


def deployer_without_secret_delete(k8s, namespace: str, tmp_path: Path, kubeconfig: str) -> str:
    """A kubeconfig whose identity may do everything the hand-over needs but delete Secrets."""
    pod_verbs = ["get", "list", "watch", "create", "patch"]
    return restricted_deployer(k8s, namespace, tmp_path, kubeconfig, "no-secret-delete", pod_verbs, ["get", "list"])


def test_failure_before_the_secrets_go_leaves_a_release_that_helm_rollback_and_a_rerun_both_recover(
    runner, k8s, kube_cluster, helm_binary, helm_ns, tmp_path
):
    kubeconfig = kube_cluster.kubeconfig
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(kwok_values()))
    helm(helm_binary, kubeconfig, "install", "tf", str(CHART), "-n", helm_ns, "-f", str(values_file))
    restricted = deployer_without_secret_delete(k8s, helm_ns, tmp_path, kubeconfig)
    apps, name = client.AppsV1Api(k8s), "tf-triton-backend"
    pods = pod_state(k8s, helm_ns, "app=triton-backend,release=tf")

    failed = adopt(runner, "tf", helm_ns, kubeconfig=restricted)
    assert failed.get("failed"), failed
    assert "helm rollback tf" in failed["msg"] and "run this task again" in failed["msg"], failed["msg"]
    assert failed["changed"] is True  # the objects were taken over before the failure
    assert_ours(apps.read_namespaced_deployment(name, helm_ns), "tf")
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == ["tf"]

    # helm rollback works from there: the objects are Helm's again, the pods are the same.
    helm(helm_binary, kubeconfig, "rollback", "tf", "1", "-n", helm_ns, "--wait", "--timeout", "120s")
    deployment = apps.read_namespaced_deployment(name, helm_ns)
    assert deployment.metadata.annotations.get("meta.helm.sh/release-name") == "tf"
    assert deployment.metadata.labels.get("app.kubernetes.io/managed-by") == "Helm"
    assert pod_state(k8s, helm_ns, "app=triton-backend,release=tf") == pods

    # Failing again, then a re-run with the permission finishes the hand-over from the newest revision.
    assert adopt(runner, "tf", helm_ns, kubeconfig=restricted).get("failed")
    done = adopt(runner, "tf", helm_ns)
    assert not done.get("failed"), done.get("msg")
    assert done["adoption"]["revision"] == 2
    assert_ours(apps.read_namespaced_deployment(name, helm_ns), "tf")
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == []
    assert pod_state(k8s, helm_ns, "app=triton-backend,release=tf") == pods
    assert adopt(runner, "tf", helm_ns)["changed"] is False


def test_values_that_replace_the_pods_without_patch_on_pods_are_refused_before_anything_is_written(
    runner, k8s, kube_cluster, helm_binary, helm_ns, tmp_path
):
    """Replacing the chart's pods without refusing a connection labels the live pods first (the Service is about to
    select on that label): without patch on pods, the run fails naming the rule, and nothing is written."""
    kubeconfig = kube_cluster.kubeconfig
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(kwok_values()))
    helm(helm_binary, kubeconfig, "install", "tn", str(CHART), "-n", helm_ns, "-f", str(values_file))
    restricted = restricted_deployer(
        k8s, helm_ns, tmp_path, kubeconfig, "no-pod-patch", ["get", "list", "watch"], ["get", "list", "delete"]
    )
    apps, core, name = client.AppsV1Api(k8s), client.CoreV1Api(k8s), "tn-triton-backend"
    selector = "app=triton-backend,release=tn"
    wait_for("the chart's pod", lambda: len(pod_state(k8s, helm_ns, selector)) == 1, 60, 1)
    pods = pod_state(k8s, helm_ns, selector)

    def written() -> dict[str, Any]:
        """What a write would change (the controllers update the Deployment's status meanwhile)."""
        deployment, service = (
            apps.read_namespaced_deployment(name, helm_ns),
            core.read_namespaced_service(name, helm_ns),
        )
        return {
            kind: (obj.metadata.generation, obj.metadata.labels, obj.metadata.annotations, obj.spec.to_dict(),
                   sorted(f.manager for f in obj.metadata.managed_fields if not f.subresource))
            for kind, obj in (("deployment", deployment), ("service", service))
        }  # fmt: skip

    before = written()

    failed = adopt(runner, "tn", helm_ns, kubeconfig=restricted, values={"image": {"pullPolicy": "Never"}})
    assert failed.get("failed"), failed
    assert "patch on pods" in failed["msg"] and "docs/rbac.yml" in failed["msg"], failed["msg"]
    assert failed["changed"] is False
    assert written() == before
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == ["tn"]
    assert pod_state(k8s, helm_ns, selector) == pods

    # Without values that replace the pods, the same identity takes the release over: no pod is labelled.
    done = adopt(runner, "tn", helm_ns, kubeconfig=restricted)
    assert not done.get("failed"), done.get("msg")
    assert done["adoption"]["pods_roll"] is False
    assert helm_releases(helm_binary, kubeconfig, helm_ns) == []
    assert pod_state(k8s, helm_ns, selector) == pods


# -- the chart as reproduced for adoption, against helm template ----------------------------------------------------

TEMPLATE_CASES = {
    "chart defaults": {},
    "gpu, arm64, pull secrets": {
        "mode": {"useCpu": False},
        "arch": "arm64",
        "image": {"numGpus": 2, "tag": 24.10},
        "imagePullSecrets": [{"name": "regcred"}],
    },
    "names and nodePorts": {"nameOverride": "tb", "replicaCount": 3, "service": {"nodePortHttp": 30080}},
    "fullnameOverride, ClusterIP, placement": {
        "fullnameOverride": "custom",
        "service": {"type": "ClusterIP"},
        "nodeSelector": {"a": "b"},
        "tolerations": [KWOK_TOLERATION],
        "affinity": {"podAntiAffinity": {}},
    },
    "pdb with both bounds": {"podDisruptionBudget": {"enabled": True, "minAvailable": 1, "maxUnavailable": 2}},
}


@pytest.mark.parametrize("values", list(TEMPLATE_CASES.values()), ids=list(TEMPLATE_CASES))
def test_the_reproduced_chart_renders_what_helm_renders(helm_binary, tmp_path, values):
    from ansible_collections.inference.triton.plugins.module_utils._helm_release import (
        HelmReleaseError,
        check_reproduced,
        coalesce,
        render,
    )

    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = subprocess.run(
        [helm_binary, "template", "tb", str(CHART), "-n", "ns", "-f", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    # Values as Helm stores them in its release Secret: JSON, so numbers are floats there.
    merged = json.loads(json.dumps(coalesce(chart_values, values)), parse_float=float, parse_int=float)
    objects = render("tb", "ns", merged, {"app.kubernetes.io/instance": "tb"})
    check_reproduced({"name": "tb", "manifest": proc.stdout}, objects)
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(proc.stdout) if d)
    assert kinds == sorted(o["kind"] for o in objects.values())
    # The comparison sees a difference: another server command is not what Helm applied.
    with pytest.raises(HelmReleaseError, match="args"):
        check_reproduced(
            {"name": "tb", "manifest": proc.stdout},
            render("tb", "ns", merged, {}, server={"model_control_mode": "poll"}),
        )
