# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Helm ``values.yaml`` of the ``triton-backend`` chart -> module options, and the merge order.

Precedence, lowest to highest: the collection's defaults, then ``values_files`` in order, then ``values``,
then the module's own snake_case options. This is Helm's order (``-f`` files, then ``--set``), with the native
options playing the part of ``--set``.
"""

from __future__ import annotations

import difflib
from typing import Any

# The collection's defaults for every option that a chart value or a native option can set.
DEFAULTS: dict[str, Any] = {
    "name_override": None,
    "fullname_override": None,
    "replicas": 1,
    "image_registry": "nvcr.io/nvidia",
    "image_repository": "tritonserver",
    "image_tag": "26.07-py3",
    "image_pull_policy": "IfNotPresent",
    "image_arch_tags": {},
    "image_pull_secrets": [],
    "arch": "amd64",
    "use_cpu": False,
    "num_gpus": 1,
    "model_repository_type": "host_path",
    "model_repository_path": "/model-repository",
    "model_repository_host_path_type": "Directory",
    "model_repository_claim": None,
    "model_repository_url": None,
    "model_repository_secret": None,
    "require_prepared_nodes": False,
    "conda_pack_source": "none",
    "conda_pack_path": "/conda-pack",
    "conda_pack_file_name": "python-3-8.tar.gz",
    "conda_env_registry": "registry.hub.docker.com/instill",
    "conda_env_repository": "triton-conda-env",
    "conda_env_tag": "0.2.6-alpha-cpu",
    "conda_env_pull_policy": "IfNotPresent",
    "service_type": "NodePort",
    "service_port_http": 8000,
    "service_port_grpc": 8001,
    "service_port_metrics": 8002,
    "service_node_port_http": 31000,
    "service_node_port_grpc": 31001,
    "service_node_port_metrics": 31002,
    "node_selector": {},
    "tolerations": [],
    "affinity": {},
    "labels": {},
    "annotations": {},
    "pod_labels": {},
    "pod_annotations": {},
    "resources": {},
    "model_control_mode": "none",
    "load_models": [],
    "repository_poll_secs": None,
    "server_args": [],
    "liveness_probe": {},
    "readiness_probe": {},
    "startup_probe": {},
    "shm_size": "1Gi",
    "env": {},
    "extra_volumes": [],
    "extra_volume_mounts": [],
    "runtime_class_name": None,
    "priority_class_name": None,
    "termination_grace_period_seconds": 60,
    "update_strategy": {},
    "pod_security_context": {},
    "security_context": {},
    "pdb_enabled": False,
    "pdb_min_available": None,
    "pdb_max_unavailable": None,
    "service_monitor_enabled": False,
    "service_monitor_interval": "15s",
    "service_monitor_labels": {},
    "patches": {},
}

# Chart value path -> option name. Every key of the chart's values table is here.
CHART_KEYS: dict[str, str] = {
    "nameOverride": "name_override",
    "fullnameOverride": "fullname_override",
    "replicaCount": "replicas",
    "imagePullSecrets": "image_pull_secrets",
    "arch": "arch",
    "mode.useCpu": "use_cpu",
    "tritonEnv.registry": "conda_env_registry",
    "tritonEnv.repository": "conda_env_repository",
    "tritonEnv.tag": "conda_env_tag",
    "tritonEnv.pullPolicy": "conda_env_pull_policy",
    "image.registry": "image_registry",
    "image.repository": "image_repository",
    "image.tag": "image_tag",
    "image.pullPolicy": "image_pull_policy",
    "image.modelRepositoryPath": "model_repository_path",
    "image.condaPackPath": "conda_pack_path",
    "image.condaPackFileName": "conda_pack_file_name",
    "image.numGpus": "num_gpus",
    "service.type": "service_type",
    "service.portHttp": "service_port_http",
    "service.portGrpc": "service_port_grpc",
    "service.portMetrics": "service_port_metrics",
    "service.nodePortHttp": "service_node_port_http",
    "service.nodePortGrpc": "service_node_port_grpc",
    "service.nodePortMetrics": "service_node_port_metrics",
    "nodeSelector": "node_selector",
    "tolerations": "tolerations",
    "affinity": "affinity",
    "podAnnotations": "pod_annotations",
    "podDisruptionBudget.enabled": "pdb_enabled",
    "podDisruptionBudget.minAvailable": "pdb_min_available",
    "podDisruptionBudget.maxUnavailable": "pdb_max_unavailable",
}
# Values whose content is a free-form object: their sub-keys are not checked.
_OPAQUE = {"nodeSelector", "tolerations", "affinity", "podAnnotations", "imagePullSecrets"}
_GROUPS = {key.split(".", 1)[0] for key in CHART_KEYS if "." in key}
_CHART_ARCH = {"amd": "amd64", "amd64": "amd64", "arm": "arm64", "arm64": "arm64"}


class ValuesError(ValueError):
    """A Helm values document that cannot be taken as it is; the message names the key."""


def flatten_values(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Flatten a chart-shaped values document to ``{"image.tag": ...}``, refusing unknown keys.

    ``null`` means "not set" as in Helm, so such keys are left out.
    """
    if not isinstance(values, dict):
        raise ValuesError(f"{source}: a values document must be a mapping, got {type(values).__name__}")
    flat: dict[str, Any] = {}
    for key, value in values.items():
        key = str(key)
        if key in _GROUPS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ValuesError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
            for sub, sub_value in value.items():
                path = f"{key}.{sub}"
                if path not in CHART_KEYS:
                    raise ValuesError(f"{source}: unknown key '{path}'{_suggest(path)}")
                if sub_value is not None:
                    flat[path] = sub_value
        elif key in CHART_KEYS:
            if value is not None:
                flat[key] = value
        else:
            raise ValuesError(f"{source}: unknown key '{key}'{_suggest(key)}")
    return flat


