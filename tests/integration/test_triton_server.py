"""triton_server against the real local control plane: idempotence, check, diff, drift, prune, absent, preflight."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from conftest import free_node_port
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]


def snapshot(k8s, namespace: str) -> dict[str, str]:
    """resourceVersion of every object a release could touch in the namespace (and the namespace itself)."""
    core, apps, policy = client.CoreV1Api(k8s), client.AppsV1Api(k8s), client.PolicyV1Api(k8s)
    objects = {"Namespace": core.read_namespace(namespace).metadata.resource_version}
    for kind, listing in (
        ("Deployment", apps.list_namespaced_deployment(namespace)),
        ("Service", core.list_namespaced_service(namespace)),
        ("PodDisruptionBudget", policy.list_namespaced_pod_disruption_budget(namespace)),
        ("ReplicaSet", apps.list_namespaced_replica_set(namespace)),
        ("Pod", core.list_namespaced_pod(namespace)),
    ):
        for item in listing.items:
            objects[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    return objects


def deployment(k8s, namespace: str, name: str):
    return client.AppsV1Api(k8s).read_namespaced_deployment(name, namespace)


def test_create_then_identical_rerun_is_unchanged(runner, k8s, namespace):
    args = dict(
        name="idem",
        namespace=namespace,
        replicas=2,
        pdb_enabled=True,
        service_node_port_http=0,
        service_node_port_grpc=0,
        service_node_port_metrics=0,
        resources={"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"memory": "2Gi"}},
    )
    first = runner.triton(**args)
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True
    assert first["actions"] == {"deployment": "created", "service": "created", "pdb": "created"}
    assert first["rollout"]["complete"] is True
    assert all(pod["node"].startswith("gpu-node-") for pod in first["rollout"]["pods"])
    # nodePorts were allocated by the server and quantities normalised ("0.5" -> "500m", "1024Mi" -> "1Gi"):
    live = deployment(k8s, namespace, "idem-triton")
    requests = live.spec.template.spec.containers[0].resources.requests
    assert requests == {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"}
    before = snapshot(k8s, namespace)

    second = runner.triton(**args)
    assert second["changed"] is False, second["actions"]
    assert set(second["actions"].values()) == {"unchanged"}
    assert snapshot(k8s, namespace) == before


def test_one_value_changed_updates_only_that_object(runner, k8s, namespace):
    assert not runner.triton(name="one", namespace=namespace, pdb_enabled=True).get("failed")
    service_rv = client.CoreV1Api(k8s).read_namespaced_service("one-triton", namespace).metadata.resource_version
    result = runner.triton(name="one", namespace=namespace, pdb_enabled=True, replicas=2)
    assert result["changed"] is True
    assert result["actions"] == {"deployment": "updated", "service": "unchanged", "pdb": "unchanged"}
    assert deployment(k8s, namespace, "one-triton").status.available_replicas == 2
    assert (
        client.CoreV1Api(k8s).read_namespaced_service("one-triton", namespace).metadata.resource_version == service_rv
    )


def test_check_mode_reports_truthfully_and_writes_nothing(runner, k8s, namespace):
    assert not runner.triton(name="chk", namespace=namespace).get("failed")
    before = snapshot(k8s, namespace)

    same = runner.triton(check=True, name="chk", namespace=namespace)
    assert same["changed"] is False, same["actions"]

    changed = runner.triton(
        check=True, diff=True, name="chk", namespace=namespace, env={"LOG_LEVEL": "2"}, pdb_enabled=True
    )
    assert changed["changed"] is True
    assert changed["actions"] == {"deployment": "updated", "service": "unchanged", "pdb": "created"}
    assert snapshot(k8s, namespace) == before
    diff = {d["after_header"]: d for d in changed["diff"]}
    dep = next(d for h, d in diff.items() if h.startswith("Deployment"))
    assert "env" not in dep["before"]["spec"]["template"]["spec"]["containers"][0]
    assert dep["after"]["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "LOG_LEVEL", "value": "2"}]
    assert "managedFields" not in dep["after"]["metadata"]


def test_check_mode_on_a_missing_namespace_writes_nothing(runner, k8s):
    result = runner.triton(check=True, name="ghost", namespace="it-not-there", create_namespace=True)
    assert result["changed"] is True
    assert result["actions"]["namespace"] == "created"
    names = [ns.metadata.name for ns in client.CoreV1Api(k8s).list_namespace().items]
    assert "it-not-there" not in names


def test_drift_is_reported_and_corrected(runner, k8s, namespace):
    assert not runner.triton(name="drift", namespace=namespace).get("failed")
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    apps.patch_namespaced_deployment_scale("drift-triton", namespace, {"spec": {"replicas": 3}})
    apps.patch_namespaced_deployment(
        "drift-triton",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "triton", "image": "example.invalid/x:1"}]}}}},
    )
    core.delete_namespaced_service("drift-triton", namespace)

    result = runner.triton(diff=True, name="drift", namespace=namespace)
    assert result["changed"] is True
    assert result["actions"] == {"deployment": "updated", "service": "created"}
    live = deployment(k8s, namespace, "drift-triton")
    assert live.spec.replicas == 1
    assert live.spec.template.spec.containers[0].image == "nvcr.io/nvidia/tritonserver:26.07-py3"
    dep = next(d for d in result["diff"] if d["after_header"].startswith("Deployment"))
    assert dep["before"]["spec"]["replicas"] == 3 and dep["after"]["spec"]["replicas"] == 1
    assert runner.triton(name="drift", namespace=namespace)["changed"] is False


def test_disabling_the_pdb_deletes_it(runner, k8s, namespace):
    assert not runner.triton(name="pdb", namespace=namespace, pdb_enabled=True, pdb_max_unavailable=1).get("failed")
    pdb = client.PolicyV1Api(k8s).read_namespaced_pod_disruption_budget("pdb-triton", namespace)
    assert pdb.spec.max_unavailable == 1 and pdb.spec.min_available is None
    assert pdb.status.expected_pods == 1  # it selects the Triton pod (the chart's PDB selected nothing)
    result = runner.triton(name="pdb", namespace=namespace)
    assert result["actions"]["pdb"] == "deleted"
    assert client.PolicyV1Api(k8s).list_namespaced_pod_disruption_budget(namespace).items == []


def test_absent_removes_the_release_and_nothing_else(runner, k8s, namespace):
    assert not runner.triton(name="gone", namespace=namespace, pdb_enabled=True).get("failed")
    assert not runner.triton(name="stays", namespace=namespace, use_cpu=True, service_type="ClusterIP").get("failed")
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "unrelated", "labels": {"app.kubernetes.io/instance": "gone"}}}
    )

    result = runner.triton(name="gone", namespace=namespace, state="absent")
    assert result["changed"] is True
    assert set(result["actions"].values()) == {"deleted"}
    left = [k for k in snapshot(k8s, namespace) if "gone-" in k]
    assert left == []
    assert deployment(k8s, namespace, "stays-triton").status.available_replicas == 1
    assert core.read_namespaced_config_map("unrelated", namespace)
    again = runner.triton(name="gone", namespace=namespace, state="absent")
    assert again["changed"] is False


def test_gpu_shortage_fails_in_preflight_before_writing(runner, k8s, namespace):
    before = snapshot(k8s, namespace)
    result = runner.triton(name="big", namespace=namespace, replicas=3, num_gpus=8)
    assert result.get("failed")
    # 2 GPU nodes of 8: at most 2 such pods fit, fewer when other tests hold GPUs.
    assert result["option"] == "num_gpus"
    assert re.search(r"replicas=3 x num_gpus=8: only [0-2] pod\(s\) fit", result["msg"]), result["msg"]
    assert snapshot(k8s, namespace) == before


def test_gpu_shortage_without_preflight_fails_the_wait_with_the_scheduler_reason(runner, namespace):
    result = runner.triton(name="pend", namespace=namespace, num_gpus=9, preflight="skip", wait_timeout=20)
    assert result.get("failed")
    assert "Insufficient nvidia.com/gpu" in result["msg"], result["msg"]
    assert "did not complete within 20s" in result["msg"]


def test_rollback_on_failure_returns_to_the_previous_revision(runner, k8s, namespace):
    assert not runner.triton(name="rb", namespace=namespace, num_gpus=1).get("failed")
    result = runner.triton(
        name="rb", namespace=namespace, num_gpus=9, preflight="skip", wait_timeout=15, rollback_on_failure=True
    )
    assert result.get("failed") and "Rolled back" in result["msg"], result["msg"]
    live = deployment(k8s, namespace, "rb-triton")
    assert live.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"


def test_rollout_undo_puts_back_the_previous_template_and_check_mode_writes_nothing(runner, k8s, namespace):
    def undo(check: bool = False) -> dict:
        report = runner.play(
            [{"name": "undo", "inference.triton.rollout_undo": {"name": "ud-triton", "namespace": namespace}}],
            check=check,
        )
        return report["results"]["undo"]

    assert not runner.triton(name="ud", namespace=namespace, replicas=1).get("failed")
    alone = undo()
    assert alone.get("failed") and "has no revision before 1 to roll back to" in alone["msg"], alone
    assert not runner.triton(name="ud", namespace=namespace, replicas=1, image_tag="26.06-py3").get("failed")

    def image() -> str:
        return deployment(k8s, namespace, "ud-triton").spec.template.spec.containers[0].image

    checked = undo(check=True)
    assert checked["changed"] is True and checked["rollback"] == "1", checked
    assert image().endswith(":26.06-py3")  # a dry run

    done = undo()
    assert done["changed"] is True and done["rollback"] == "1", done
    assert image().endswith(":26.07-py3")
    missing = runner.play(
        [{"name": "undo", "inference.triton.rollout_undo": {"name": "nothing-here", "namespace": namespace}}]
    )["results"]["undo"]
    assert missing["msg"] == f"Deployment {namespace}/nothing-here does not exist", missing


def test_chart_default_values_deploy_and_become_available(runner, k8s, namespace):
    values = yaml.safe_load((REPO / "tests/integration/fixtures/chart-default-values.yaml").read_text())
    result = runner.triton(
        name="example",
        namespace=namespace,
        values=values,
        service_node_port_http=0,
        service_node_port_grpc=0,
        service_node_port_metrics=0,
    )
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True
    live = deployment(k8s, namespace, "example-triton")
    pod = live.spec.template.spec
    assert pod.containers[0].image == "registry.hub.docker.com/instill/tritonserver:22.05-py3"
    assert pod.init_containers[0].image == "registry.hub.docker.com/instill/triton-conda-env:0.2.6-alpha-cpu"
    assert not (pod.containers[0].resources.limits or {}).get("nvidia.com/gpu")  # mode.useCpu: true
    assert (
        runner.triton(
            name="example",
            namespace=namespace,
            values=values,
            service_node_port_http=0,
            service_node_port_grpc=0,
            service_node_port_metrics=0,
        )["changed"]
        is False
    )


def test_values_files_in_check_mode_show_the_merged_options_and_write_nothing(runner, k8s, namespace, tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(
        yaml.safe_dump(
            {
                "replicaCount": 2,
                "mode": {"useCpu": True},
                "service": {"type": "ClusterIP"},
                "image": {"tag": "26.07-py3"},  # already complete: kept, where the chart made 26.07-py3-py3
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"team": "vision"},
            }
        )
    )
    second.write_text("replicaCount: null\nnodeSelector: null\n")  # Helm's null: deletes what a.yaml set
    before = snapshot(k8s, namespace)
    result = runner.triton(
        check=True,
        diff=True,
        name="vals",
        namespace=namespace,
        values_files=[str(first), str(second)],
        values={"podAnnotations": {"tier": "prod"}},
    )
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["actions"]["deployment"] == "created"
    options, origin = result["options"], result["origin"]
    assert options["image_tag"] == "26.07-py3" and origin["image_tag"] == str(first)
    assert options["replicas"] == 1 and "replicas" not in origin  # the collection's default again
    assert options["node_selector"] == {} and "node_selector" not in origin
    assert options["image_pull_secrets"] == ["regcred"] and origin["image_pull_secrets"] == str(first)
    assert options["pod_annotations"] == {"tier": "prod"} and origin["pod_annotations"] == "values"
    assert any(f"{first}: 'image.tag' '26.07-py3' is kept as given" in w for w in result["warnings"])
    dep = next(d for d in result["diff"] if d["after_header"].startswith("Deployment"))
    pod = dep["after"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "nvcr.io/nvidia/tritonserver:26.07-py3"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert snapshot(k8s, namespace) == before


@pytest.mark.parametrize(
    "values, words",
    [
        ({"imagePullSecrets": ["regcred"]}, ["'imagePullSecrets'", "imagePullSecrets: [{name: regcred}]"]),
        ({"image": {"tag": "latest"}}, ["'image.tag' 'latest'", "'latest-py3'"]),
        ({"image": {"tag": "24.05"}, "arch": "arm"}, ["image_tag (from values)", "image.tag: 24.05-py3"]),
    ],
)
def test_bad_chart_values_fail_naming_the_key_and_write_nothing(runner, k8s, namespace, values, words):
    before = snapshot(k8s, namespace)
    result = runner.triton(name="badvals", namespace=namespace, values={"service": {"type": "ClusterIP"}, **values})
    assert result.get("failed"), result
    assert all(word in result["msg"] for word in words), result["msg"]
    assert snapshot(k8s, namespace) == before


def test_cpu_mode_runs_without_gpus(runner, k8s, namespace):
    result = runner.triton(name="cpu", namespace=namespace, use_cpu=True, service_type="ClusterIP")
    assert not result.get("failed"), result.get("msg")
    pod = deployment(k8s, namespace, "cpu-triton").spec.template.spec
    assert "nvidia.com/gpu" not in (pod.containers[0].resources.limits or {})


@pytest.mark.parametrize(
    "args, option",
    [
        ({"service_node_port_http": 29999}, "service_node_port_http"),
        ({"service_node_port_http": 31000, "service_node_port_grpc": 31000}, "service_node_port_grpc"),
        ({"pdb_enabled": True, "pdb_min_available": 1, "pdb_max_unavailable": 1}, "pdb_min_available"),
        ({"model_repository_path": "models"}, "model_repository_path"),
        ({"values": {"image": {"numGPUs": 2}}}, "image.numGPUs"),
        ({"use_cpu": True, "num_gpus": 2}, "num_gpus"),
        ({"num_gpus": -1}, "num_gpus"),
        ({"image_repository": "Triton Server"}, "image_repository"),
        ({"replicas": "many"}, "replicas"),
        ({"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig"),
        ({"context": "no-such-context"}, "context"),
        ({"image_tag": "bad tag"}, "image_tag"),
        ({"image_registry": "bad registry"}, "image_registry"),
        ({"image_pull_secrets": ["Bad_Name"]}, "image_pull_secrets"),
        ({"model_repository_path": "/srv/../etc"}, "model_repository_path"),
        ({"model_repository_type": "object_storage", "model_repository_url": "http://bucket"}, "model_repository_url"),
        ({"service_port_grpc": 8000}, "service_port_grpc"),
        ({"labels": {"bad key!": "x"}}, "labels"),
        ({"load_models": ["resnet"]}, "load_models"),
        ({"server_args": ["--model-repository=/x"]}, "server_args"),
        ({"shm_size": "lots"}, "shm_size"),
        ({"resources": {"requests": {"cpu": "two"}}}, "resources.requests.cpu"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"update_strategy": {"type": "BlueGreen"}}, "update_strategy.type"),
        ({"patches": {"ingress": {}}}, "patches"),
        ({"values": {"replicas": 2}}, "replicas"),
        ({"values": {"arch": "x86"}}, "arch"),
        ({"values": {"mode": {"useCpu": "yes"}}}, "mode.useCpu"),
        ({"name": "Bad_Release"}, "name"),
        ({"liveness_probe": {"initialDelay": 5}}, "liveness_probe"),
        ({"model_repository_type": "pvc", "model_repository_claim": "missing-claim"}, "model_repository_claim"),
        (
            {
                "model_repository_type": "object_storage",
                "model_repository_url": "s3://b/m",
                "model_repository_secret": "missing-secret",
            },
            "model_repository_secret",
        ),
    ],
)
def test_bad_input_fails_naming_the_option_and_writes_nothing(runner, k8s, namespace, args, option):
    before = snapshot(k8s, namespace)
    args = {"name": "bad", **args}
    result = runner.triton(namespace=namespace, **args)
    assert result.get("failed"), result
    assert option in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    assert snapshot(k8s, namespace) == before


def test_node_port_taken_by_another_service_is_refused(runner, k8s, namespace):
    port = free_node_port(k8s)
    client.CoreV1Api(k8s).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "squatter"},
            "spec": {"type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 80, "nodePort": port}]},
        },
    )
    before = snapshot(k8s, namespace)
    result = runner.triton(name="np", namespace=namespace, service_node_port_http=port)
    assert result.get("failed")
    assert "service_node_port_http" in result["msg"] and "squatter" in result["msg"], result["msg"]
    assert snapshot(k8s, namespace) == before


def test_pod_security_restricted_refuses_host_path_but_admits_pvc(runner, k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    before = snapshot(k8s, namespace)
    refused = runner.triton(name="psa", namespace=namespace, use_cpu=True)
    assert refused.get("failed")
    assert "pod-security.kubernetes.io/enforce=restricted" in refused["msg"] and "hostPath" in refused["msg"]
    assert snapshot(k8s, namespace) == before

    # A pre-bound PV/PVC pair: the PV controller binds them, so the pod is schedulable (PVs are not pods:
    # Pod Security does not look at the PV's hostPath).
    core.create_persistent_volume(
        {
            "metadata": {"name": f"{namespace}-models"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "hostPath": {"path": "/tmp/it-models"},
                "persistentVolumeReclaimPolicy": "Retain",
                "claimRef": {"namespace": namespace, "name": "models"},
            },
        },
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": f"{namespace}-models",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    admitted = runner.triton(
        name="psa",
        namespace=namespace,
        use_cpu=True,
        model_repository_type="pvc",
        model_repository_claim="models",
        model_repository_path="/models",
        wait_timeout=60,
    )
    try:
        assert not admitted.get("failed"), admitted.get("msg")
        assert admitted["rollout"]["complete"] is True
    finally:
        core.delete_persistent_volume(f"{namespace}-models")


def test_object_storage_credentials_never_reach_the_output(runner, k8s, namespace):
    secret_value = "s3cr3t-" + str(time.time_ns())
    client.CoreV1Api(k8s).create_namespaced_secret(
        namespace, {"metadata": {"name": "s3-creds"}, "stringData": {"AWS_SECRET_ACCESS_KEY": secret_value}}
    )
    report = runner.play(
        [
            {
                "name": "triton",
                "inference.triton.triton_server": {
                    "name": "s3",
                    "namespace": namespace,
                    "use_cpu": True,
                    "model_repository_type": "object_storage",
                    "model_repository_url": "s3://bucket/models",
                    "model_repository_secret": "s3-creds",
                    # Tests run side by side: the chart's fixed nodePorts would collide with another test's release.
                    **{f"service_node_port_{which}": 0 for which in ("http", "grpc", "metrics")},
                },
            }
        ],
        diff=True,
        verbosity=3,
    )
    assert report["_rc"] == 0, report["_stdout"][-2000:]
    assert not report["results"]["triton"].get("failed"), report["results"]["triton"].get("msg")
    assert secret_value not in report["_stdout"] + report["_stderr"]
    env_from = deployment(k8s, namespace, "s3-triton").spec.template.spec.containers[0].env_from
    assert env_from[0].secret_ref.name == "s3-creds"
