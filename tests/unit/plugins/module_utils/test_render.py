"""Rendering: one template per object, every option reaches its field, nothing random, the chart's bugs fixed."""

from __future__ import annotations

import pytest

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options


def objects(native=None, values=None, release="demo", namespace="ml"):
    merged = merge_options(native or {}, [("values", values)] if values else [])[0]
    return render(release, namespace, merged)


def pod_spec(native=None, values=None):
    return objects(native, values)["deployment"]["spec"]["template"]["spec"]


def container(native=None, values=None):
    return pod_spec(native, values)["containers"][0]


def test_rendering_is_deterministic():
    assert objects({"replicas": 3, "pdb_enabled": True}) == objects({"replicas": 3, "pdb_enabled": True})


def test_defaults_render_deployment_and_service_only():
    rendered = objects()
    assert list(rendered) == ["deployment", "service"]
    assert rendered["deployment"]["metadata"]["name"] == "demo-triton"
    assert rendered["deployment"]["metadata"]["namespace"] == "ml"
    assert "annotations" not in rendered["deployment"]["metadata"]  # no random rollme annotation


def test_pdb_uses_policy_v1_and_selects_the_pods():
    rendered = objects({"pdb_enabled": True})
    pdb = rendered["pdb"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": rendered["deployment"]["spec"]["selector"]["matchLabels"]},
    }
    pod_labels = rendered["deployment"]["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())


@pytest.mark.parametrize("value", [0, 2, "50%"])
def test_pdb_max_unavailable_alone(value):
    pdb = objects({"pdb_enabled": True, "pdb_max_unavailable": value})["pdb"]
    assert pdb["spec"]["maxUnavailable"] == value and "minAvailable" not in pdb["spec"]


def test_pdb_min_available_zero_is_kept():
    assert objects({"pdb_enabled": True, "pdb_min_available": 0})["pdb"]["spec"]["minAvailable"] == 0


def test_pod_annotations_reach_the_pods():
    rendered = objects(values={"podAnnotations": {"prometheus.io/scrape": "true"}})
    assert rendered["deployment"]["spec"]["template"]["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}


@pytest.mark.parametrize("arch, values_arch", [("amd64", "amd"), ("arm64", "arm"), ("arm64", "arm64")])
def test_arch_selects_nodes(arch, values_arch):
    assert pod_spec(values={"arch": values_arch})["nodeSelector"]["kubernetes.io/arch"] == arch


def test_image_arch_tags_pick_the_variant():
    assert container({"arch": "arm64", "image_arch_tags": {"arm64": "26.07-py3-igpu"}})["image"].endswith(
        ":26.07-py3-igpu"
    )


def test_gpu_mode_limits_gpus_as_a_string_and_tolerates_the_gpu_taint():
    spec = pod_spec({"num_gpus": 2})
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


def test_cpu_mode_has_no_gpu_limit_or_toleration():
    spec = pod_spec({"use_cpu": True, "resources": {"requests": {"cpu": 2}}})
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "1Gi"},
        "limits": {"ephemeral-storage": "5Gi", "memory": "3Gi"},
    }
    assert "tolerations" not in spec


@pytest.mark.parametrize(
    ("native", "requests", "limits"),
    [
        # One GPU: KServe's per-server requests; memory limit = request + the 1Gi /dev/shm; no CPU limit.
        (
            {},
            {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "1Gi"},
            {"ephemeral-storage": "5Gi", "memory": "3Gi", "nvidia.com/gpu": "1"},
        ),
        # Per GPU: 4 GPUs ask 4 cores and 8Gi; a bigger shm and /tmp raise the limits with them.
        (
            {"num_gpus": 4, "shm_size": "512Mi", "tmp_size": "10Gi"},
            {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "1Gi"},
            {"ephemeral-storage": "11Gi", "memory": "8704Mi", "nvidia.com/gpu": "4"},
        ),
        # A CPU release counts once, whatever num_gpus says.
        (
            {"use_cpu": True, "num_gpus": 4},
            {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "1Gi"},
            {"ephemeral-storage": "5Gi", "memory": "3Gi"},
        ),
        # A user's request moves the derived memory limit; a fractional CPU renders in millicores.
        (
            {"use_cpu": True, "resources": {"requests": {"cpu": 0.5, "memory": "256Mi"}}},
            {"cpu": "0.5", "memory": "256Mi", "ephemeral-storage": "1Gi"},
            {"ephemeral-storage": "5Gi", "memory": "1280Mi"},
        ),
        # A user's limit wins; null removes a default (here the ephemeral-storage pair and every request).
        (
            {"use_cpu": True, "resources": {"requests": None, "limits": {"memory": "6Gi", "ephemeral-storage": None}}},
            None,
            {"memory": "6Gi"},
        ),
    ],
)
def test_resources_by_default_and_merged_over(native, requests, limits):
    resources = container(native)["resources"]
    assert resources.get("requests") == requests
    assert resources["limits"] == limits