def _suggest(path: str) -> str:
    close = difflib.get_close_matches(path, list(CHART_KEYS) + sorted(_GROUPS), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return "; the chart's keys are listed in docs/values.md"


def chart_arch(value: Any, source: str) -> str:
    arch = _CHART_ARCH.get(str(value))
    if arch is None:
        raise ValuesError(f"{source}: 'arch' must be one of amd, amd64, arm, arm64, got {value!r}")
    return arch


def _tag_text(value: Any) -> str:
    # YAML reads `tag: 22.05` as a float; Helm prints it with %v, which is what we reproduce.
    if isinstance(value, float):
        return repr(value)
    return str(value)


def values_to_options(flat: dict[str, Any], arch: str, source: str) -> dict[str, Any]:
    """Map flattened chart values to options, reproducing the chart's image tag helpers.

    ``image.tag`` gets the chart's suffix (``-py3``, or ``-py3-cpu-arm64`` on arm64) and ``tritonEnv.tag``
    gets ``-cpu`` (``-m1`` on arm64), as the chart's ``_helpers.tpl`` does. Any ``tritonEnv`` key turns the
    conda-pack init container on, since the chart always renders it.
    """
    options: dict[str, Any] = {}
    for path, value in flat.items():
        option = CHART_KEYS[path]
        if path == "arch":
            value = chart_arch(value, source)
        elif path == "image.tag":
            value = _tag_text(value) + ("-py3-cpu-arm64" if arch == "arm64" else "-py3")
        elif path == "tritonEnv.tag":
            value = _tag_text(value) + ("-m1" if arch == "arm64" else "-cpu")
        elif path == "imagePullSecrets":
            value = _pull_secret_names(value, source)
        elif path in ("mode.useCpu", "podDisruptionBudget.enabled") and not isinstance(value, bool):
            raise ValuesError(f"{source}: '{path}' must be true or false, got {value!r}")
        options[option] = value
    if any(path.startswith("tritonEnv.") for path in flat):
        options["conda_pack_source"] = "image"
    if flat.get("mode.useCpu") is True:
        # The chart ignores image.numGpus in CPU mode; so do we.
        options.pop("num_gpus", None)
    return options


def _pull_secret_names(value: Any, source: str) -> list[str]:
    if not isinstance(value, list):
        raise ValuesError(f"{source}: 'imagePullSecrets' must be a list, got {type(value).__name__}")
    names = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
        elif isinstance(item, str):
            names.append(item)
        else:
            raise ValuesError(f"{source}: 'imagePullSecrets' items must be {{name: <secret>}}, got {item!r}")
    return names


def merge_options(
    native: dict[str, Any], values_documents: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge defaults, values documents (in order) and native options.

    ``native`` holds only the options the user set (``None`` means unset). Returns the merged options and,
    for each option, where its value came from (``default``, a values source, or ``option``).
    """
    flats = [(source, flatten_values(doc, source)) for source, doc in values_documents]
    arch = DEFAULTS["arch"]
    for source, flat in flats:
        if "arch" in flat:
            arch = chart_arch(flat["arch"], source)
    if native.get("arch") is not None:
        arch = native["arch"]

    merged = dict(DEFAULTS)
    origin = {key: "default" for key in DEFAULTS}
    for source, flat in flats:
        for option, value in values_to_options(flat, arch, source).items():
            merged[option] = value
            origin[option] = source
    for option, value in native.items():
        if value is not None and option in DEFAULTS:
            merged[option] = value
            origin[option] = "option"
    merged["arch"] = arch
    if merged["pdb_min_available"] is None and merged["pdb_max_unavailable"] is None:
        merged["pdb_min_available"] = 1
    return merged, origin
