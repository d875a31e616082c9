# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""A live release of the ``triton-backend`` Helm chart: Helm's release Secrets, its values, and the chart's objects.

Helm 3 keeps one Secret per revision (``sh.helm.release.v1.<release>.v<N>``, type ``helm.sh/release.v1``, labels
``owner=helm``, ``name``, ``status``, ``version``). Its ``release`` key is base64 (Helm's) of a gzip of the JSON
release: ``config`` holds the values the user gave, ``chart.values`` the chart's defaults, ``manifest`` what Helm
rendered and applied.

The chart's templates (chart 1.3.0) are reproduced here as plain functions, so that the objects of an adopted
release keep the chart's names, selector, and pod template field for field: the running pods are not replaced unless
a value changes the pod template. Pure functions, except ``read_release``, which reads the Secrets.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from typing import Any

HELM_SECRET_TYPE = "helm.sh/release.v1"
CHART = "triton-backend"
# Chart versions whose templates are reproduced below. Another version is refused: its pod template may differ, and
# taking it over would then replace the pods without anyone asking for it.
COVERED_CHART_VERSIONS = ("1.3.0",)
# Field managers Helm 3 writes as (client-side apply: operation Update). Older Helm 3 releases wrote as the default
# client-go user agent.
HELM_MANAGERS = ("helm", "Go-http-client")
# Metadata that tells Helm (or a reader) that Helm owns an object; removed on adoption.
HELM_LABELS = ("heritage", "chart", "helm.sh/chart")
HELM_ANNOTATION_PREFIXES = ("meta.helm.sh/", "helm.sh/")
# The chart's random annotation on the Deployment (a new value on every helm upgrade); meaningless once adopted.
CHART_ANNOTATIONS = ("rollme",)
VALUES_ANNOTATION = "inference.triton/helm-values"
ADOPTED_ANNOTATION = "inference.triton/adopted-from"


class HelmReleaseError(Exception):
    """The Helm release cannot be taken over as it is; the message says why and what to do."""


def decode_release(data: str) -> dict[str, Any]:
    """The release JSON from the ``release`` key of a Secret's data (Kubernetes' base64 of Helm's base64 gzip)."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    release: dict[str, Any] = json.loads(raw)
    return release


def encode_release(release: dict[str, Any]) -> str:
    """The inverse of decode_release (tests write releases as Helm would)."""
    return base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()


def coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of values: mappings key by key, anything else replaced; ``None`` in override deletes the key."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = coalesce(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def release_values(release: dict[str, Any]) -> dict[str, Any]:
    """The values the release was rendered with: the chart's defaults, then the user's (``helm get values -a``)."""
    values: dict[str, Any] = coalesce((release.get("chart") or {}).get("values") or {}, release.get("config") or {})
    return values


def values_changes(before: Any, after: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Dotted keys whose value differs: {key: {"release": old, "now": new}}."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: dict[str, dict[str, Any]] = {}
        for key in sorted(set(before) | set(after), key=str):
            changes.update(values_changes(before.get(key), after.get(key), f"{prefix}{key}."))
        return changes
    if before == after or (before in (None, {}, []) and after in (None, {}, [])):
        return {}
    return {prefix.rstrip("."): {"release": before, "now": after}}


# -- the chart's templates ------------------------------------------------------------------------------------------


def _get(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def go_text(value: Any) -> str:
    """What Go's ``%v`` (and a bare ``{{ .Values.x }}``) prints: values from JSON are float64, 24.10 prints 24.1."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if value is None:
        return "<nil>"
    return str(value)


def _number(value: Any) -> Any:
    # A number rendered into YAML by the template and read back: 1.0 is the integer 1.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def names(release: str, values: dict[str, Any]) -> tuple[str, str]:
    """(name, fullname) as the chart's helpers compute them."""
    name = (values.get("nameOverride") or CHART)[:63].rstrip("-")
    if values.get("fullnameOverride"):
        return name, str(values["fullnameOverride"])[:63].rstrip("-")
    base = values.get("nameOverride") or CHART
    full = release if base in release else f"{release}-{base}"
    return name, full[:63].rstrip("-")


def _image_tags(values: dict[str, Any]) -> tuple[str, str]:
    arm = values.get("arch") == "arm64"
    tag = go_text(_get(values, "image.tag")) + ("-py3-cpu-arm64" if arm else "-py3")
    env_tag = go_text(_get(values, "tritonEnv.tag")) + ("-m1" if arm else "-cpu")
    return tag, env_tag


def server_command(values: dict[str, Any], server: dict[str, Any]) -> str:
    """The chart's hard-coded server command; ``server`` (model_control_mode, load_models, server_args) changes it."""
    path = go_text(_get(values, "image.modelRepositoryPath"))
    mode = server.get("model_control_mode") or "explicit"
    words = [
        f"--model-store={path}",
        "--allow-http=true",
        f"--model-control-mode={mode}",
        "--strict-model-config=false",
    ]
    words += [f"--load-model={model}" for model in server.get("load_models") or []]
    words += [str(arg) for arg in server.get("server_args") or []]
    return "tritonserver " + " ".join(words)


def render(
    release: str, namespace: str, values: dict[str, Any], labels: dict[str, str], server: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The chart's Deployment, Service and (enabled) PDB for ``values``, with ``labels`` on each object's metadata.

    The pod template and the selectors are the chart's, field for field; the PDB is written as policy/v1, the only
    version current API servers serve (the chart's policy/v1beta1 went with Kubernetes 1.25).
    """
    name, fullname = names(release, values)
    selector = {"app": name, "release": release}
    tag, env_tag = _image_tags(values)
    model_path = go_text(_get(values, "image.modelRepositoryPath"))
    conda_path = go_text(_get(values, "image.condaPackPath"))
    container: dict[str, Any] = {
        "name": CHART,
        "image": f"{go_text(_get(values, 'image.registry'))}/{go_text(_get(values, 'image.repository'))}:{tag}",
        "imagePullPolicy": _get(values, "image.pullPolicy"),
        "volumeMounts": [
            {"name": "triton-models-volume", "mountPath": model_path},
            {"mountPath": "/dev/shm", "name": "dshm"},
            {"mountPath": conda_path, "name": "triton-conda-pack-volume"},
        ],
        "args": ["/bin/bash", "-c", server_command(values, server or {})],
        "ports": [
            {"containerPort": 8000, "name": "http"},
            {"containerPort": 8001, "name": "grpc"},
            {"containerPort": 8002, "name": "metrics"},
        ],
        "livenessProbe": {"initialDelaySeconds": 60, "httpGet": {"path": "/v2/health/live", "port": "http"}},
        "readinessProbe": {
            "initialDelaySeconds": 60,
            "periodSeconds": 5,
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
        },
        "securityContext": {"runAsUser": 1000},
    }
    if not _get(values, "mode.useCpu"):
        container["resources"] = {"limits": {"nvidia.com/gpu": _number(_get(values, "image.numGpus"))}}
    pod_spec: dict[str, Any] = {"securityContext": {"fsGroup": 1000}}
    if values.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = copy.deepcopy(values["imagePullSecrets"])
    pod_spec["volumes"] = [
        {"name": "triton-models-volume", "hostPath": {"path": model_path, "type": "DirectoryOrCreate"}},
        {"name": "triton-conda-pack-volume", "hostPath": {"path": conda_path, "type": "DirectoryOrCreate"}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
    ]
    pack = go_text(_get(values, "image.condaPackFileName"))
    env = _get(values, "tritonEnv") or {}
    pod_spec["initContainers"] = [
        {
            "name": f"{CHART}-env",
            "image": f"{go_text(env.get('registry'))}/{go_text(env.get('repository'))}:{env_tag}",
            "imagePullPolicy": env.get("pullPolicy"),
            "volumeMounts": [{"mountPath": f"{conda_path}-env", "name": "triton-conda-pack-volume"}],
            "command": ["/bin/sh"],
            "args": ["-c", f"cp {conda_path}/{pack} {conda_path}-env && chown -R 1000:1000 {conda_path}-env"],
        }
    ]
    pod_spec["containers"] = [container]
    for key in ("nodeSelector", "affinity", "tolerations"):
        if values.get(key):
            pod_spec[key] = copy.deepcopy(values[key])

    objects: dict[str, dict[str, Any]] = {
        "deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": fullname, "namespace": namespace, "labels": {**selector, **labels}},
            "spec": {
                "replicas": _number(values.get("replicaCount")),
                "selector": {"matchLabels": dict(selector)},
                "template": {"metadata": {"labels": dict(selector)}, "spec": pod_spec},
            },
        },
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": fullname, "namespace": namespace, "labels": {**selector, **labels}},
            "spec": {"type": _required(values, "service.type"), "ports": _service_ports(values), "selector": selector},
        },
    }
    pdb = values.get("podDisruptionBudget") or {}
    if pdb.get("enabled"):
        spec: dict[str, Any] = {}
        for key in ("minAvailable", "maxUnavailable"):
            if pdb.get(key):
                spec[key] = _number(pdb[key])
        spec["selector"] = {"matchLabels": {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release}}
        objects["pdb"] = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": fullname, "namespace": namespace, "labels": dict(labels)},
            "spec": spec,
        }
    return objects


def _required(values: dict[str, Any], path: str) -> Any:
    value = _get(values, path)
    if value in (None, ""):
        raise HelmReleaseError(f"values: {path} is required by the chart and is not set")
    return _number(value)


def _service_ports(values: dict[str, Any]) -> list[dict[str, Any]]:
    ports = []
    node_port_type = _get(values, "service.type") == "NodePort"
    for port_name, key in (("http", "Http"), ("grpc", "Grpc"), ("metrics", "Metrics")):
        port: dict[str, Any] = {"port": _required(values, f"service.port{key}"), "targetPort": port_name}
        node_port = _get(values, f"service.nodePort{key}")
        if node_port_type and node_port:
            if not 30000 <= int(node_port) <= 32767:
                raise HelmReleaseError(
                    f"values: service.nodePort{key} {go_text(node_port)}: the chart accepts a nodePort between "
                    "30000 and 32767 only"
                )
            port["nodePort"] = _number(node_port)
        port["name"] = port_name
        ports.append(port)
    return ports


# -- comparing with what Helm applied ----------------------------------------------------------------------------------


def _prune_empty(node: Any) -> Any:
    # An empty `env:` renders as null; the API server drops nulls. Compare without them.
    if isinstance(node, dict):
        return {k: _prune_empty(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_prune_empty(v) for v in node]
    return node


def manifest_objects(manifest: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Helm's stored manifest, parsed: {(kind, name): object}."""
    import yaml

    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for document in yaml.safe_load_all(manifest or ""):
        if isinstance(document, dict) and document.get("kind"):
            objects[(str(document["kind"]), str((document.get("metadata") or {}).get("name")))] = document
    return objects


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first path where two parsed objects differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: Helm applied {b!r}, the chart as reproduced renders {a!r}"


def check_reproduced(release: dict[str, Any], objects: dict[str, dict[str, Any]]) -> None:
    """Refuse a release whose manifest the reproduced chart does not render exactly (another chart or version, or a
    hand-edited one): adopting it would replace pods nobody asked to replace."""
    applied = manifest_objects(release.get("manifest") or "")
    for obj in objects.values():
        kind, name = obj["kind"], obj["metadata"]["name"]
        live = applied.get((kind, name))
        if live is None:
            raise HelmReleaseError(f"the release's manifest has no {kind} {name}, which chart {CHART} renders")
        for part in ("spec",):
            found = first_difference(_prune_empty(obj.get(part)), _prune_empty(live.get(part)), f"{kind}.{part}")
            if found:
                raise HelmReleaseError(
                    f"release {release.get('name')!r} was not rendered by chart {CHART} as this collection reproduces "
                    f"it ({found}); it is not taken over"
                )


def without_helm_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as it will be after the hand-over's clean-up: Helm's labels, annotations and field managers gone."""
    result = copy.deepcopy(obj)
    meta = result.setdefault("metadata", {})
    for key in helm_labels(obj):
        meta["labels"].pop(key, None)
    for key in helm_annotations(obj):
        meta["annotations"].pop(key, None)
    if meta.get("annotations") == {}:
        meta.pop("annotations")
    if "managedFields" in meta:
        meta["managedFields"] = [f for f in meta["managedFields"] if not is_helm_entry(f)]
    return result


def helm_labels(obj: dict[str, Any]) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    found = [key for key in HELM_LABELS if key in labels]
    if labels.get("app.kubernetes.io/managed-by") == "Helm":
        found.append("app.kubernetes.io/managed-by")
    return found


def helm_annotations(obj: dict[str, Any]) -> list[str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return [key for key in annotations if key.startswith(HELM_ANNOTATION_PREFIXES) or key in CHART_ANNOTATIONS]


def is_helm_entry(entry: dict[str, Any]) -> bool:
    return entry.get("manager") in HELM_MANAGERS and entry.get("operation") == "Update" and not entry.get("subresource")


def helm_owned_fields(obj: dict[str, Any] | None) -> list[str]:
    """Top-level field paths a Helm field manager owns (``spec.template``, ``metadata.labels`` ...), for the report."""
    paths: set[str] = set()
    for entry in (obj or {}).get("metadata", {}).get("managedFields") or []:
        if not is_helm_entry(entry):
            continue
        for top, sub in (entry.get("fieldsV1") or {}).items():
            if not top.startswith("f:"):
                continue
            children = [k[2:] for k in (sub or {}) if k.startswith("f:")]
            paths.update(f"{top[2:]}.{child}" for child in children) if children else paths.add(top[2:])
    return sorted(paths)
