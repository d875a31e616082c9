# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Checks against the live cluster that run before the first write: namespace and Pod Security, referenced
Secrets and PVCs, nodePort collisions, and GPU capacity on the nodes the pods may land on."""

from __future__ import annotations

from typing import Any

from ._apply import to_dict
from ._client import Cluster, api_error_message
from ._render import GPU_RESOURCE

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"


class PreflightError(Exception):
    """The cluster cannot run what was asked; nothing has been written. ``option`` names the option at fault."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


def _get(cluster: Cluster, api_version: str, kind: str, **kwargs: Any) -> Any:
    resource = cluster.resource(api_version, kind)
    return cluster.call(lambda: resource.get(**kwargs, **cluster.request_kwargs()), f"reading {kind}")


def namespace_state(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    try:
        return to_dict(_get(cluster, "v1", "Namespace", name=namespace))
    except Exception as exc:
        if getattr(exc, "status", None) == 404:
            return None
        raise


def check_pod_security(namespace_obj: dict[str, Any] | None, o: dict[str, Any]) -> None:
    """hostPath volumes are refused by Pod Security 'baseline' and 'restricted': say so before writing."""
    if namespace_obj is None:
        return
    labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
    level = labels.get(PSA_ENFORCE, "privileged")
    name = namespace_obj["metadata"]["name"]
    host_paths = []
    if o["model_repository_type"] == "host_path":
        host_paths.append(("model_repository_type", o["model_repository_path"]))
    if o["conda_pack_source"] == "host_path":
        host_paths.append(("conda_pack_source", o["conda_pack_path"]))
    host_paths.extend(("extra_volumes", v["name"]) for v in o["extra_volumes"] if "hostPath" in v)
    if level in ("baseline", "restricted") and host_paths:
        option, what = host_paths[0]
        raise PreflightError(
            option,
            f"namespace {name!r} enforces Pod Security level {level!r} ({PSA_ENFORCE}={level}), which forbids "
            f"hostPath volumes ({what}); use model_repository_type pvc or object_storage, or deploy to a namespace "
            f"labelled {PSA_ENFORCE}=privileged",
        )
    if level == "restricted":
        pod = o["pod_security_context"]
        if pod.get("runAsNonRoot") is False or pod.get("runAsUser") == 0:
            raise PreflightError(
                "pod_security_context", f"namespace {name!r} enforces 'restricted', which forbids running as root"
            )


def check_references(cluster: Cluster, namespace: str, o: dict[str, Any], warnings: list[str]) -> None:
    """Secrets and PVCs the pods need must exist; their contents are never read."""
    wanted = []
    if o["model_repository_type"] == "pvc":
        wanted.append(("model_repository_claim", "PersistentVolumeClaim", o["model_repository_claim"]))
    if o["model_repository_type"] == "object_storage" and o["model_repository_secret"]:
        wanted.append(("model_repository_secret", "Secret", o["model_repository_secret"]))
    for option, kind, name in wanted:
        resource = cluster.resource("v1", kind)
        try:
            # metadata only: a Secret's data is not needed to know that it exists.
            cluster.call(
                lambda resource=resource, name=name: resource.get(
                    name=name,
                    namespace=namespace,
                    header_params={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"},
                    **cluster.request_kwargs(),
                ),
                f"reading {kind} {name}",
            )
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                raise PreflightError(option, f"{kind} {namespace}/{name} does not exist") from exc
            if status == 403:
                warnings.append(f"preflight: cannot check that {kind} {namespace}/{name} exists (forbidden)")
                continue
            raise


def check_node_ports(
    cluster: Cluster, namespace: str, service_name: str, o: dict[str, Any], warnings: list[str]
) -> None:
    if o["service_type"] != "NodePort":
        return
    wanted = {
        o[f"service_node_port_{w}"]: f"service_node_port_{w}"
        for w in ("http", "grpc", "metrics")
        if o[f"service_node_port_{w}"]
    }
    if not wanted:
        return
    try:
        services = _get(cluster, "v1", "Service").items
    except Exception as exc:
        if getattr(exc, "status", None) == 403:
            warnings.append("preflight: cannot list Services cluster-wide to check nodePort collisions (forbidden)")
            return
        raise
    for service in services:
        meta = service.metadata
        if meta.namespace == namespace and meta.name == service_name:
            continue
        for port in service.spec.ports or []:
            node_port = getattr(port, "nodePort", None)
            if node_port in wanted:
                raise PreflightError(
                    wanted[node_port], f"nodePort {node_port} is already used by Service {meta.namespace}/{meta.name}"
                )


def _tolerates(taint: dict[str, Any], tolerations: list[dict[str, Any]]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        operator = toleration.get("operator", "Equal")
        if not toleration.get("key") and operator == "Exists":
            return True
        if toleration.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or toleration.get("value") == taint.get("value"):
            return True
    return False


def _matches_expression(labels: dict[str, str], expression: dict[str, Any]) -> bool:
    key: str = str(expression.get("key") or "")
    operator, values = expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt"):
        try:
            number, bound = int(labels[key]), int(values[0])
        except (KeyError, ValueError, IndexError):
            return False
        return number > bound if operator == "Gt" else number < bound
    return True


def node_eligible(
    node: dict[str, Any], node_selector: dict[str, str], affinity: dict[str, Any], tolerations: list[dict[str, Any]]
) -> bool:
    """Would the scheduler consider this node for the pod (labels, required affinity, taints, cordon)?"""
    labels = (node.get("metadata") or {}).get("labels") or {}
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    if any(labels.get(k) != v for k, v in node_selector.items()):
        return False
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    )
    if required and not any(
        all(_matches_expression(labels, e) for e in term.get("matchExpressions") or []) for term in required
    ):
        return False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(taint, tolerations):
            return False
    ready = [c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
    return bool(ready) and ready[0].get("status") == "True"


def gpu_slots(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    num_gpus: int,
    node_selector: dict[str, str],
    affinity: dict[str, Any],
    tolerations: list[dict[str, Any]],
    own_selector: dict[str, str],
) -> tuple[int, list[str]]:
    """How many pods asking ``num_gpus`` GPUs each fit, and a line per eligible node for the message."""
    used: dict[str, int] = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if own_selector and all(labels.get(k) == v for k, v in own_selector.items()):
            continue  # our own pods are being replaced, their GPUs come back
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            limits = (container.get("resources") or {}).get("limits") or {}
            used[node] = used.get(node, 0) + int(limits.get(GPU_RESOURCE, 0) or 0)
    slots = 0
    lines = []
    for node in nodes:
        name = node["metadata"]["name"]
        allocatable = int(((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE, 0) or 0)
        if not allocatable or not node_eligible(node, node_selector, affinity, tolerations):
            continue
        free = max(allocatable - used.get(name, 0), 0)
        slots += free // num_gpus
        lines.append(f"{name}: {allocatable} allocatable, {free} free")
    return slots, lines


def _nodes_and_pods(
    cluster: Cluster, warnings: list[str], denied: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    """Every node and every pod that holds resources; None, with ``denied`` and the reason warned, when RBAC says no."""
    try:
        nodes = [to_dict(n) for n in _get(cluster, "v1", "Node").items]
        pods = [
            to_dict(p)
            for p in _get(cluster, "v1", "Pod", field_selector="status.phase!=Succeeded,status.phase!=Failed").items
        ]
    except Exception as exc:
        if getattr(exc, "status", None) == 403:
            warnings.append(f"{denied} ({api_error_message(exc)})")
            return None
        raise
    return nodes, pods


def check_gpu_capacity(cluster: Cluster, context: dict[str, Any], o: dict[str, Any], warnings: list[str]) -> str | None:
    """Enough free GPUs for replicas x num_gpus on eligible nodes? Returns the problem, or None."""
    if o["use_cpu"] or not o["replicas"]:
        return None
    listed = _nodes_and_pods(cluster, warnings, "preflight: cannot list nodes and pods to check GPU capacity")
    if listed is None:
        return None
    nodes, pods = listed
    slots, lines = gpu_slots(
        nodes,
        pods,
        o["num_gpus"],
        context["node_selector"],
        context["affinity"],
        context["tolerations"],
        context["selector_labels"],
    )
    if slots >= o["replicas"]:
        return None
    where = (
        "; ".join(lines)
        if lines
        else "no schedulable node with allocatable nvidia.com/gpu matches the pod's nodeSelector, affinity, tolerations"
    )
    return (
        f"replicas={o['replicas']} x num_gpus={o['num_gpus']}: only {slots} pod(s) fit on the GPU nodes "
        f"({where}); lower replicas or num_gpus, add GPU nodes, or check the device plugin"
    )


def gpu_headroom(
    cluster: Cluster, context: dict[str, Any], o: dict[str, Any], warnings: list[str]
) -> tuple[int, int, list[str]] | None:
    """For a rolling update (gpu_rollout): how many more pods of ``num_gpus`` GPUs fit beside every running pod,
    how many fit once the release's own pods are gone, and a line per eligible node. None when it cannot be read."""
    listed = _nodes_and_pods(
        cluster, warnings, "gpu_rollout: cannot list nodes and pods to check the GPUs for surge pods"
    )
    if listed is None:
        return None
    nodes, pods = listed
    where = (context["node_selector"], context["affinity"], context["tolerations"])
    spare, lines = gpu_slots(nodes, pods, o["num_gpus"], *where, {})
    in_place, _lines = gpu_slots(nodes, pods, o["num_gpus"], *where, context["selector_labels"])
    return spare, in_place, lines
