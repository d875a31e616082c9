# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Build the rendering context from merged options and render one Jinja2 template per object.

Pure functions: no cluster, no clock, no randomness. The same options always give the same manifests.
"""

from __future__ import annotations

import copy
import os
from decimal import Decimal
from typing import Any

from ._dashboard import context as dashboard_context
from ._quantity import format_bytes, format_cores, parse

CHART_NAME = "triton"
MANAGED_BY = "inference.triton"
COMPONENT = "inference-server"
GPU_RESOURCE = "nvidia.com/gpu"
PREPARED_NODE_LABEL = "inference.triton/model-repository"
# Pod-template annotation: a new model repository revision rolls the pods like any other change (and rolls back).
REVISION_ANNOTATION = "inference.triton/model-repository-revision"
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates", "triton_server")
# Every object a release may have: key -> (template, apiVersion, kind), in apply order. Rendering, pruning, removal
# and the patches option all read this one table.
OBJECTS: dict[str, tuple[str, str, str]] = {
    "service_account": ("serviceaccount.yaml.j2", "v1", "ServiceAccount"),
    "deployment": ("deployment.yaml.j2", "apps/v1", "Deployment"),
    "service": ("service.yaml.j2", "v1", "Service"),
    "pdb": ("pdb.yaml.j2", "policy/v1", "PodDisruptionBudget"),
    "network_policy": ("networkpolicy.yaml.j2", "networking.k8s.io/v1", "NetworkPolicy"),
    "service_monitor": ("servicemonitor.yaml.j2", "monitoring.coreos.com/v1", "ServiceMonitor"),
    "route": ("route.yaml.j2", "route.openshift.io/v1", "Route"),
    "grafana_dashboard": ("configmap-dashboard.yaml.j2", "v1", "ConfigMap"),
}
TEMPLATES = {key: template for key, (template, _version, _kind) in OBJECTS.items()}
# (key, apiVersion, kind) of every object kind of a release.
RELEASE_KINDS = [(key, api_version, kind) for key, (_template, api_version, kind) in OBJECTS.items()]

# Resources by default (docs/hardening.md): per GPU, or once for a CPU release, what KServe's Triton serving
# runtime requests per server; the memory limit adds the /dev/shm volume, which is memory charged to the pod; no
# CPU limit, whose CFS throttling shows as inference latency. /tmp is an emptyDir of tmp_size; the
# ephemeral-storage limit adds room for the container's logs.
CPU_REQUEST_PER_GPU = Decimal(1)
MEMORY_REQUEST_PER_GPU = Decimal(2 * 2**30)
EPHEMERAL_STORAGE_REQUEST = "1Gi"
LOG_ROOM = Decimal(2**30)
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
# Replacing a pod without failing a request (docs/reliability.md): the pod leaves the endpoints first, then sleeps
# pre_stop_sleep_seconds while Triton still serves what the endpoints or old connections send; gRPC connections are
# aged out within that sleep (GOAWAY after GRPC_AGE_SHARE of it, in-flight calls get GRPC_GRACE_SHARE more), so they
# reconnect to another pod before Triton unloads its models on SIGTERM; then in-flight requests get
# exit_timeout_seconds. The grace period covers both and a margin.
GRACE_MARGIN = 15
MIN_GRACE_MARGIN = 5
GRPC_AGE_SHARE = 0.4
GRPC_GRACE_SHARE = 0.2
# Who may reach Triton when network_policy_enabled and the options leave it open: the release's namespace for
# inference, a namespace named "monitoring" for metrics.
DEFAULT_POLICY_FROM: list[dict[str, Any]] = [{"podSelector": {}}]
DEFAULT_POLICY_METRICS_FROM = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]

DEFAULT_PROBES: dict[str, dict[str, Any]] = {
    # Slow model loads are the startup probe's business: 10 s x 60 = up to 10 minutes before liveness starts.
    "startupProbe": {
        "httpGet": {"path": "/v2/health/ready", "port": "http"},
        "periodSeconds": 10,
        "failureThreshold": 60,
    },
    # Liveness on /live, never /ready: an explicit model load must not get the server killed.
    "livenessProbe": {
        "httpGet": {"path": "/v2/health/live", "port": "http"},
        "periodSeconds": 10,
        "failureThreshold": 3,
    },
    "readinessProbe": {
        "httpGet": {"path": "/v2/health/ready", "port": "http"},
        "periodSeconds": 5,
        "failureThreshold": 3,
    },
}
_PROBE_OPTIONS = {
    "startupProbe": "startup_probe",
    "livenessProbe": "liveness_probe",
    "readinessProbe": "readiness_probe",
}


def names(release: str, o: dict[str, Any]) -> tuple[str, str]:
    """(chart name, full name), the chart's rules: fullnameOverride, else <release>-<name> unless it contains it."""
    name = o.get("name_override") or CHART_NAME
    if o.get("fullname_override"):
        return name, str(o["fullname_override"])[:63].rstrip("-")
    full = release if name in release else f"{release}-{name}"
    return name, full[:63].rstrip("-")


