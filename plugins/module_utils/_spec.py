# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Argument spec of triton_server, shared by the module and its action plugin (which validates first)."""

from __future__ import annotations

from typing import Any

from ._client import AUTH_ARG_SPEC

_ARCHES = ["amd64", "arm64"]
_PULL = ["Always", "IfNotPresent", "Never"]


def _opt(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, **extra}


# Chart-equivalent and beyond-chart options: no argspec default, so the merge can tell "not set" apart and
# let values files fill them. Their defaults live in _values.DEFAULTS (and in the documentation).
TRITON_OPTIONS: dict[str, dict[str, Any]] = {
    "name_override": _opt("str"),
    "fullname_override": _opt("str"),
    "replicas": _opt("int"),
    "image_registry": _opt("str"),
    "image_repository": _opt("str"),
    "image_tag": _opt("str"),
    "image_pull_policy": _opt("str", choices=_PULL),
    "image_arch_tags": _opt("dict"),
    "image_pull_secrets": _opt("list", elements="str", no_log=False),  # Secret names, not secrets
    "arch": _opt("str", choices=_ARCHES),
    "use_cpu": _opt("bool"),
    "num_gpus": _opt("int"),
    "model_repository_type": _opt("str", choices=["host_path", "pvc", "object_storage"]),
    "model_repository_path": _opt("str"),
    "model_repository_host_path_type": _opt("str", choices=["Directory", "DirectoryOrCreate"]),
    "model_repository_claim": _opt("str"),
    "model_repository_url": _opt("str"),
    "model_repository_secret": _opt("str", no_log=False),  # a Secret name, never its data
    "require_prepared_nodes": _opt("bool"),
    "conda_pack_source": _opt("str", choices=["none", "image", "host_path"]),
    "conda_pack_path": _opt("str"),
    "conda_pack_file_name": _opt("str"),
    "conda_env_registry": _opt("str"),
    "conda_env_repository": _opt("str"),
    "conda_env_tag": _opt("str"),
    "conda_env_pull_policy": _opt("str", choices=_PULL),
    "service_type": _opt("str", choices=["ClusterIP", "NodePort", "LoadBalancer"]),
    "service_port_http": _opt("int"),
    "service_port_grpc": _opt("int"),
    "service_port_metrics": _opt("int"),
    "service_node_port_http": _opt("int"),
    "service_node_port_grpc": _opt("int"),
    "service_node_port_metrics": _opt("int"),
    "node_selector": _opt("dict"),
    "tolerations": _opt("list", elements="dict"),
    "affinity": _opt("dict"),
    "labels": _opt("dict"),
    "annotations": _opt("dict"),
    "pod_labels": _opt("dict"),
    "pod_annotations": _opt("dict"),
    "resources": _opt("dict"),
    "model_control_mode": _opt("str", choices=["none", "poll", "explicit"]),
    "load_models": _opt("list", elements="str"),
    "models": _opt("list", elements="str"),
    "model_repository_revision": _opt("str"),
    "repository_poll_secs": _opt("int"),
    "server_args": _opt("list", elements="str"),
    "liveness_probe": _opt("dict"),
    "readiness_probe": _opt("dict"),
    "startup_probe": _opt("dict"),
    "model_load_timeout_seconds": _opt("int"),
    "shm_size": _opt("str"),
    "env": _opt("dict"),
    "extra_volumes": _opt("list", elements="dict"),
    "extra_volume_mounts": _opt("list", elements="dict"),
    "runtime_class_name": _opt("str"),
    "priority_class_name": _opt("str"),
    "termination_grace_period_seconds": _opt("int"),
    "pre_stop_sleep_seconds": _opt("int"),
    "exit_timeout_seconds": _opt("int"),
    "update_strategy": _opt("dict"),
    "gpu_rollout": _opt("str", choices=["auto", "surge"]),
    "pod_security_context": _opt("dict"),
    "security_context": _opt("dict"),
    "read_only_root_filesystem": _opt("bool"),
    "tmp_size": _opt("str"),
    "topology_spread_constraints": _opt("list", elements="dict"),
    "automount_service_account_token": _opt("bool"),
    "service_account_name": _opt("str"),
    "service_account_create": _opt("bool"),
    "service_account_annotations": _opt("dict"),
    "network_policy_enabled": _opt("bool"),
    "network_policy_from": _opt("list", elements="dict"),
    "network_policy_metrics_from": _opt("list", elements="dict"),
    "pdb_enabled": _opt("bool"),
    "pdb_min_available": _opt("raw"),
    "pdb_max_unavailable": _opt("raw"),
    "service_monitor_enabled": _opt("bool"),
    "service_monitor_interval": _opt("str"),
    "service_monitor_labels": _opt("dict"),
    "patches": _opt("dict"),
}

RELEASE_OPTIONS: dict[str, dict[str, Any]] = {
    "name": _opt("str", required=True, aliases=["release_name"]),
    "namespace": _opt("str", default="default", aliases=["release_namespace"]),
    "create_namespace": _opt("bool", default=False),
    "state": _opt("str", default="present", choices=["present", "absent"]),
    "values": _opt("dict", default={}, aliases=["release_values"]),
    "values_files": _opt("list", elements="path", default=[]),
    "wait": _opt("bool", default=True),
    "wait_timeout": _opt("int", default=600),
    "rollback_on_failure": _opt("bool", default=False),
    "preflight": _opt("str", default="fail", choices=["fail", "warn", "skip"]),
    "force_conflicts": _opt("bool", default=True),
    "adopt_helm_release": _opt("bool", default=False),
    # Set by the action plugin: the rendered manifests and merged options. Not for users.
    "plan": _opt("dict"),
}


def auth_spec() -> dict[str, dict[str, Any]]:
    """AUTH_ARG_SPEC with its environment fallbacks in AnsibleModule's form."""
    from ansible.module_utils.basic import env_fallback

    spec = {}
    for name, option in AUTH_ARG_SPEC.items():
        option = dict(option)
        if "fallback" in option:
            option["fallback"] = (env_fallback, option["fallback"][1])
        spec[name] = option
    return spec


def argument_spec() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {}
    spec.update(auth_spec())
    spec.update(RELEASE_OPTIONS)
    spec.update(TRITON_OPTIONS)
    return spec