def test_root_filesystem_is_read_only_with_a_sized_tmp():
    spec = pod_spec({"tmp_size": "2Gi"})
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}} in spec["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in spec["containers"][0]["volumeMounts"]
    writable = pod_spec({"read_only_root_filesystem": False})
    assert writable["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False


SELECTOR = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "demo"}


def test_replicas_spread_over_nodes_per_revision_and_can_be_replaced():
    spread = pod_spec({"replicas": 3})["topologySpreadConstraints"]
    assert spread == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "demo"}
            },
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]
    zone = {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
    assert pod_spec({"topology_spread_constraints": [zone]})["topologySpreadConstraints"] == [zone]
    assert "topologySpreadConstraints" not in pod_spec({"topology_spread_constraints": []})


def test_no_service_account_token_and_an_optional_service_account_of_its_own():
    spec = pod_spec()
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "default"  # named, so that turning an account off takes effect
    assert pod_spec({"service_account_name": "s3-reader"})["serviceAccountName"] == "s3-reader"
    irsa = {"eks.amazonaws.com/role-arn": "arn"}
    rendered = objects({"service_account_create": True, "service_account_annotations": irsa})
    assert list(rendered) == ["service_account", "deployment", "service"]
    account = rendered["service_account"]
    assert account["metadata"]["name"] == "demo-triton"
    assert account["metadata"]["annotations"] == irsa
    assert account["automountServiceAccountToken"] is False
    assert rendered["deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "demo-triton"


def test_network_policy_admits_inference_and_metrics_sources_separately():
    policy = objects({"network_policy_enabled": True})["network_policy"]
    assert policy["spec"]["podSelector"]["matchLabels"] == SELECTOR
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    inference, metrics = policy["spec"]["ingress"]
    assert inference == {
        "ports": [{"port": 8000, "protocol": "TCP"}, {"port": 8001, "protocol": "TCP"}],
        "from": [{"podSelector": {}}],
    }
    assert metrics["ports"] == [{"port": 8002, "protocol": "TCP"}]
    assert metrics["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    clients = [{"ipBlock": {"cidr": "198.18.0.0/24"}}]
    opened = objects(
        {"network_policy_enabled": True, "network_policy_from": clients, "network_policy_metrics_from": []}
    )
    inference, metrics = opened["network_policy"]["spec"]["ingress"]
    assert inference["from"] == clients
    assert "from" not in metrics  # NetworkPolicy's "from anywhere"


def test_security_defaults_are_restricted_compliant():
    spec = pod_spec()
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


def test_host_path_model_repository_is_mounted_read_only_at_the_same_path():
    spec = pod_spec({"model_repository_path": "/srv/models"})
    assert {"name": "models", "hostPath": {"path": "/srv/models", "type": "Directory"}} in spec["volumes"]
    assert {"name": "models", "mountPath": "/srv/models", "readOnly": True} in spec["containers"][0]["volumeMounts"]
    assert "--model-repository=/srv/models" in spec["containers"][0]["args"]


def test_pvc_model_repository():
    spec = pod_spec(
        {"model_repository_type": "pvc", "model_repository_claim": "models", "model_repository_path": "/models"}
    )
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}} in spec["volumes"]


def test_object_storage_takes_credentials_from_the_secret_by_reference():
    c = container(
        {
            "model_repository_type": "object_storage",
            "model_repository_url": "s3://b/m",
            "model_repository_secret": "creds",
        }
    )
    assert "--model-repository=s3://b/m" in c["args"]
    assert c["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert all(
        v["name"] != "models"
        for v in pod_spec({"model_repository_type": "object_storage", "model_repository_url": "gs://b"})["volumes"]
    )


def test_shm_is_memory_backed_with_the_given_size():
    spec = pod_spec({"shm_size": "4Gi"})
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}} in spec["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in spec["containers"][0]["volumeMounts"]


def test_conda_pack_from_the_env_image_needs_no_root_and_no_host_path():
    spec = pod_spec(values={"tritonEnv": {"tag": "0.2.6-alpha"}})
    init = spec["initContainers"][0]
    assert init["image"] == "registry.hub.docker.com/instill/triton-conda-env:0.2.6-alpha-cpu"
    assert init["securityContext"]["allowPrivilegeEscalation"] is False and "runAsUser" not in init["securityContext"]
    assert {"name": "conda-pack", "emptyDir": {}} in spec["volumes"]
    assert init["command"] == ["/bin/sh", "-c", 'cp "/conda-pack/python-3-8.tar.gz" /conda-pack-target/']
    assert {"name": "conda-pack", "mountPath": "/conda-pack", "readOnly": True} in spec["containers"][0]["volumeMounts"]


def test_conda_pack_sets_no_server_environment():
    # Deliberately unlike the chart: Triton's Python backend reads EXECUTION_ENV_PATH only from a model's
    # config.pbtxt parameters, so the variable on the server did nothing. Models name the tarball themselves.
    for native in ({"conda_pack_source": "image"}, {"conda_pack_source": "host_path"}):
        assert "env" not in container(native)


def test_conda_pack_from_the_node_mounts_the_folder_read_only():
    spec = pod_spec({"conda_pack_source": "host_path", "conda_pack_path": "/srv/conda-pack"})
    assert {"name": "conda-pack", "hostPath": {"path": "/srv/conda-pack", "type": "Directory"}} in spec["volumes"]
    mount = {"name": "conda-pack", "mountPath": "/srv/conda-pack", "readOnly": True}
    assert mount in spec["containers"][0]["volumeMounts"]
    assert "initContainers" not in spec


def test_env_values_are_strings():
    env = container(
        {"env": {"A": 1, "B": True, "C": "x", "D": {"valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}}}
    )["env"]
    assert env == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "true"},
        {"name": "C", "value": "x"},
        {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]


@pytest.mark.parametrize(
    "native, expected",
    [
        ({}, ["--model-control-mode=none"]),
        ({"model_control_mode": "explicit", "load_models": ["a", "b"]}, ["--load-model=a", "--load-model=b"]),
        ({"model_control_mode": "poll", "repository_poll_secs": 5}, ["--repository-poll-secs=5"]),
        ({"server_args": ["--log-verbose=1"]}, ["--log-verbose=1"]),
    ],
)
def test_server_arguments(native, expected):
    args = container(native)["args"]
    assert args[0] == "tritonserver"
    assert all(arg in args for arg in expected)


def test_probes_default_and_override():
    c = container({"startup_probe": {"failureThreshold": 120}, "liveness_probe": {"enabled": False}})
    assert c["startupProbe"]["failureThreshold"] == 120 and c["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "livenessProbe" not in c
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_service_ports_and_node_ports():
    service = objects({"service_node_port_grpc": 0})["service"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["http"] == {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "nodePort": 31000}
    assert "nodePort" not in ports["grpc"]
    cluster_ip = objects({"service_type": "ClusterIP"})["service"]
    assert all("nodePort" not in p for p in cluster_ip["spec"]["ports"])
    # As the chart: a LoadBalancer's nodePorts are left to the API server, even with the default 31000-31002.
    balancer = objects({"service_type": "LoadBalancer"})["service"]
    assert balancer["spec"]["type"] == "LoadBalancer"
    assert all("nodePort" not in p for p in balancer["spec"]["ports"])


def test_prepared_nodes_selector():
    assert pod_spec({"require_prepared_nodes": True})["nodeSelector"]["inference.triton/model-repository"] == "ready"


def test_names_follow_the_chart_rules():
    assert objects(release="triton-prod")["deployment"]["metadata"]["name"] == "triton-prod"
    assert objects({"fullname_override": "tis"})["deployment"]["metadata"]["name"] == "tis"
    assert (
        objects({"name_override": "triton-backend"}, release="example")["deployment"]["metadata"]["name"]
        == "example-triton-backend"
    )


def test_extra_labels_annotations_and_scheduling():
    rendered = objects(
        {
            "labels": {"team": "ml"},
            "annotations": {"owner": "ml@example.com"},
            "pod_labels": {"tier": "gpu"},
            "priority_class_name": "high",
            "runtime_class_name": "nvidia",
            "termination_grace_period_seconds": 90,
            "update_strategy": {"type": "Recreate"},
            "image_pull_secrets": ["regcred"],
            "affinity": {"podAntiAffinity": {}},
        }
    )
    dep = rendered["deployment"]
    assert dep["metadata"]["labels"]["team"] == "ml" and rendered["service"]["metadata"]["labels"]["team"] == "ml"
    assert dep["metadata"]["annotations"] == {"owner": "ml@example.com"}
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["template"]["metadata"]["labels"]["tier"] == "gpu"
    assert spec["priorityClassName"] == "high" and spec["runtimeClassName"] == "nvidia"
    assert spec["terminationGracePeriodSeconds"] == 90 and dep["spec"]["strategy"] == {"type": "Recreate"}
    assert spec["imagePullSecrets"] == [{"name": "regcred"}] and spec["affinity"] == {"podAntiAffinity": {}}
    assert "team" not in dep["spec"]["selector"]["matchLabels"]


def test_patches_merge_and_delete():
    rendered = objects(
        {"patches": {"deployment": {"spec": {"revisionHistoryLimit": 3, "template": {"spec": {"tolerations": None}}}}}}
    )
    assert rendered["deployment"]["spec"]["revisionHistoryLimit"] == 3
    assert "tolerations" not in rendered["deployment"]["spec"]["template"]["spec"]


def test_service_monitor():
    monitor = objects({"service_monitor_enabled": True, "service_monitor_labels": {"release": "prom"}})[
        "service_monitor"
    ]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]


def test_shutdown_defaults_sleep_then_exit_within_the_grace_period():
    spec = pod_spec()
    c = spec["containers"][0]
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 15}}}
    assert "--exit-timeout-secs=30" in c["args"]
    # gRPC connections get GOAWAY after 40% of the sleep and 20% more for calls in flight: all gone before SIGTERM.
    assert "--grpc-max-connection-age=6000" in c["args"] and "--grpc-max-connection-age-grace=3000" in c["args"]
    assert spec["terminationGracePeriodSeconds"] == 60  # 15 + 30 + 15


def test_shutdown_options_move_the_derived_values_and_zero_removes_the_hook():
    spec = pod_spec({"pre_stop_sleep_seconds": 40, "exit_timeout_seconds": 120})
    c = spec["containers"][0]
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == 40
    assert "--exit-timeout-secs=120" in c["args"] and "--grpc-max-connection-age=16000" in c["args"]
    assert spec["terminationGracePeriodSeconds"] == 175
    bare = pod_spec({"pre_stop_sleep_seconds": 0, "termination_grace_period_seconds": 45})
    assert "lifecycle" not in bare["containers"][0]
    assert not [a for a in bare["containers"][0]["args"] if a.startswith("--grpc-max-connection-age")]
    assert bare["terminationGracePeriodSeconds"] == 45


def test_declared_models_load_in_explicit_mode():
    args = container({"models": ["add_sub", "identity"]})["args"]
    assert "--model-control-mode=explicit" in args
    assert [a for a in args if a.startswith("--load-model")] == ["--load-model=add_sub", "--load-model=identity"]


def test_a_model_repository_revision_is_a_pod_template_annotation():
    assert "inference.triton/model-repository-revision" not in (
        objects()["deployment"]["spec"]["template"]["metadata"].get("annotations") or {}
    )
    annotations = objects({"model_repository_revision": "abc123", "pod_annotations": {"team": "ml"}})["deployment"][
        "spec"
    ]["template"]["metadata"]["annotations"]
    assert annotations == {"team": "ml", "inference.triton/model-repository-revision": "abc123"}


def test_an_unset_revision_keeps_the_live_one_and_a_set_one_is_not_touched():
    from ansible_collections.inference.triton.plugins.module_utils._release import keep_revision

    live = {"spec": {"template": {"metadata": {"annotations": {"inference.triton/model-repository-revision": "r1"}}}}}
    manifest = objects()["deployment"]
    keep_revision(manifest, live)
    assert manifest["spec"]["template"]["metadata"]["annotations"]["inference.triton/model-repository-revision"] == "r1"
    untouched = objects()["deployment"]
    keep_revision(untouched, {"spec": {"template": {"metadata": {}}}})
    assert "annotations" not in untouched["spec"]["template"]["metadata"]


@pytest.mark.parametrize(
    ("native", "threshold", "period"),
    [
        ({}, 60, 10),  # 600 s by default
        ({"model_load_timeout_seconds": 1800}, 180, 10),
        ({"model_load_timeout_seconds": 95}, 10, 10),  # rounded up: never less than asked
        ({"model_load_timeout_seconds": 300, "startup_probe": {"periodSeconds": 30}}, 10, 30),
        ({"startup_probe": {"failureThreshold": 7}}, 7, 10),  # the probe's own value wins
    ],
)
def test_the_startup_probe_allows_the_longest_model_load(native, threshold, period):
    probe = container(native)["startupProbe"]
    assert (probe["failureThreshold"], probe["periodSeconds"]) == (threshold, period)
