# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Checks of merged options that the argument spec cannot express. Pure: no cluster needed.

Every message names the option (and, where the value came from a values file, that file's key) and the value.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from ._options import choices
from ._quantity import is_quantity, parse
from ._render import GRACE_MARGIN, MIN_GRACE_MARGIN, TEMPLATES, resources
from ._values import IMAGE_TAG_SUFFIX, NVIDIA_IMAGE

NODE_PORT_RANGE = (30000, 32767)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_REGISTRY = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PERCENT_OR_INT = re.compile(r"^[0-9]+%$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_URL_SCHEMES = ("s3://", "gs://", "as://")
PATCH_TARGETS = tuple(TEMPLATES)
CHOICES = choices()
_SPREAD_WHEN = ("DoNotSchedule", "ScheduleAnyway")
_SHUTDOWN_FLAGS = {
    "--exit-timeout-secs": "exit_timeout_seconds",
    "--grpc-max-connection-age": "pre_stop_sleep_seconds (the age is derived from it)",
    "--grpc-max-connection-age-grace": "pre_stop_sleep_seconds (the grace is derived from it)",
}
_PEER_KEYS = {"podSelector", "namespaceSelector", "ipBlock"}
_PROBE_KEYS = {
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "failureThreshold",
    "successThreshold",
    "terminationGracePeriodSeconds",
    "httpGet",
    "tcpSocket",
    "grpc",
    "exec",
}
_RESOURCE_KEYS = {"requests", "limits"}


class ValidationError(ValueError):
    """Bad input, found before anything is written. ``option`` names the offending option."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


def _where(option: str, origin: dict[str, str]) -> str:
    source = origin.get(option, "option")
    if source in ("option", "default"):
        return option
    return f"{option} (from {source})"


def check_image(registry: str, repository: str, tag: str, prefix: str, origin: dict[str, str]) -> None:
    if not registry or not _REGISTRY.match(registry):
        raise ValidationError(_where(f"{prefix}_registry", origin), f"malformed image registry {registry!r}")
    if not repository or not _REPOSITORY.match(repository):
        raise ValidationError(
            _where(f"{prefix}_repository", origin),
            f"malformed image repository {repository!r} (lower-case path components separated by '/')",
        )
    if not _TAG.match(str(tag)):
        raise ValidationError(_where(f"{prefix}_tag", origin), f"malformed image tag {tag!r}")


def check_nvidia_arm64(o: dict[str, Any], origin: dict[str, str]) -> None:
    """NVIDIA's Triton image has no -cpu-arm64 tags: its <release>-py3 tags serve arm64 nodes as well."""
    arch_tag = (o["image_arch_tags"] or {}).get(o["arch"])
    tag = str(arch_tag or o["image_tag"])
    if (o["image_registry"], o["image_repository"]) != NVIDIA_IMAGE or not tag.endswith("-cpu-arm64"):
        return
    release = tag[: -len(IMAGE_TAG_SUFFIX["arm64"])] if tag.endswith(IMAGE_TAG_SUFFIX["arm64"]) else tag
    raise ValidationError(
        "image_arch_tags" if arch_tag else _where("image_tag", origin),
        f"{'/'.join(NVIDIA_IMAGE)}:{tag} does not exist: NVIDIA publishes no -cpu-arm64 tags (the chart's arm64 "
        "suffix -py3-cpu-arm64 is the name of Instill AI's CPU-only builds, registry.hub.docker.com/instill/"
        f"tritonserver). NVIDIA's {release}-py3 runs on arm64 nodes: in values write image.tag: {release}-py3 "
        f"(kept as given), or set image_tag: {release}-py3",
    )


def _check_path(option: str, value: Any, origin: dict[str, str]) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError(_where(option, origin), f"must be an absolute path, got {value!r}")
    if ".." in value.split("/") or posixpath.normpath(value) != value.rstrip("/") or value == "/":
        raise ValidationError(_where(option, origin), f"must be a normalised absolute path below /, got {value!r}")


def _check_labels(option: str, labels: Any, values_too: bool = True) -> None:
    if not isinstance(labels, dict):
        raise ValidationError(option, f"must be a mapping, got {type(labels).__name__}")
    for key, value in labels.items():
        name = str(key).rsplit("/", 1)[-1]
        prefix = str(key)[: -len(name) - 1] if "/" in str(key) else ""
        if not _LABEL_NAME.match(name) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
            raise ValidationError(option, f"invalid key {key!r}")
        if values_too and (not isinstance(value, (str, int, float, bool)) or not _LABEL_VALUE.match(str(value))):
            raise ValidationError(option, f"invalid value {value!r} for key {key!r}")


def _check_int_or_percent(option: str, value: Any, origin: dict[str, str]) -> None:
    if isinstance(value, bool) or not (
        (isinstance(value, int) and value >= 0) or (isinstance(value, str) and _PERCENT_OR_INT.match(value))
    ):
        raise ValidationError(_where(option, origin), f"must be a non-negative integer or a percentage, got {value!r}")


def check_resources(option: str, resources: Any) -> None:
    if not isinstance(resources, dict):
        raise ValidationError(option, "must be a mapping with requests and/or limits")
    for key, section in resources.items():
        if key not in _RESOURCE_KEYS:
            raise ValidationError(option, f"unknown key {key!r} (expected requests, limits)")
        if section is None:  # null removes the defaults of the section
            continue
        if not isinstance(section, dict):
            raise ValidationError(f"{option}.{key}", "must be a mapping of resource name to quantity")
        for name, quantity in section.items():
            if quantity is None:  # null removes one default
                continue
            if not is_quantity(quantity):
                raise ValidationError(f"{option}.{key}.{name}", f"not a valid quantity: {quantity!r}")
            if name == "nvidia.com/gpu":
                raise ValidationError(f"{option}.{key}.{name}", "set GPUs with num_gpus (image.numGpus)")


def _positive_size(option: str, value: Any) -> None:
    if not is_quantity(value) or parse(value) <= 0:
        raise ValidationError(option, f"must be a positive quantity such as 4Gi, got {value!r}")


def check_effective_resources(o: dict[str, Any]) -> None:
    """The requests and limits the pod will get (defaults and ``resources``) fit together and with the volumes."""
    effective = resources(o)
    requests, limits = effective.get("requests", {}), effective.get("limits", {})
    for name in sorted(set(requests) & set(limits)):
        if parse(requests[name]) > parse(limits[name]):
            raise ValidationError(
                f"resources.requests.{name}",
                f"{requests[name]} is above the limit {limits[name]}; lower it or raise the limit",
            )
    memory = limits.get("memory")
    if memory is not None and parse(memory) <= parse(o["shm_size"]):
        raise ValidationError(
            "resources.limits.memory",
            f"{memory} does not cover shm_size {o['shm_size']}: /dev/shm is memory charged to the pod's memory "
            "limit, so Triton would be killed before it filled it; raise the limit above shm_size (by default it "
            "is requests.memory + shm_size) or lower shm_size",
        )
    storage = limits.get("ephemeral-storage")
    if storage is not None and parse(storage) < parse(o["tmp_size"]):
        raise ValidationError(
            "resources.limits.ephemeral-storage",
            f"{storage} is below tmp_size {o['tmp_size']}: a full /tmp would get the pod evicted; raise the limit "
            "(by default it is tmp_size + 1Gi) or lower tmp_size",
        )


def _check_peers(option: str, peers: Any) -> None:
    if peers is None:
        return
    for peer in peers:
        unknown = sorted(set(peer) - _PEER_KEYS) if isinstance(peer, dict) else None
        if not isinstance(peer, dict) or not peer or unknown:
            raise ValidationError(
                option,
                f"each entry is a NetworkPolicy peer with podSelector, namespaceSelector or ipBlock, got {peer!r}",
            )
        if "ipBlock" in peer and not isinstance((peer["ipBlock"] or {}).get("cidr"), str):
            raise ValidationError(option, f"ipBlock needs a cidr, got {peer['ipBlock']!r}")


def check_hardening(o: dict[str, Any]) -> None:
    """Service account, topology spread and NetworkPolicy options."""
    if o["service_account_name"] is not None and not _DNS_SUBDOMAIN.match(str(o["service_account_name"])):
        raise ValidationError(
            "service_account_name", f"must be a DNS subdomain name, got {o['service_account_name']!r}"
        )
    if o["service_account_annotations"] and not o["service_account_create"]:
        raise ValidationError(
            "service_account_annotations",
            "only annotate a ServiceAccount the release creates: set service_account_create",
        )
    _check_labels("service_account_annotations", o["service_account_annotations"], values_too=False)
    for index, constraint in enumerate(o["topology_spread_constraints"] or []):
        where = f"topology_spread_constraints[{index}]"
        missing = [k for k in ("maxSkew", "topologyKey", "whenUnsatisfiable") if k not in constraint]
        if missing:
            raise ValidationError(where, f"needs {', '.join(missing)}")
        if constraint["whenUnsatisfiable"] not in _SPREAD_WHEN:
            raise ValidationError(f"{where}.whenUnsatisfiable", f"must be one of {', '.join(_SPREAD_WHEN)}")
        if (
            not isinstance(constraint["maxSkew"], int)
            or isinstance(constraint["maxSkew"], bool)
            or constraint["maxSkew"] < 1
        ):
            raise ValidationError(
                f"{where}.maxSkew", f"must be an integer of at least 1, got {constraint['maxSkew']!r}"
            )
    _check_peers("network_policy_from", o["network_policy_from"])
    _check_peers("network_policy_metrics_from", o["network_policy_metrics_from"])


def check_shutdown(o: dict[str, Any], origin: dict[str, str]) -> None:
    """The grace period covers the pre-stop sleep, Triton's exit timeout and a margin, or the kubelet kills Triton
    while it still finishes requests."""
    grace = o["termination_grace_period_seconds"]
    needed = o["pre_stop_sleep_seconds"] + o["exit_timeout_seconds"] + MIN_GRACE_MARGIN
    if grace is not None and grace < needed:
        raise ValidationError(
            _where("termination_grace_period_seconds", origin),
            f"{grace}s is shorter than pre_stop_sleep_seconds {o['pre_stop_sleep_seconds']}s + exit_timeout_seconds "
            f"{o['exit_timeout_seconds']}s + {MIN_GRACE_MARGIN}s: the kubelet would kill Triton while it still "
            f"finishes requests; set at least {needed}, or leave it unset (then it is the sum + {GRACE_MARGIN}s)",
        )


def check_openshift(o: dict[str, Any], origin: dict[str, str]) -> None:
    """openshift: no hostPath (restricted-v2 forbids it); route_*: a Route the router and Triton can both serve."""
    if o["openshift"]:
        host_paths = [
            ("model_repository_type", o["model_repository_type"] == "host_path"),
            ("conda_pack_source", o["conda_pack_source"] == "host_path"),
            ("extra_volumes", any("hostPath" in v for v in o["extra_volumes"] if isinstance(v, dict))),
        ]
        for option, used in host_paths:
            if used:
                raise ValidationError(
                    _where(option, origin),
                    "openshift: OpenShift's restricted-v2 SCC forbids hostPath volumes; use model_repository_type "
                    "pvc or object_storage (and conda_pack_source image)",
                )
    if not o["route_enabled"]:
        return
    if origin.get("service_type", "default") != "default" and o["service_type"] != "ClusterIP":
        raise ValidationError(
            _where("service_type", origin),
            f"is {o['service_type']} while route_enabled makes the Service ClusterIP (the Route replaces the "
            "nodePorts); leave service_type unset",
        )
    if o["route_port"] == "grpc" and o["route_tls"] != "passthrough":
        raise ValidationError(
            "route_port",
            f"grpc needs route_tls passthrough, not {o['route_tls']}: gRPC is HTTP/2 end to end, and OpenShift's "
            "router speaks HTTP/2 to a backend only through TLS it passes through (Triton's --grpc-use-ssl)",
        )
    if o["route_port"] == "http" and o["route_tls"] == "passthrough":
        raise ValidationError(
            "route_tls", "passthrough needs a backend serving TLS, and Triton's HTTP endpoint does not; use edge"
        )


def validate_release(name: str, namespace: str) -> None:
    if not _DNS_LABEL.match(name) or len(name) > 53:
        raise ValidationError("name", f"release name must be a DNS label of at most 53 characters, got {name!r}")
    if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise ValidationError("namespace", f"must be a DNS label of at most 63 characters, got {namespace!r}")


def check_choices(options: dict[str, Any], origin: dict[str, str]) -> None:
    """Options with a fixed set of values that came from a values file, which the argument spec never sees (it
    checks the native options, and the collection's defaults are among the choices)."""
    for option, allowed in CHOICES.items():
        value = options[option]
        if origin.get(option, "default") in ("default", "option") or value in allowed:
            continue
        listed = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise ValidationError(_where(option, origin), f"must be {listed}, got {value!r}")


def check_counts(options: dict[str, Any], origin: dict[str, str]) -> None:
    """Replicas and the shutdown and startup times are whole numbers (a values file may hold anything)."""
    timeout = options["model_load_timeout_seconds"]
    if not isinstance(timeout, int) or timeout < 1:
        raise ValidationError("model_load_timeout_seconds", f"must be a positive integer, got {timeout!r}")
    for option in ("replicas", "termination_grace_period_seconds", "pre_stop_sleep_seconds", "exit_timeout_seconds"):
        value = options[option]
        if value is None and option == "termination_grace_period_seconds":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(_where(option, origin), f"must be a non-negative integer, got {value!r}")


def check_names(options: dict[str, Any], origin: dict[str, str]) -> None:
    """Names that end up in object names, and the pods' runtime and priority classes."""
    for option in ("name_override", "fullname_override"):
        value = options[option]
        if value is not None and (not _DNS_LABEL.match(str(value)) or len(str(value)) > 63):
            raise ValidationError(_where(option, origin), f"must be a DNS label, got {value!r}")


def check_class_names(options: dict[str, Any]) -> None:
    for option in ("runtime_class_name", "priority_class_name"):
        if options[option] is not None and not _DNS_SUBDOMAIN.match(str(options[option])):
            raise ValidationError(option, f"must be a DNS subdomain name, got {options[option]!r}")


def check_gpus(options: dict[str, Any], origin: dict[str, str], native: dict[str, Any]) -> None:
    """GPU mode needs at least one GPU per pod; CPU mode refuses GPUs asked for as an option."""
    num_gpus = options["num_gpus"]
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int):
        raise ValidationError(_where("num_gpus", origin), f"must be an integer, got {num_gpus!r}")
    if options["use_cpu"]:
        if native.get("num_gpus"):
            raise ValidationError(
                "num_gpus", f"asks for {num_gpus} GPU(s) while use_cpu is true; drop num_gpus or set use_cpu: false"
            )
    elif num_gpus < 1:
        raise ValidationError(
            _where("num_gpus", origin), f"must be at least 1 in GPU mode, got {num_gpus} (set use_cpu: true for CPU)"
        )


def check_images(options: dict[str, Any], origin: dict[str, str]) -> None:
    """Triton's image (per architecture too), the conda-pack image when used, and the pull Secrets."""
    check_image(options["image_registry"], options["image_repository"], options["image_tag"], "image", origin)
    for arch, tag in (options["image_arch_tags"] or {}).items():
        if arch not in ("amd64", "arm64"):
            raise ValidationError("image_arch_tags", f"unknown architecture {arch!r} (amd64, arm64)")
        check_image(
            options["image_registry"], options["image_repository"], tag, "image", {"image_tag": "image_arch_tags"}
        )
    check_nvidia_arm64(options, origin)
    if options["conda_pack_source"] == "image":
        env_image = (options["conda_env_registry"], options["conda_env_repository"], options["conda_env_tag"])
        check_image(*env_image, "conda_env", origin)
    for secret in options["image_pull_secrets"]:
        if not isinstance(secret, str) or not _DNS_SUBDOMAIN.match(secret):
            raise ValidationError(_where("image_pull_secrets", origin), f"invalid Secret name {secret!r}")


def check_storage(options: dict[str, Any], origin: dict[str, str]) -> None:
    """The model repository (hostPath, PVC or object storage) and the conda-pack environment's path."""
    kind = options["model_repository_type"]
    if kind == "host_path":
        _check_path("model_repository_path", options["model_repository_path"], origin)
    elif kind == "pvc":
        if not options["model_repository_claim"]:
            raise ValidationError("model_repository_claim", "is required when model_repository_type is pvc")
        _check_path("model_repository_path", options["model_repository_path"], origin)
    else:
        url = options["model_repository_url"]
        if not url or not str(url).startswith(_URL_SCHEMES) or len(str(url)) <= 5:
            raise ValidationError(
                "model_repository_url", f"must be an s3://, gs:// or as:// URL for object_storage, got {url!r}"
            )
    if kind != "host_path" and options["require_prepared_nodes"]:
        raise ValidationError("require_prepared_nodes", f"only applies to host_path model repositories, not {kind}")
    if options["conda_pack_source"] != "none":
        _check_path("conda_pack_path", options["conda_pack_path"], origin)
        name = str(options["conda_pack_file_name"])
        if "/" in name or name in ("", ".", ".."):
            raise ValidationError(_where("conda_pack_file_name", origin), f"must be a file name, got {name!r}")


def _distinct_ports(
    options: dict[str, Any], origin: dict[str, str], prefix: str, valid: Callable[[Any], bool], rule: str, what: str
) -> None:
    """The http, grpc and metrics ports of ``prefix`` are valid and different (an unset nodePort is skipped)."""
    seen: dict[int, str] = {}
    for which in ("http", "grpc", "metrics"):
        option = f"{prefix}_{which}"
        port = options[option]
        if prefix == "service_node_port" and port in (None, 0):
            continue
        if isinstance(port, bool) or not isinstance(port, int) or not valid(port):
            raise ValidationError(_where(option, origin), f"must be {rule}, got {port!r}")
        if port in seen:
            raise ValidationError(_where(option, origin), f"{what} {port} is already used by {seen[port]}")
        seen[port] = option


def check_service(options: dict[str, Any], origin: dict[str, str]) -> None:
    """The Service's ports, and its nodePorts when it is a NodePort Service (Kubernetes allocates a LoadBalancer's)."""
    _distinct_ports(options, origin, "service_port", lambda port: 1 <= port <= 65535, "a port number 1-65535", "port")
    if options["service_type"] == "NodePort":
        low, high = NODE_PORT_RANGE
        rule = f"between {low} and {high}"
        _distinct_ports(options, origin, "service_node_port", lambda port: low <= port <= high, rule, "nodePort")


def check_placement(options: dict[str, Any], origin: dict[str, str]) -> None:
    """Labels, annotations, node selector, tolerations and affinity have the shapes Kubernetes takes."""
    for option in ("node_selector", "pod_annotations", "annotations"):
        if not isinstance(options[option], dict):
            raise ValidationError(_where(option, origin), f"must be a mapping, got {type(options[option]).__name__}")
    _check_labels("labels", options["labels"])
    _check_labels("pod_labels", options["pod_labels"])
    _check_labels(_where("node_selector", origin), options["node_selector"])
    _check_labels("annotations", options["annotations"], values_too=False)
    _check_labels(_where("pod_annotations", origin), options["pod_annotations"], values_too=False)
    tolerations = options["tolerations"]
    if not isinstance(tolerations, list) or not all(isinstance(t, dict) for t in tolerations):
        raise ValidationError(_where("tolerations", origin), "must be a list of toleration mappings")
    if not isinstance(options["affinity"], dict):
        raise ValidationError(_where("affinity", origin), "must be a mapping")


def check_pdb(options: dict[str, Any], origin: dict[str, str]) -> list[str]:
    """Exactly one of minAvailable and maxUnavailable, each a count or a percentage; warns when no eviction could
    ever happen."""
    if not options["pdb_enabled"]:
        return []
    min_available, max_unavailable = options["pdb_min_available"], options["pdb_max_unavailable"]
    if min_available is not None and max_unavailable is not None:
        raise ValidationError(
            "pdb_min_available/pdb_max_unavailable",
            f"set exactly one of minAvailable ({min_available!r}, from {origin['pdb_min_available']}) and "
            f"maxUnavailable ({max_unavailable!r}, from {origin['pdb_max_unavailable']}); "
            "set the other to null",
        )
    if min_available is None:
        _check_int_or_percent("pdb_max_unavailable", max_unavailable, origin)
        return []
    _check_int_or_percent("pdb_min_available", min_available, origin)
    if isinstance(min_available, int) and min_available >= options["replicas"] > 0:
        return [
            f"pdb_min_available={min_available} with replicas={options['replicas']} blocks every voluntary "
            "eviction (node drains will wait forever)"
        ]
    return []


def check_models(options: dict[str, Any], origin: dict[str, str]) -> None:
    """The model control mode and the models it loads: load_models, models and the poll interval fit the mode."""
    mode = options["model_control_mode"]
    if options["load_models"] and mode != "explicit":
        raise ValidationError("load_models", f"needs model_control_mode: explicit (it is {mode})")
    if options["repository_poll_secs"] is not None:
        if mode != "poll":
            raise ValidationError("repository_poll_secs", f"needs model_control_mode: poll (it is {mode})")
        if options["repository_poll_secs"] < 1:
            raise ValidationError("repository_poll_secs", f"must be at least 1, got {options['repository_poll_secs']}")
    if options["models"]:
        if mode != "explicit":
            raise ValidationError(
                _where("model_control_mode", origin),
                f"models declares the models every pod serves, which needs explicit mode (it is {mode}); leave "
                "model_control_mode unset or set it to explicit",
            )
        if options["load_models"]:
            raise ValidationError("load_models", "set models or load_models, not both (models loads and checks them)")
    for option in ("load_models", "models"):
        for model in options[option]:
            if not model or "/" in model or model.startswith("-"):
                raise ValidationError(option, f"invalid model name {model!r}")


def check_server_args(options: dict[str, Any]) -> None:
    """Extra tritonserver flags, none of those the module sets itself."""
    for arg in options["server_args"]:
        if not str(arg).startswith("--"):
            raise ValidationError("server_args", f"each argument must look like --flag=value, got {arg!r}")
        flag = str(arg).split("=", 1)[0]
        if flag in ("--model-repository", "--model-store", "--model-control-mode", "--load-model"):
            raise ValidationError(
                "server_args", f"{flag} is set by the module; use model_repository_* / model_control_mode / load_models"
            )
        if flag in _SHUTDOWN_FLAGS:
            raise ValidationError("server_args", f"{flag} is set by the module; use {_SHUTDOWN_FLAGS[flag]}")


def check_probes(options: dict[str, Any]) -> None:
    """Probe overrides hold known probe fields, with non-negative whole numbers for times and thresholds."""
    for option in ("liveness_probe", "readiness_probe", "startup_probe"):
        probe = options[option]
        if probe is None:
            continue
        if not isinstance(probe, dict):
            raise ValidationError(option, "must be a mapping of probe fields (or null to disable it)")
        unknown = sorted(set(probe) - _PROBE_KEYS - {"enabled"})
        if unknown:
            raise ValidationError(option, f"unknown probe field(s) {', '.join(unknown)}")
        for key, value in probe.items():
            if key.endswith(("Seconds", "Threshold")) and (not isinstance(value, int) or value < 0):
                raise ValidationError(f"{option}.{key}", f"must be a non-negative integer, got {value!r}")


def check_sizes(options: dict[str, Any]) -> None:
    """/dev/shm, /tmp, and the requests and limits the pod gets with them."""
    if not is_quantity(options["shm_size"]) or str(options["shm_size"]).startswith("-"):
        raise ValidationError("shm_size", f"not a valid quantity: {options['shm_size']!r}")
    _positive_size("tmp_size", options["tmp_size"])
    check_resources("resources", options["resources"])
    check_effective_resources(options)


def check_env(options: dict[str, Any]) -> list[str]:
    """Variable names and values of the container's environment; warns on one that Triton ignores."""
    env = options["env"]
    if not isinstance(env, dict):
        raise ValidationError("env", "must be a mapping of variable name to value")
    warnings = []
    for key, value in env.items():
        if not _ENV_NAME.match(str(key)):
            raise ValidationError("env", f"invalid variable name {key!r}")
        if isinstance(value, (dict, list)) and not (isinstance(value, dict) and "valueFrom" in value):
            raise ValidationError(f"env.{key}", "must be a scalar or a mapping with valueFrom")
        if key == "EXECUTION_ENV_PATH":
            warnings.append(
                "env.EXECUTION_ENV_PATH has no effect on Triton: the Python backend reads EXECUTION_ENV_PATH only "
                'from a model\'s config.pbtxt (parameters { key: "EXECUTION_ENV_PATH" value: { string_value: ... } })'
            )
    return warnings


def check_volumes(options: dict[str, Any]) -> None:
    """Extra volumes have names of their own; extra mounts name a volume of the pod."""
    volume_names = {"models", "dshm", "tmp", "conda-pack"}
    for volume in options["extra_volumes"]:
        if not isinstance(volume, dict) or not volume.get("name"):
            raise ValidationError("extra_volumes", f"each volume needs a name, got {volume!r}")
        if volume["name"] in volume_names:
            raise ValidationError("extra_volumes", f"volume name {volume['name']!r} is already used")
        volume_names.add(volume["name"])
    for mount in options["extra_volume_mounts"]:
        if not isinstance(mount, dict) or not mount.get("name") or not mount.get("mountPath"):
            raise ValidationError("extra_volume_mounts", f"each mount needs name and mountPath, got {mount!r}")
        if mount["name"] not in volume_names:
            raise ValidationError("extra_volume_mounts", f"mount {mount['name']!r} names no volume")


def check_update_strategy(options: dict[str, Any]) -> None:
    strategy = options["update_strategy"]
    if not strategy:
        return
    if strategy.get("type", "RollingUpdate") not in ("RollingUpdate", "Recreate"):
        raise ValidationError("update_strategy.type", f"must be RollingUpdate or Recreate, got {strategy['type']!r}")
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate"):
        raise ValidationError("update_strategy", "rollingUpdate cannot be set with type Recreate")


def check_security_context(options: dict[str, Any]) -> list[str]:
    security = options["pod_security_context"]
    if security.get("runAsUser") == 0 or security.get("runAsNonRoot") is False:
        return ["pod_security_context runs Triton as root; Pod Security 'restricted' will refuse it"]
    return []


def check_patches(options: dict[str, Any]) -> None:
    """Merge patches name a rendered object and leave its name and namespace alone."""
    unknown = sorted(set(options["patches"]) - set(PATCH_TARGETS))
    if unknown:
        raise ValidationError("patches", f"unknown target(s) {', '.join(unknown)} (use {', '.join(PATCH_TARGETS)})")
    for target, patch in options["patches"].items():
        if not isinstance(patch, dict):
            raise ValidationError(f"patches.{target}", "must be a mapping (a JSON merge patch)")
        if "metadata" in patch and any(k in patch["metadata"] for k in ("name", "namespace")):
            raise ValidationError(f"patches.{target}", "cannot change metadata.name or metadata.namespace")


def check_service_monitor(options: dict[str, Any]) -> None:
    if options["service_monitor_enabled"]:
        _check_labels("service_monitor_labels", options["service_monitor_labels"])


def validate(options: dict[str, Any], origin: dict[str, str], native: dict[str, Any]) -> list[str]:
    """Raise ValidationError on the first bad option; return warnings for dubious but valid input.

    ``options`` are the merged options, ``origin`` where each came from, ``native`` the options set on the task
    (already checked by the argument spec: types and choices).
    """
    warnings: list[str] = []
    check_counts(options, origin)
    check_names(options, origin)
    check_gpus(options, origin, native)
    check_choices(options, origin)
    check_images(options, origin)
    check_storage(options, origin)
    check_service(options, origin)
    check_placement(options, origin)
    warnings += check_pdb(options, origin)
    check_models(options, origin)
    check_server_args(options)
    check_shutdown(options, origin)
    check_probes(options)
    check_sizes(options)
    check_hardening(options)
    check_openshift(options, origin)
    warnings += check_env(options)
    check_volumes(options)
    check_class_names(options)
    check_update_strategy(options)
    warnings += check_security_context(options)
    check_patches(options)
    check_service_monitor(options)
    return warnings
