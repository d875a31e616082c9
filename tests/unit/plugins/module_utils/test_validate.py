"""Every validation error names its option, and valid input passes."""

from __future__ import annotations

import inspect
import re

import pytest

from ansible_collections.inference.triton.plugins.module_utils import _validate
from ansible_collections.inference.triton.plugins.module_utils._validate import (
    ValidationError,
    validate,
    validate_release,
)
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options


def check(native=None, values=None):
    native = native or {}
    merged, origin = merge_options(native, [("values", values)] if values else [])
    return validate(merged, origin, native)


def test_defaults_are_valid():
    assert check() == []


@pytest.mark.parametrize(
    "native, option",
    [
        ({"replicas": -1}, "replicas"),
        ({"num_gpus": 0}, "num_gpus"),
        ({"num_gpus": -2}, "num_gpus"),
        ({"use_cpu": True, "num_gpus": 1}, "num_gpus"),
        ({"image_registry": "bad registry"}, "image_registry"),
        ({"image_repository": "Triton"}, "image_repository"),
        ({"image_repository": "a//b"}, "image_repository"),
        ({"image_tag": "bad tag"}, "image_tag"),
        ({"image_tag": ":latest"}, "image_tag"),
        ({"image_arch_tags": {"riscv": "x"}}, "image_arch_tags"),
        ({"image_pull_secrets": ["Bad_Name"]}, "image_pull_secrets"),
        ({"model_repository_path": "models"}, "model_repository_path"),
        ({"model_repository_path": "/srv/../etc"}, "model_repository_path"),
        ({"model_repository_path": "/"}, "model_repository_path"),
        ({"model_repository_type": "pvc"}, "model_repository_claim"),
        ({"model_repository_type": "object_storage"}, "model_repository_url"),
        ({"model_repository_type": "object_storage", "model_repository_url": "http://x"}, "model_repository_url"),
        (
            {"model_repository_type": "pvc", "model_repository_claim": "c", "require_prepared_nodes": True},
            "require_prepared_nodes",
        ),
        ({"conda_pack_source": "host_path", "conda_pack_path": "conda"}, "conda_pack_path"),
        ({"conda_pack_source": "image", "conda_pack_file_name": "a/b.tgz"}, "conda_pack_file_name"),
        ({"service_port_http": 0}, "service_port_http"),
        ({"service_port_grpc": 8000}, "service_port_grpc"),
        ({"service_node_port_http": 29999}, "service_node_port_http"),
        ({"service_node_port_metrics": 32768}, "service_node_port_metrics"),
        ({"service_node_port_grpc": 31000}, "service_node_port_grpc"),
        ({"labels": {"bad key!": "x"}}, "labels"),
        ({"labels": {"ok": "bad value!"}}, "labels"),
        ({"pod_labels": {"a": {"b": 1}}}, "pod_labels"),
        ({"node_selector": {"-bad": "x"}}, "node_selector"),
        (
            {"pdb_enabled": True, "pdb_min_available": 1, "pdb_max_unavailable": 1},
            "pdb_min_available/pdb_max_unavailable",
        ),
        ({"pdb_enabled": True, "pdb_min_available": -1}, "pdb_min_available"),
        ({"pdb_enabled": True, "pdb_max_unavailable": "half"}, "pdb_max_unavailable"),
        ({"load_models": ["resnet"]}, "load_models"),
        ({"model_control_mode": "explicit", "load_models": ["a/b"]}, "load_models"),
        ({"repository_poll_secs": 5}, "repository_poll_secs"),
        ({"model_control_mode": "poll", "repository_poll_secs": 0}, "repository_poll_secs"),
        ({"server_args": ["log-verbose=1"]}, "server_args"),
        ({"server_args": ["--model-repository=/x"]}, "server_args"),
        ({"liveness_probe": {"initialDelay": 5}}, "liveness_probe"),
        ({"startup_probe": {"failureThreshold": -1}}, "startup_probe.failureThreshold"),
        ({"shm_size": "lots"}, "shm_size"),
        ({"shm_size": "-1Gi"}, "shm_size"),
        ({"resources": {"requests": {"cpu": "two"}}}, "resources.requests.cpu"),
        ({"resources": {"limits": {"nvidia.com/gpu": 2}}}, "resources.limits.nvidia.com/gpu"),
        ({"resources": {"request": {"cpu": "1"}}}, "resources"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"env": {"A": ["x"]}}, "env.A"),
        ({"extra_volumes": [{"emptyDir": {}}]}, "extra_volumes"),
        ({"extra_volumes": [{"name": "dshm", "emptyDir": {}}]}, "extra_volumes"),
        ({"extra_volume_mounts": [{"name": "nope", "mountPath": "/x"}]}, "extra_volume_mounts"),
        ({"runtime_class_name": "NVIDIA"}, "runtime_class_name"),
        ({"priority_class_name": "bad_name"}, "priority_class_name"),
        ({"update_strategy": {"type": "BlueGreen"}}, "update_strategy.type"),
        ({"update_strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}}, "update_strategy"),
        ({"patches": {"ingress": {}}}, "patches"),
        ({"patches": {"deployment": {"metadata": {"name": "x"}}}}, "patches.deployment"),
        ({"termination_grace_period_seconds": -5}, "termination_grace_period_seconds"),
        ({"name_override": "Bad_Name"}, "name_override"),
        ({"service_monitor_enabled": True, "service_monitor_labels": {"release": "a b"}}, "service_monitor_labels"),
        ({"tmp_size": "big"}, "tmp_size"),
        ({"model_load_timeout_seconds": 0}, "model_load_timeout_seconds"),
        ({"models": ["add_sub"], "model_control_mode": "poll"}, "model_control_mode"),
        ({"models": ["add_sub"], "load_models": ["identity"]}, "load_models"),
        ({"models": ["a/b"]}, "models"),
        ({"pre_stop_sleep_seconds": -1}, "pre_stop_sleep_seconds"),
        ({"exit_timeout_seconds": "soon"}, "exit_timeout_seconds"),
        ({"termination_grace_period_seconds": 40}, "termination_grace_period_seconds"),
        ({"server_args": ["--exit-timeout-secs=5"]}, "server_args"),
        ({"server_args": ["--grpc-max-connection-age=100"]}, "server_args"),
        ({"tmp_size": "0"}, "tmp_size"),
        ({"extra_volumes": [{"name": "tmp", "emptyDir": {}}]}, "extra_volumes"),
        # /dev/shm is memory charged to the limit: a limit at or below it is refused.
        ({"shm_size": "2Gi", "resources": {"limits": {"memory": "2Gi"}}}, "resources.limits.memory"),
        ({"resources": {"requests": {"cpu": "4"}, "limits": {"cpu": "2"}}}, "resources.requests.cpu"),
        ({"resources": {"limits": {"memory": "1Gi"}}}, "resources.requests.memory"),
        (
            {"tmp_size": "8Gi", "resources": {"limits": {"ephemeral-storage": "6Gi"}}},
            "resources.limits.ephemeral-storage",
        ),
        ({"topology_spread_constraints": [{"maxSkew": 1, "topologyKey": "x"}]}, "topology_spread_constraints[0]"),
        (
            {
                "topology_spread_constraints": [
                    {"maxSkew": 0, "topologyKey": "x", "whenUnsatisfiable": "ScheduleAnyway"}
                ]
            },
            "topology_spread_constraints[0].maxSkew",
        ),
        (
            {"topology_spread_constraints": [{"maxSkew": 1, "topologyKey": "x", "whenUnsatisfiable": "Sometimes"}]},
            "topology_spread_constraints[0].whenUnsatisfiable",
        ),
        ({"service_account_name": "Bad_Name"}, "service_account_name"),
        ({"service_account_annotations": {"iam.gke.io/gcp-service-account": "x"}}, "service_account_annotations"),
        ({"network_policy_from": [{"ports": [8000]}]}, "network_policy_from"),
        ({"network_policy_metrics_from": [{"ipBlock": {"except": []}}]}, "network_policy_metrics_from"),
    ],
)
def test_bad_options_name_the_option(native, option):
    with pytest.raises(ValidationError) as err:
        check(native)
    assert err.value.option.startswith(option), (err.value.option, str(err.value))
    assert str(err.value).startswith(option)


def test_a_grace_period_shorter_than_sleep_plus_exit_timeout_names_the_numbers():
    with pytest.raises(ValidationError) as err:
        check({"pre_stop_sleep_seconds": 20, "exit_timeout_seconds": 30, "termination_grace_period_seconds": 50})
    assert "50s is shorter than pre_stop_sleep_seconds 20s + exit_timeout_seconds 30s + 5s" in str(err.value)
    assert "set at least 55" in str(err.value)
    assert (
        check({"pre_stop_sleep_seconds": 20, "exit_timeout_seconds": 30, "termination_grace_period_seconds": 55}) == []
    )


def test_a_memory_limit_below_shm_names_both_figures():
    with pytest.raises(ValidationError) as err:
        check({"shm_size": "4Gi", "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "3Gi"}}})
    assert "3Gi does not cover shm_size 4Gi" in str(err.value)


def test_a_bigger_shm_raises_the_default_limit_instead_of_failing():
    assert check({"shm_size": "8Gi"}) == []


def test_values_errors_say_where_the_value_came_from():
    with pytest.raises(ValidationError) as err:
        check(values={"service": {"nodePortHttp": 80}})
    assert "service_node_port_http (from values)" in str(err.value)


def test_chart_default_values_pass_even_with_num_gpus_in_cpu_mode():
    assert check(values={"mode": {"useCpu": True}, "image": {"numGpus": 1}}) == []


def test_execution_env_path_on_the_server_is_a_warning_not_an_error():
    # It was refused with conda_pack_source set, as the module set it itself; the module no longer does, and
    # Triton ignores it: the Python backend reads EXECUTION_ENV_PATH from each model's config.pbtxt.
    for source in ("none", "image", "host_path"):
        warnings = check({"conda_pack_source": source, "env": {"EXECUTION_ENV_PATH": "/conda-pack/env.tar.gz"}})
        assert any(w.startswith("env.EXECUTION_ENV_PATH has no effect") and "config.pbtxt" in w for w in warnings)


def test_pdb_blocking_every_eviction_is_a_warning():
    warnings = check({"pdb_enabled": True, "pdb_min_available": 1, "replicas": 1})
    assert any("blocks every voluntary eviction" in w for w in warnings)


@pytest.mark.parametrize(
    "name, namespace, option",
    [("Bad", "ns", "name"), ("a" * 54, "ns", "name"), ("ok", "Bad_NS", "namespace"), ("ok", "", "namespace")],
)
def test_release_names(name, namespace, option):
    with pytest.raises(ValidationError) as err:
        validate_release(name, namespace)
    assert err.value.option == option


@pytest.mark.parametrize(
    "native, values, option",
    [
        ({}, {"arch": "arm", "image": {"tag": "24.05"}}, "image_tag (from values)"),
        ({"arch": "arm64"}, {"image": {"tag": 24.05}}, "image_tag (from values)"),
        ({"arch": "arm64", "image_tag": "24.05-py3-cpu-arm64"}, None, "image_tag"),
        ({"arch": "arm64", "image_arch_tags": {"arm64": "24.05-py3-cpu-arm64"}}, None, "image_arch_tags"),
    ],
)
def test_the_chart_arm64_tag_on_nvidias_image_is_refused_with_the_tag_to_use(native, values, option):
    with pytest.raises(ValidationError) as err:
        check(native, values)
    assert err.value.option == option
    assert "nvcr.io/nvidia/tritonserver:24.05-py3-cpu-arm64 does not exist" in str(err.value)
    assert "image.tag: 24.05-py3 (kept as given), or set image_tag: 24.05-py3" in str(err.value)


@pytest.mark.parametrize(
    "native, values",
    [
        ({"arch": "arm64", "image_tag": "24.05-py3"}, None),
        ({}, {"arch": "arm", "image": {"tag": "24.05-py3"}}),
        ({}, {"arch": "arm", "image": {"tag": "22.05", "registry": "registry.hub.docker.com/instill"}}),
        ({}, {"image": {"tag": "26.07-py3"}}),
    ],
)
def test_tags_that_can_exist_on_arm64_and_kept_tags_pass(native, values):
    assert check(native, values) == []


# One small function per topic; validate() runs them all. Each is shown on its own: it refuses its bad input,
# naming the option, and passes the collection's defaults.
TOPICS = {
    "check_choices": [({}, {"image": {"pullPolicy": "Sometimes"}}, "image_pull_policy (from values)")],
    "check_counts": [({"replicas": -1}, None, "replicas"), ({"model_load_timeout_seconds": 0}, None, "model_load")],
    "check_names": [({"fullname_override": "Bad_Name"}, None, "fullname_override")],
    "check_class_names": [({"runtime_class_name": "NVIDIA"}, None, "runtime_class_name")],
    "check_images": [
        ({"image_tag": "bad tag"}, None, "image_tag"),
        ({"image_pull_secrets": ["A"]}, None, "image_pull"),
    ],
    "check_storage": [({"model_repository_type": "pvc"}, None, "model_repository_claim")],
    "check_service": [({"service_port_grpc": 8000}, None, "service_port_grpc")],
    "check_placement": [({"labels": {"bad key!": "x"}}, None, "labels"), ({}, {"affinity": []}, "affinity")],
    "check_models": [({"load_models": ["resnet"]}, None, "load_models")],
    "check_server_args": [({"server_args": ["--load-model=x"]}, None, "server_args")],
    "check_shutdown": [({"termination_grace_period_seconds": 40}, None, "termination_grace_period_seconds")],
    "check_probes": [({"readiness_probe": {"periodSeconds": -1}}, None, "readiness_probe.periodSeconds")],
    "check_sizes": [({"shm_size": "lots"}, None, "shm_size")],
    "check_hardening": [({"service_account_name": "Bad_Name"}, None, "service_account_name")],
    "check_volumes": [({"extra_volume_mounts": [{"name": "x"}]}, None, "extra_volume_mounts")],
    "check_update_strategy": [({"update_strategy": {"type": "BlueGreen"}}, None, "update_strategy.type")],
    "check_patches": [({"patches": {"ingress": {}}}, None, "patches")],
    "check_openshift": [
        ({"openshift": True}, None, "model_repository_type"),
        ({"route_enabled": True, "route_port": "grpc", "route_tls": "edge"}, None, "route_port"),
    ],
    "check_service_monitor": [
        ({"service_monitor_enabled": True, "service_monitor_labels": {"a": "b c"}}, None, "service_monitor_labels")
    ],
}
WARNING_TOPICS = {"check_pdb", "check_env", "check_security_context"}


def merged(native=None, values=None):
    native = native or {}
    options, origin = merge_options(native, [("values", values)] if values else [])
    return options, origin, native


def run_topic(name, options, origin, native):
    function = getattr(_validate, name)
    if name == "check_gpus":
        return function(options, origin, native)
    parameters = function.__code__.co_varnames[: function.__code__.co_argcount]
    return function(options, origin) if "origin" in parameters else function(options)


@pytest.mark.parametrize(
    "name, native, values, option",
    [(name, native, values, option) for name, cases in TOPICS.items() for native, values, option in cases],
)
def test_each_topic_refuses_its_bad_input(name, native, values, option):
    with pytest.raises(ValidationError) as err:
        run_topic(name, *merged(native, values))
    assert err.value.option.startswith(option), str(err.value)


@pytest.mark.parametrize("name", sorted([*TOPICS, *WARNING_TOPICS, "check_gpus"]))
def test_each_topic_passes_the_defaults(name):
    assert not run_topic(name, *merged())


def test_the_topics_are_every_check_that_validate_runs():
    source = inspect.getsource(_validate.validate)
    called = set(re.findall(r"\b(check_[a-z_]+)\(", source))
    assert called == {*TOPICS, *WARNING_TOPICS, "check_gpus"}
    assert all(len(inspect.getsource(getattr(_validate, name)).splitlines()) < 60 for name in called)


def test_gpus_in_cpu_mode_only_refused_when_asked_for_as_an_option():
    with pytest.raises(ValidationError, match="asks for 2 GPU"):
        _validate.check_gpus(*merged({"use_cpu": True, "num_gpus": 2}))
    _validate.check_gpus(*merged(None, {"mode": {"useCpu": True}, "image": {"numGpus": 2}}))
    with pytest.raises(ValidationError, match="must be at least 1 in GPU mode"):
        _validate.check_gpus(*merged({"num_gpus": 0}))


@pytest.mark.parametrize(
    "values, option, message",
    [
        ({"image": {"pullPolicy": "Sometimes"}}, "image_pull_policy", "must be Always, IfNotPresent or Never"),
        ({"tritonEnv": {"pullPolicy": "always"}}, "conda_env_pull_policy", "must be Always, IfNotPresent or Never"),
        ({"service": {"type": "Ingress"}}, "service_type", "must be ClusterIP, NodePort or LoadBalancer"),
    ],
)
def test_choices_from_a_values_file_are_checked_against_the_table(values, option, message):
    with pytest.raises(ValidationError) as err:
        _validate.check_choices(*merged(None, values)[:2])
    assert err.value.option == f"{option} (from values)"
    assert message in str(err.value)


def test_choices_of_native_options_are_left_to_the_argument_spec():
    """The argument spec checked them before: not a second time."""
    options, origin, _native = merged({"service_type": "ClusterIP"})
    options["service_type"] = "checked-before"
    _validate.check_choices(options, origin)


def test_warnings_come_from_their_topics():
    assert _validate.check_pdb(*merged({"pdb_enabled": True, "replicas": 1})[:2])
    assert _validate.check_env(merged({"env": {"EXECUTION_ENV_PATH": "/x"}})[0])
    assert _validate.check_security_context(merged({"pod_security_context": {"runAsUser": 0}})[0])
