# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""One Triton release: preflight, apply in order, prune what is no longer wanted, or remove it all."""

from __future__ import annotations

from typing import Any

from ._apply import Applier, ApplyError, to_dict
from ._client import Cluster
from ._preflight import (
    PreflightError,
    check_gpu_capacity,
    check_node_ports,
    check_pod_security,
    check_references,
    namespace_state,
)
from ._render import MANAGED_BY, release_selector

# Every kind this collection may create for a release, in apply order.
MANAGED_KINDS = [
    ("deployment", "apps/v1", "Deployment"),
    ("service", "v1", "Service"),
    ("pdb", "policy/v1", "PodDisruptionBudget"),
    ("service_monitor", "monitoring.coreos.com/v1", "ServiceMonitor"),
]


class ReleaseError(Exception):
    """A failure of the release as a whole; ``option`` names the option at fault when there is one."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


def _owned_elsewhere(live: dict[str, Any], release: str) -> str | None:
    labels = (live.get("metadata") or {}).get("labels") or {}
    if labels.get("app.kubernetes.io/managed-by") != MANAGED_BY:
        manager = labels.get("app.kubernetes.io/managed-by") or labels.get("heritage") or "something else"
        return f"is managed by {manager!r}, not by this collection"
    if labels.get("app.kubernetes.io/instance") != release:
        return f"belongs to release {labels.get('app.kubernetes.io/instance')!r}"
    return None


def present(
    cluster: Cluster,
    applier: Applier,
    release: str,
    namespace: str,
    plan: dict[str, Any],
    create_namespace: bool,
    preflight: str,
    warnings: list[str],
) -> dict[str, Any]:
    o = plan["options"]
    manifests: dict[str, dict[str, Any]] = plan["manifests"]
    context = plan["context"]

    ns_obj = namespace_state(cluster, namespace)
    if ns_obj is None and not create_namespace:
        raise ReleaseError(f"namespace {namespace!r} does not exist; set create_namespace: true", "namespace")

    # Preflight: nothing is written until every check passed.
    problems: list[tuple[str, str]] = []
    if preflight != "skip":
        try:
            check_pod_security(ns_obj, o)
            if ns_obj is not None:
                check_references(cluster, namespace, o, warnings)
            check_node_ports(cluster, namespace, context["fullname"], o, warnings)
        except PreflightError as exc:
            problems.append((exc.option, str(exc)))
        gpu_problem = check_gpu_capacity(cluster, context, o, warnings)
        if gpu_problem:
            problems.append(("num_gpus", f"preflight: {gpu_problem}"))
    for option, message in problems:
        if preflight == "fail":
            raise ReleaseError(message, option)
        warnings.append(message)

    service_monitor_served = "service_monitor" not in manifests or cluster.resource(
        "monitoring.coreos.com/v1", "ServiceMonitor"
    )
    if not service_monitor_served:
        warnings.append(
            "service_monitor_enabled: the ServiceMonitor CRD (monitoring.coreos.com/v1) is not installed; skipped"
        )
        manifests = {k: v for k, v in manifests.items() if k != "service_monitor"}

    # Objects of the same name that another owner holds are never taken over silently.
    for manifest in manifests.values():
        resource = cluster.resource(manifest["apiVersion"], manifest["kind"])
        live = applier.get(resource, manifest["metadata"]["name"], namespace) if ns_obj is not None else None
        if live is not None:
            reason = _owned_elsewhere(live, release)
            if reason:
                raise ReleaseError(
                    f"{manifest['kind']} {namespace}/{manifest['metadata']['name']} already exists and {reason}; "
                    "remove it, or choose another release name or fullname_override",
                    "name",
                )

    if ns_obj is None:
        applier.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
            },
            key="namespace",
        )
    for key, manifest in manifests.items():
        applier.apply(manifest, key=key, namespace_exists=ns_obj is not None or not applier.check_mode)

    # Prune: objects of this release that the options no longer ask for (PDB or ServiceMonitor turned off).
    if ns_obj is not None:
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests.values()}
        for key, api_version, kind in MANAGED_KINDS:
            for live in applier.list_managed(api_version, kind, namespace, release_selector(release)):
                if (kind, live["metadata"]["name"]) not in wanted:
                    applier.delete(cluster.resource(api_version, kind), live["metadata"]["name"], namespace, key=key)
    return endpoints(applier)


def absent(cluster: Cluster, applier: Applier, release: str, namespace: str) -> None:
    if namespace_state(cluster, namespace) is None:
        return
    for key, api_version, kind in MANAGED_KINDS:
        for live in applier.list_managed(api_version, kind, namespace, release_selector(release)):
            applier.delete(cluster.resource(api_version, kind), live["metadata"]["name"], namespace, key=key)


def endpoints(applier: Applier) -> dict[str, Any]:
    service = next((r["object"] for r in applier.results if r["kind"] == "Service" and r["object"]), None)
    if not service:
        return {}
    spec = service.get("spec") or {}
    return {
        "service": service["metadata"]["name"],
        "type": spec.get("type"),
        "cluster_ip": spec.get("clusterIP"),
        "ports": {
            p["name"]: {"port": p["port"], "node_port": p.get("nodePort")}
            for p in spec.get("ports") or []
            if p.get("name")
        },
    }


def wait_absent(cluster: Cluster, namespace: str, selector: str, timeout: float) -> list[str]:
    """After a removal: watch until no pod of the release is left. Returns the names still there."""
    import time

    pods = cluster.resource("v1", "Pod")
    deadline = time.monotonic() + timeout
    while True:
        listing = cluster.call(
            lambda: pods.get(namespace=namespace, label_selector=selector, **cluster.request_kwargs()), "listing pods"
        )
        left = [p.metadata.name for p in listing.items]
        remaining = deadline - time.monotonic()
        if not left or remaining <= 0:
            return left
        try:
            for event in cluster.dynamic.watch(
                pods,
                namespace=namespace,
                label_selector=selector,
                resource_version=listing.metadata.resourceVersion,
                timeout=max(1, int(min(remaining, 10))),
            ):
                if event.get("type") == "DELETED":
                    break
        except Exception as exc:
            if getattr(exc, "status", None) not in (None, 410):
                raise


__all__ = ["ApplyError", "ReleaseError", "present", "absent", "endpoints", "wait_absent", "to_dict"]