def selector_labels(release: str, o: dict[str, Any]) -> dict[str, str]:
    """The fixed, small selector: never changes after the first release (selectors are immutable)."""
    return {"app.kubernetes.io/name": names(release, o)[0], "app.kubernetes.io/instance": release}


def release_selector(release: str) -> str:
    """Label selector for every object this collection manages for one release."""
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/managed-by={MANAGED_BY}"


def image_ref(o: dict[str, Any]) -> str:
    tag = (o.get("image_arch_tags") or {}).get(o["arch"]) or o["image_tag"]
    return f"{o['image_registry']}/{o['image_repository']}:{tag}"


def _label_value(value: str) -> str:
    return value[:63].rstrip("-_.")


def _env_list(o: dict[str, Any]) -> list[dict[str, Any]]:
    # No EXECUTION_ENV_PATH here, unlike the chart: the Python backend reads it only from each model's
    # config.pbtxt parameters, never from the server's environment (see conda_pack_file).
    env: list[dict[str, Any]] = []
    for key in sorted(o["env"]):
        value = o["env"][key]
        if isinstance(value, dict):
            env.append({"name": str(key), "valueFrom": value["valueFrom"]})
        else:
            env.append({"name": str(key), "value": _env_text(value)})
    return env


def _env_text(value: Any) -> str:
    # Kubernetes refuses numbers and booleans as env values; render them as the strings a shell would see.
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def grpc_connection_age_ms(pre_stop_sleep_seconds: int) -> tuple[int, int]:
    """(max connection age, its grace) in ms: gRPC adds up to 10 % jitter to the age; both end within the sleep."""
    return (
        max(500, int(pre_stop_sleep_seconds * 1000 * GRPC_AGE_SHARE)),
        max(250, int(pre_stop_sleep_seconds * 1000 * GRPC_GRACE_SHARE)),
    )


def termination_grace_period(o: dict[str, Any]) -> int:
    if o["termination_grace_period_seconds"] is not None:
        return int(o["termination_grace_period_seconds"])
    return int(o["pre_stop_sleep_seconds"]) + int(o["exit_timeout_seconds"]) + GRACE_MARGIN


def _server_args(o: dict[str, Any], model_repository: str) -> list[str]:
    args = ["tritonserver", f"--model-repository={model_repository}", f"--model-control-mode={o['model_control_mode']}"]
    if o["model_control_mode"] == "poll" and o["repository_poll_secs"] is not None:
        args.append(f"--repository-poll-secs={o['repository_poll_secs']}")
    args.extend(f"--load-model={model}" for model in o["load_models"] or o["models"])
    args.append(f"--exit-timeout-secs={o['exit_timeout_seconds']}")
    if o["pre_stop_sleep_seconds"]:
        age_ms, grace_ms = grpc_connection_age_ms(o["pre_stop_sleep_seconds"])
        args += [f"--grpc-max-connection-age={age_ms}", f"--grpc-max-connection-age-grace={grace_ms}"]
    args.extend(str(arg) for arg in o["server_args"])
    return args


