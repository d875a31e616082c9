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
    gpu_headroom,
    namespace_state,
)
from ._render import MANAGED_BY, RELEASE_KINDS, REVISION_ANNOTATION, release_selector
from ._rollout import ONE_AT_A_TIME, decide, keeps_auto_choice, pdb_allowed_unavailable, rolls_pods, with_one_at_a_time


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


def keep_revision(manifest: dict[str, Any], live: dict[str, Any]) -> None:
    """Unset model_repository_revision keeps the live one: a run that did not fingerprint the repository (the
    triton_server role alone, verify.yml) must neither remove it nor roll the pods."""
    live_annotations = ((live.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {}
    if REVISION_ANNOTATION in live_annotations:
        metadata = manifest["spec"]["template"].setdefault("metadata", {})
        metadata.setdefault("annotations", {})[REVISION_ANNOTATION] = live_annotations[REVISION_ANNOTATION]


def present(
    cluster: Cluster,
    applier: Applier,
    release: str,
    namespace: str,
    rendered: dict[str, Any],
    create_namespace: bool,
    preflight: str,
    warnings: list[str],
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply the release. Dry runs first: nothing is checked or written when nothing would change.

    ``report`` receives ``gpu_rollout`` when this rollout's strategy was switched (see _rollout.py)."""
    options, context = rendered["options"], rendered["context"]
    ns_obj = namespace_state(cluster, namespace)
    if ns_obj is None and not create_namespace:
        raise ReleaseError(f"namespace {namespace!r} does not exist; set create_namespace: true", "namespace")
    exists = ns_obj is not None
    manifests = _served(cluster, rendered["manifests"], warnings)

    # 1. Read every object and dry-run its apply: the server's own verdict on what would change.
    previews = _previews(cluster, applier, release, namespace, manifests, options, context, exists, warnings)
    # Objects of this release that the options no longer ask for (an optional object turned off).
    stale = applier.stale(RELEASE_KINDS, namespace, release_selector(release), manifests.values()) if exists else []
    # A rolling update of GPU pods that no surge pod can start: replaced one at a time, or refused (gpu_rollout).
    rollout_problem = None
    if "deployment" in previews and exists and preflight != "skip":
        previews["deployment"], rollout_problem = _gpu_rollout(
            cluster, applier, previews["deployment"], options, context, warnings, report if report is not None else {}
        )

    # 2. Preflight, only when something is going to be written: nothing is written until every check passed.
    changing = {key for key, preview in previews.items() if preview["action"] != "unchanged"}
    if (changing or stale or not exists) and preflight != "skip":
        problems = _preflight_problems(cluster, namespace, ns_obj, options, context, changing, warnings)
        for option, message in problems + ([rollout_problem] if rollout_problem else []):
            if preflight == "fail":
                raise ReleaseError(message, option)
            warnings.append(message)

    # 3. Write (or, in check mode, report) in order.
    if not exists:
        namespace_manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
        }
        applier.apply(namespace_manifest, key="namespace")
        if not applier.check_mode:
            # Now that the namespace exists, the objects get real dry runs (and server defaults) before writing.
            previews = {key: applier.preview(manifest) for key, manifest in manifests.items()}
    for key, preview in previews.items():
        applier.commit(preview, key=key)
    applier.prune(stale)
    return endpoints(applier)


def _served(cluster: Cluster, manifests: dict[str, dict[str, Any]], warnings: list[str]) -> dict[str, dict[str, Any]]:
    """The manifests whose kinds the cluster serves: a ServiceMonitor without its CRD is skipped with a warning, a
    Route without OpenShift's API refused before anything is written."""
    if "service_monitor" in manifests and not cluster.resource("monitoring.coreos.com/v1", "ServiceMonitor"):
        warnings.append(
            "service_monitor_enabled: the ServiceMonitor CRD (monitoring.coreos.com/v1) is not installed; skipped"
        )
        manifests = {k: v for k, v in manifests.items() if k != "service_monitor"}
    if "route" in manifests and not cluster.resource("route.openshift.io/v1", "Route"):
        raise ReleaseError(
            "route_enabled: this cluster does not serve the Route API (route.openshift.io/v1), which OpenShift "
            "provides; nothing was written. Leave route_enabled off and reach Triton through service_type",
            "route_enabled",
        )
    return manifests


def _previews(
    cluster: Cluster,
    applier: Applier,
    release: str,
    namespace: str,
    manifests: dict[str, dict[str, Any]],
    options: dict[str, Any],
    context: dict[str, Any],
    exists: bool,
    warnings: list[str],
) -> dict[str, dict[str, Any]]:
    """Each object's live state and dry-run apply; objects of the same name held by another owner are refused."""
    previews: dict[str, dict[str, Any]] = {}
    for key, manifest in manifests.items():
        resource = cluster.resource(manifest["apiVersion"], manifest["kind"])
        live = applier.get(resource, manifest["metadata"]["name"], namespace) if exists else None
        reason = _owned_elsewhere(live, release) if live is not None else None
        if reason:
            raise ReleaseError(
                f"{manifest['kind']} {namespace}/{manifest['metadata']['name']} already exists and {reason}; "
                "remove it, or choose another release name or fullname_override",
                "name",
            )
        if key == "deployment" and live is not None and options.get("model_repository_revision") is None:
            keep_revision(manifest, live)
        try:
            previews[key] = applier.preview(manifest, namespace_exists=exists, live=live)
        except ApplyError as exc:
            if key == "service" and "already allocated" in str(exc):
                # The server refused the dry run; name the option and the Service holding the port.
                try:
                    check_node_ports(cluster, namespace, context["fullname"], options, warnings)
                except PreflightError as taken:
                    raise ReleaseError(str(taken), taken.option) from exc
            raise
    return previews


def _preflight_problems(
    cluster: Cluster,
    namespace: str,
    ns_obj: dict[str, Any] | None,
    options: dict[str, Any],
    context: dict[str, Any],
    changing: set[str],
    warnings: list[str],
) -> list[tuple[str, str]]:
    """(option, message) of every preflight check that fails for the objects about to change."""
    problems: list[tuple[str, str]] = []
    try:
        check_pod_security(ns_obj, options)
        if ns_obj is not None:
            check_references(cluster, namespace, options, warnings)
        if "service" in changing:
            check_node_ports(cluster, namespace, context["fullname"], options, warnings)
    except PreflightError as exc:
        problems.append((exc.option, str(exc)))
    if "deployment" in changing:
        gpu_problem = check_gpu_capacity(cluster, context, options, warnings)
        if gpu_problem:
            problems.append(("num_gpus", f"preflight: {gpu_problem}"))
    return problems


def _gpu_rollout(
    cluster: Cluster,
    applier: Applier,
    planned: dict[str, Any],
    options: dict[str, Any],
    context: dict[str, Any],
    warnings: list[str],
    report: dict[str, Any],
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """The Deployment's planned apply, with auto's strategy when this rollout needs it; and a problem, if any.

    The strategy is decided only when the apply replaces the pods (the pod template the server returns differs from
    the live one): it matters for a rollout only. Between rollouts, auto's strategy stays while the options ask for
    the same update_strategy, so that a run with the same values changes nothing, whatever the GPUs do meanwhile.
    """
    before, after = planned["before"], planned["after"]
    if options["use_cpu"] or not options["num_gpus"] or before is None or after is None:
        return planned, None
    manifest = planned["manifest"]
    requested = (manifest.get("spec") or {}).get("strategy")
    if not rolls_pods(before, after):
        if keeps_auto_choice(before, requested):
            return applier.preview(with_one_at_a_time(manifest, requested)), None
        return planned, None
    replicas = int((after.get("spec") or {}).get("replicas") or 0)
    headroom = gpu_headroom(cluster, context, options, warnings)
    if headroom is None:
        return planned, None
    spare, in_place, lines = headroom
    pdb = pdb_allowed_unavailable(
        options["pdb_enabled"], options["pdb_min_available"], options["pdb_max_unavailable"], replicas
    )
    verdict, message, option = decide(
        options["gpu_rollout"],
        (after.get("spec") or {}).get("strategy"),
        replicas,
        options["num_gpus"],
        spare,
        in_place,
        pdb,
        "; ".join(lines) or "no schedulable node with allocatable nvidia.com/gpu matches the pods",
    )
    if verdict == "fail":
        return planned, (option or "gpu_rollout", f"preflight: {message}")
    if verdict == "one_at_a_time":
        report["gpu_rollout"] = {"strategy": ONE_AT_A_TIME, "reason": message}
        if replicas == 1:
            warnings.append(message)
        return applier.preview(with_one_at_a_time(manifest, requested)), None
    return planned, None


def rollout_complete(applier: Applier) -> bool:
    """Whether the Deployment was left untouched by this run and already runs its current revision everywhere."""
    from ._wait import deployment_progress

    result = next((r for r in applier.results if r["kind"] == "Deployment"), None)
    return bool(result and result["action"] == "unchanged" and deployment_progress(result["object"])["complete"])


def absent(cluster: Cluster, applier: Applier, release: str, namespace: str) -> None:
    if namespace_state(cluster, namespace) is None:
        return
    applier.prune(applier.stale(RELEASE_KINDS, namespace, release_selector(release), []))


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


__all__ = ["ApplyError", "ReleaseError", "present", "absent", "endpoints", "to_dict"]