def _probes(o: dict[str, Any]) -> dict[str, dict[str, Any]]:
    probes = {}
    for kind, default in DEFAULT_PROBES.items():
        override = o[_PROBE_OPTIONS[kind]]
        if override is None or (isinstance(override, dict) and override.get("enabled") is False):
            continue
        probe = copy.deepcopy(default)
        if kind == "startupProbe":
            # The longest model load the server may take before liveness starts watching it.
            period = int((override or {}).get("periodSeconds") or probe["periodSeconds"])
            probe["failureThreshold"] = max(1, -(-int(o["model_load_timeout_seconds"]) // period))
        override = {k: v for k, v in (override or {}).items() if k != "enabled"}
        if any(k in override for k in ("httpGet", "tcpSocket", "grpc", "exec")):
            probe.pop("httpGet")
        probe.update(override)
        probes[kind] = probe
    return probes


def _strings(section: Any) -> dict[str, str]:
    return {str(name): str(q) for name, q in (section or {}).items()}


def resources(o: dict[str, Any]) -> dict[str, Any]:
    """Requests and limits: the defaults above, with ``resources`` merged over them (``null`` removes a key)."""
    units = 1 if o["use_cpu"] else max(1, o["num_gpus"])
    defaults = {
        "cpu": format_cores(CPU_REQUEST_PER_GPU * units),
        "memory": format_bytes(MEMORY_REQUEST_PER_GPU * units),
        "ephemeral-storage": EPHEMERAL_STORAGE_REQUEST,
    }
    given = o["resources"] or {}
    requests = _strings(merge_patch(defaults, given.get("requests", {})))
    limits = {"ephemeral-storage": format_bytes(parse(o["tmp_size"]) + LOG_ROOM)}
    if "memory" in requests:
        limits["memory"] = format_bytes(parse(requests["memory"]) + parse(o["shm_size"]))
    limits = _strings(merge_patch(limits, given.get("limits", {})))
    if not o["use_cpu"]:
        limits[GPU_RESOURCE] = str(o["num_gpus"])
    result = {}
    if requests:
        result["requests"] = requests
    if limits:
        result["limits"] = limits
    return result


def _security(o: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if o.get("openshift"):
        # restricted-v2 assigns the uid and the fsGroup from the namespace's ranges, the gid is 0 (docs/openshift.md).
        for key in ("runAsUser", "runAsGroup", "fsGroup"):
            del pod[key]
    pod.update(o["pod_security_context"])
    container = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": o["read_only_root_filesystem"],
    }
    container.update(o["security_context"])
    return pod, container


def _storage(o: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], str]:
    """Volumes, mounts, envFrom and the --model-repository argument for the chosen model repository."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env_from: list[dict[str, Any]] = []
    kind = o["model_repository_type"]
    path = o["model_repository_path"]
    if kind == "host_path":
        volumes.append({"name": "models", "hostPath": {"path": path, "type": o["model_repository_host_path_type"]}})
        mounts.append({"name": "models", "mountPath": path, "readOnly": True})
        repository = path
    elif kind == "pvc":
        volumes.append(
            {"name": "models", "persistentVolumeClaim": {"claimName": o["model_repository_claim"], "readOnly": True}}
        )
        mounts.append({"name": "models", "mountPath": path, "readOnly": True})
        repository = path
    else:
        repository = o["model_repository_url"]
        if o["model_repository_secret"]:
            # Credentials stay in the Secret: the pod reads them, the module never does.
            env_from.append({"secretRef": {"name": o["model_repository_secret"]}})
    volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": str(o["shm_size"])}})
    mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    # The one writable place of a read-only root: the Python backend's stubs and unpacked conda-pack environments.
    volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": str(o["tmp_size"])}})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    if o["conda_pack_source"] == "image":
        volumes.append({"name": "conda-pack", "emptyDir": {}})
        mounts.append({"name": "conda-pack", "mountPath": o["conda_pack_path"], "readOnly": True})
    elif o["conda_pack_source"] == "host_path":
        volumes.append({"name": "conda-pack", "hostPath": {"path": o["conda_pack_path"], "type": "Directory"}})
        mounts.append({"name": "conda-pack", "mountPath": o["conda_pack_path"], "readOnly": True})
    volumes.extend(o["extra_volumes"])
    mounts.extend(o["extra_volume_mounts"])
    return volumes, mounts, env_from, repository


def conda_pack_file(o: dict[str, Any]) -> str | None:
    """The path, inside the Triton container, that a model's config.pbtxt names as its EXECUTION_ENV_PATH.

    With ``image`` it is the tarball the init container copied; with ``host_path`` the node's folder is mounted as
    it is, so any tarball (or unpacked environment) in it works, and this is the one conda_pack_file_name names.
    """
    if o["conda_pack_source"] == "none":
        return None
    return f"{o['conda_pack_path']}/{o['conda_pack_file_name']}"


def _init_containers(o: dict[str, Any], container_security: dict[str, Any]) -> list[dict[str, Any]]:
    if o["conda_pack_source"] != "image":
        return []
    source = conda_pack_file(o)
    # The env image ships the tarball at conda_pack_path; it is copied into an emptyDir mounted one level aside,
    # as the pod's non-root user (fsGroup makes the emptyDir writable): no root init container, nothing on the node.
    return [
        {
            "name": "conda-pack",
            "image": f"{o['conda_env_registry']}/{o['conda_env_repository']}:{o['conda_env_tag']}",
            "imagePullPolicy": o["conda_env_pull_policy"],
            "command": ["/bin/sh", "-c", f'cp "{source}" /conda-pack-target/'],
            "volumeMounts": [{"name": "conda-pack", "mountPath": "/conda-pack-target"}],
            "securityContext": container_security,
        }
    ]


def _scheduling(o: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    node_selector = {str(k): str(v) for k, v in o["node_selector"].items()}
    node_selector.setdefault("kubernetes.io/arch", o["arch"])
    if o["require_prepared_nodes"] and o["model_repository_type"] == "host_path":
        node_selector.setdefault(PREPARED_NODE_LABEL, "ready")
    tolerations = list(o["tolerations"])
    if not o["use_cpu"] and not any(t.get("key") == GPU_RESOURCE for t in tolerations):
        # GPU nodes are commonly tainted nvidia.com/gpu:NoSchedule to keep CPU work off them.
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    return node_selector, tolerations


def topology_spread(o: dict[str, Any], selector: dict[str, str]) -> list[dict[str, Any]]:
    """Replicas spread over nodes, one revision at a time; ScheduleAnyway, so fewer nodes than replicas still run."""
    if o["topology_spread_constraints"] is not None:
        return list(o["topology_spread_constraints"])
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def service_account_name(o: dict[str, Any], fullname: str) -> str:
    """Always named, "default" included: left out, the API server would copy the deprecated ``serviceAccount`` field,
    which still holds the previous name, back into it, and a ServiceAccount turned off would stay in use."""
    if o["service_account_create"]:
        return str(o["service_account_name"] or fullname)
    return str(o["service_account_name"] or "default")


def network_policy_rules(o: dict[str, Any]) -> list[dict[str, Any]]:
    """Ingress rules: inference ports from network_policy_from, metrics from network_policy_metrics_from."""
    sources = DEFAULT_POLICY_FROM if o["network_policy_from"] is None else o["network_policy_from"]
    metrics = (
        DEFAULT_POLICY_METRICS_FROM if o["network_policy_metrics_from"] is None else o["network_policy_metrics_from"]
    )
    rules = []
    for peers, ports in ((sources, ("http", "grpc")), (metrics, ("metrics",))):
        rule: dict[str, Any] = {"ports": [{"port": TRITON_PORTS[p], "protocol": "TCP"} for p in ports]}
        if peers:  # an empty list is NetworkPolicy's "from anywhere"
            rule["from"] = list(peers)
        rules.append(rule)
    return rules


def service_type(o: dict[str, Any]) -> str:
    """The Service's type: ClusterIP behind a Route (the Route replaces the NodePort), else service_type."""
    return "ClusterIP" if o.get("route_enabled") else str(o["service_type"])


def build_context(release: str, namespace: str, o: dict[str, Any]) -> dict[str, Any]:
    name, fullname = names(release, o)
    image = image_ref(o)
    version = _label_value(image.rsplit(":", 1)[1])
    selector = selector_labels(release, o)
    common = {
        **{str(k): str(v) for k, v in o["labels"].items()},
        **selector,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    pod_labels = {**{str(k): str(v) for k, v in o["pod_labels"].items()}, **common}
    pod_security, container_security = _security(o)
    volumes, mounts, env_from, repository = _storage(o)
    node_selector, tolerations = _scheduling(o)
    ports = []
    for which in ("http", "grpc", "metrics"):
        # As the chart: fixed nodePorts on a NodePort Service only; a LoadBalancer's are the API server's to allocate.
        node_port = o[f"service_node_port_{which}"] if service_type(o) == "NodePort" else None
        ports.append({"name": which, "port": o[f"service_port_{which}"], "node_port": node_port or None})
    return {
        "name": name,
        "fullname": fullname,
        "namespace": namespace,
        "labels": common,
        "selector_labels": selector,
        "pod_labels": pod_labels,
        "annotations": {str(k): str(v) for k, v in o["annotations"].items()},
        "pod_annotations": {
            **{str(k): str(v) for k, v in o["pod_annotations"].items()},
            **({REVISION_ANNOTATION: str(o["model_repository_revision"])} if o["model_repository_revision"] else {}),
        },
        "replicas": o["replicas"],
        "update_strategy": o["update_strategy"],
        "pod_security_context": pod_security,
        "security_context": container_security,
        "termination_grace_period_seconds": termination_grace_period(o),
        "lifecycle": {"preStop": {"sleep": {"seconds": o["pre_stop_sleep_seconds"]}}}
        if o["pre_stop_sleep_seconds"]
        else {},
        "image_pull_secrets": [{"name": s} for s in o["image_pull_secrets"]],
        "runtime_class_name": o["runtime_class_name"],
        "priority_class_name": o["priority_class_name"],
        "node_selector": node_selector,
        "affinity": o["affinity"],
        "tolerations": tolerations,
        "volumes": volumes,
        "volume_mounts": mounts,
        "init_containers": _init_containers(o, container_security),
        "image": image,
        "image_pull_policy": o["image_pull_policy"],
        "args": _server_args(o, repository),
        "env": _env_list(o),
        "env_from": env_from,
        "resources": resources(o),
        "topology_spread_constraints": topology_spread(o, selector),
        "service_account_name": service_account_name(o, fullname),
        "service_account_annotations": {str(k): str(v) for k, v in o["service_account_annotations"].items()},
        "automount_service_account_token": bool(o["automount_service_account_token"]),
        "network_policy_rules": network_policy_rules(o),
        "probes": _probes(o),
        "service_type": service_type(o),
        "service_ports": ports,
        "pdb_min_available": o["pdb_min_available"],
        "pdb_max_unavailable": o["pdb_max_unavailable"],
        "service_monitor_interval": o["service_monitor_interval"],
        "service_monitor_labels": {str(k): str(v) for k, v in o["service_monitor_labels"].items()},
        "route_host": o.get("route_host"),
        "route_tls": o.get("route_tls") or "edge",
        "route_port": o.get("route_port") or "http",
        **dashboard_context(TEMPLATE_DIR, namespace, fullname, o),
    }


def wanted_objects(o: dict[str, Any]) -> list[str]:
    enabled = {
        "service_account": o["service_account_create"],
        "deployment": True,
        "service": True,
        "pdb": o["pdb_enabled"],
        "network_policy": o["network_policy_enabled"],
        "service_monitor": o["service_monitor_enabled"],
        "route": bool(o.get("route_enabled")),
        "grafana_dashboard": bool(o.get("grafana_dashboard_enabled")),
    }
    return [key for key in TEMPLATES if enabled[key]]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# One Jinja environment per template folder and process: templates are compiled once (in ansible-playbook itself
# when an action plugin preloads them, see plugins/plugin_utils/_in_controller.py).
_ENVIRONMENTS: dict[str, Any] = {}


def _environment(template_dir: str) -> Any:
    if template_dir not in _ENVIRONMENTS:
        _ENVIRONMENTS[template_dir] = _new_environment(template_dir)
    return _ENVIRONMENTS[template_dir]


def preload_templates(template_dir: str = TEMPLATE_DIR) -> None:
    """Compile every template now (once per process; forks inherit them)."""
    env = _environment(template_dir)
    for name in TEMPLATES.values():
        env.get_template(name)


def _new_environment(template_dir: str) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["combine"] = lambda a, b: {**a, **b}
    return env


def render(
    release: str,
    namespace: str,
    o: dict[str, Any],
    template_dir: str = TEMPLATE_DIR,
    context: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Render every wanted object: ``{"deployment": {...}, "service": {...}, ...}`` in apply order. ``context`` is
    :func:`build_context`'s result when the caller already has it."""
    import yaml

    context = context if context is not None else build_context(release, namespace, o)
    env = _environment(template_dir)
    objects = {}
    for key in wanted_objects(o):
        text = env.get_template(TEMPLATES[key]).render(**context)
        manifest = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml's when present
        if key in o["patches"]:
            manifest = merge_patch(manifest, o["patches"][key])
        objects[key] = manifest
    return objects
