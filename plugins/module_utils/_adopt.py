# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Taking over a live ``triton-backend`` Helm release (``adopt_helm_release``), without replacing its pods.

Order, so that a failure at any step leaves a state from which both a re-run and ``helm rollback`` work:

1. Read Helm's release Secrets (nothing written), render the chart's objects from the release's values with the
   user's values over them, refuse a release the reproduced chart does not render exactly.
2. Dry-run every write (server-side apply with force under our field manager): the plan, the diff, whether the
   pods roll. Check mode stops here.
3. Apply; then remove Helm's labels, annotations and field-manager entries with one JSON patch per object (guarded
   by the object's resourceVersion). Helm's entries must go: a field that another manager still owns survives our
   later applies that drop it.
4. Wait for the rollout (at once when the pod template did not change).
5. Only then delete Helm's release Secrets: until then ``helm list`` shows the release and ``helm rollback`` works.

When values change the pod template, the pods are replaced anyway, so the new template carries what replaces a pod
without refusing a connection (``hand_off``): a preStop sleep, and a label the Service selects on as well. The chart's
pods have no preStop hook: Triton stops listening as soon as one of them is deleted, while kube-proxy still sends new
connections to it. So each old pod is taken out of the Service (its label flipped) as soon as a new pod is ready, and
the Deployment keeps it alive for ``DRAIN_SECONDS`` more (minReadySeconds, maxUnavailable 0) before deleting it. When
the template does not change, nothing of this is added: no pod is replaced.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ._apply import Applier, ApplyError, comparable
from ._client import Cluster
from ._helm_release import (
    ADOPTED_ANNOTATION,
    CHART,
    COVERED_CHART_VERSIONS,
    HELM_SECRET_TYPE,
    VALUES_ANNOTATION,
    HelmReleaseError,
    check_reproduced,
    coalesce,
    decode_release,
    helm_annotations,
    helm_labels,
    helm_owned_fields,
    is_helm_entry,
    release_values,
    render,
    values_changes,
    without_helm_metadata,
)
from ._release import ReleaseError
from ._render import COMPONENT, MANAGED_BY, release_selector

OPTION = "adopt_helm_release"
PDB_KIND = ("policy/v1", "PodDisruptionBudget")
# When values replace the pods: how long an old pod keeps serving after it left the Service's endpoints (a new pod's
# preStop sleep; for the chart's pods, which have none, the Deployment's minReadySeconds).
DRAIN_SECONDS = 10
# On the pods of a template that differs from the chart's, and in the Service's selector: "false" takes a pod out of
# the Service without taking it out of its ReplicaSet.
SERVING_LABEL = "inference.triton/serving"
# A drained pod is the one its ReplicaSet deletes first.
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
DRAIN_POLL_SECONDS = 0.5


def hand_off(objects: dict[str, dict[str, Any]]) -> None:
    """What a pod template that differs from the chart's carries, so that replacing pods refuses no connection.

    The new pods: a preStop sleep (they leave the Service's endpoints before Triton stops listening) and the
    serving label. The Service selects on that label too, so that an old pod can leave it and still be counted by its
    ReplicaSet. The Deployment: a new pod must be ready for DRAIN_SECONDS before an old one goes (minReadySeconds), and
    no old pod goes before a new one is ready (maxUnavailable 0): the time to take the old pod out of the Service.
    """
    deployment, service = objects["deployment"], objects["service"]
    template = deployment["spec"]["template"]
    template["metadata"]["labels"][SERVING_LABEL] = "true"
    template["spec"]["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
    deployment["spec"]["minReadySeconds"] = DRAIN_SECONDS
    deployment["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    service["spec"]["selector"] = {**service["spec"]["selector"], SERVING_LABEL: "true"}


def helm_secrets(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """Helm's release Secrets of ``release``, newest revision first."""
    secrets = cluster.resource("v1", "Secret")
    try:
        listing = cluster.call(
            lambda: secrets.get(
                namespace=namespace, label_selector=f"owner=helm,name={release}", **cluster.request_kwargs()
            ),
            "listing Helm's release Secrets",
        )
    except Exception as exc:
        if getattr(exc, "status", None) == 403:
            raise ReleaseError(
                f"{OPTION}: listing Secrets in {namespace} is forbidden; reading Helm's release Secrets needs list "
                "on secrets (docs/rbac.yml, the rule for adoption)",
                OPTION,
            ) from exc
        raise
    found = [s.to_dict() for s in listing.items if s.type == HELM_SECRET_TYPE]
    return sorted(found, key=lambda s: int((s["metadata"].get("labels") or {}).get("version") or 0), reverse=True)


def _owned_by(live: dict[str, Any], release: str, namespace: str) -> str | None:
    """Why ``live`` may not be taken over, or None: it must be this Helm release's, or already ours."""
    meta = live.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if labels.get("app.kubernetes.io/managed-by") == MANAGED_BY and labels.get("app.kubernetes.io/instance") == release:
        return None
    if (
        annotations.get("meta.helm.sh/release-name") == release
        and annotations.get("meta.helm.sh/release-namespace") == namespace
    ):
        return None
    owner = annotations.get("meta.helm.sh/release-name") or labels.get("app.kubernetes.io/managed-by") or "nobody"
    return f"belongs to {owner!r}, neither to Helm release {release!r} nor to this collection"


def _adopted_values(applier: Applier, namespace: str, release: str) -> tuple[dict[str, Any], str] | None:
    """The values recorded on a Deployment adopted earlier (Helm's Secrets are gone then)."""
    for live in applier.list_managed("apps/v1", "Deployment", namespace, release_selector(release)):
        annotations = live["metadata"].get("annotations") or {}
        if VALUES_ANNOTATION in annotations:
            return json.loads(annotations[VALUES_ANNOTATION]), annotations.get(ADOPTED_ANNOTATION, CHART)
    return None


def _server_flags(server: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_control_mode": server.get("model_control_mode") or "explicit",
        "strict_model_config": False,
        "load_models": list(server.get("load_models") or []),
        "server_args": list(server.get("server_args") or []),
    }


def present(
    cluster: Cluster,
    applier: Applier,
    release: str,
    namespace: str,
    adopt: dict[str, Any],
    wait_timeout: float,
    warnings: list[str],
) -> dict[str, Any]:
    """Take the release over (or, in check mode, say exactly how it would be). Returns the hand-over report."""
    secrets = helm_secrets(cluster, namespace, release)
    helm_release, base, origin, source = _release_values(applier, namespace, release, secrets)
    values = base
    for _name, document in adopt.get("documents") or []:
        values = coalesce(values, document or {})
    server = adopt.get("server") or {}
    objects = _chart_objects(release, namespace, helm_release, base, values, server, origin)
    fullname = objects["deployment"]["metadata"]["name"]

    # 1. Read and dry-run every write.
    previews, stale = _previews(cluster, applier, release, namespace, objects)
    deployment = previews["deployment"]
    before_template = comparable((deployment["before"] or {}).get("spec", {}).get("template"))
    after_template = comparable((deployment["after"] or {}).get("spec", {}).get("template"))
    pods_roll = deployment["before"] is not None and before_template != after_template
    report: dict[str, Any] = {
        "helm_release": release,
        "values_source": source,
        "chart": origin,
        "revision": (helm_release or {}).get("version"),
        "values_changed": values_changes(base, values),
        "pods_roll": pods_roll,
        "server": _server_flags(server),
        "objects": {},
        "helm_secrets": [s["metadata"]["name"] for s in secrets],
    }
    warnings.extend(_hand_over_warnings(namespace, fullname, report, "pdb" in objects))

    # 2. Write (check mode: report), then clean Helm's metadata off each object. The live pods first get the
    # label the Service is about to select on (a metadata patch: no pod restarts).
    selector = objects["deployment"]["spec"]["selector"]["matchLabels"]
    if SERVING_LABEL in objects["service"]["spec"]["selector"] and not applier.check_mode:
        _label_pods(cluster, namespace, selector, {SERVING_LABEL: "true"}, only_missing=True)
    for key, preview in previews.items():
        report["objects"][key] = _take_over(applier, key, preview)
    for key, resource, live in stale:
        applier.delete(resource, live["metadata"]["name"], namespace, key=key)
        report["objects"][key] = {"kind": live["kind"], "name": live["metadata"]["name"], "action": "deleted"}

    # 3. The rollout, then Helm's Secrets.
    if not applier.check_mode:
        started = time.monotonic()
        drained = _drain(cluster, namespace, fullname, wait_timeout) if pods_roll else []
        _wait_rollout(cluster, namespace, fullname, max(1.0, wait_timeout - (time.monotonic() - started)), report)
        if drained:
            report["rollout"]["drained"] = drained
    _delete_helm_secrets(cluster, applier, release, namespace, secrets)
    report["fullname"] = fullname
    return report


def _release_values(
    applier: Applier, namespace: str, release: str, secrets: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any], str, str]:
    """(Helm's release or None, its values, chart-version, where the values come from): from Helm's newest release
    Secret, which must be deployed and of a covered chart version, or, once Helm's Secrets are gone, from what the
    take-over recorded on the Deployment."""
    if not secrets:
        recorded = _adopted_values(applier, namespace, release)
        if recorded is None:
            raise ReleaseError(
                f"{OPTION}: no Helm release {release!r} in namespace {namespace} (no Secret labelled owner=helm, "
                f"name={release}; see helm list -n {namespace}), and no release of that name taken over earlier",
                OPTION,
            )
        return None, recorded[0], recorded[1], "the values recorded when the release was taken over"
    latest = secrets[0]
    status = (latest["metadata"].get("labels") or {}).get("status")
    if status != "deployed":
        raise ReleaseError(
            f"{OPTION}: the newest revision of Helm release {release!r} ({latest['metadata']['name']}) is "
            f"{status!r}, not 'deployed': finish or undo that Helm operation first (helm rollback {release})",
            OPTION,
        )
    helm_release = decode_release(latest["data"]["release"])
    chart = (helm_release.get("chart") or {}).get("metadata") or {}
    if chart.get("name") != CHART or chart.get("version") not in COVERED_CHART_VERSIONS:
        raise ReleaseError(
            f"{OPTION}: Helm release {release!r} is chart {chart.get('name')} {chart.get('version')}; only "
            f"{CHART} {', '.join(COVERED_CHART_VERSIONS)} can be taken over",
            OPTION,
        )
    source = f"Helm release {release} revision {helm_release.get('version')}"
    return helm_release, release_values(helm_release), f"{CHART}-{chart['version']}", source


def _chart_objects(
    release: str,
    namespace: str,
    helm_release: dict[str, Any] | None,
    base: dict[str, Any],
    values: dict[str, Any],
    server: dict[str, Any],
    origin: str,
) -> dict[str, dict[str, Any]]:
    """The chart's objects for ``values``, checked against what Helm installed, with the values recorded and,
    when the pod template changes, the hand-off that replaces the pods without refusing a connection."""
    labels = {
        "app.kubernetes.io/name": (values.get("nameOverride") or CHART)[:63].rstrip("-"),
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": COMPONENT,
    }
    try:
        if helm_release is not None:
            check_reproduced(helm_release, render(release, namespace, base, labels))
        chart_template = render(release, namespace, base, labels)["deployment"]["spec"]["template"]
        objects = render(release, namespace, values, labels, server)
    except HelmReleaseError as exc:
        raise ReleaseError(f"{OPTION}: {exc}", OPTION) from exc
    objects["deployment"]["metadata"]["annotations"] = {
        VALUES_ANNOTATION: json.dumps(base, sort_keys=True, separators=(",", ":")),
        ADOPTED_ANNOTATION: origin,
    }
    if objects["deployment"]["spec"]["template"] != chart_template:
        hand_off(objects)  # the pods are replaced anyway: replace them without refusing a connection
    return objects


def _previews(
    cluster: Cluster, applier: Applier, release: str, namespace: str, objects: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Any, dict[str, Any]]]]:
    """Each object's dry-run apply (objects another owner holds are refused), and the chart's PDB when it is no
    longer wanted."""
    fullname = objects["deployment"]["metadata"]["name"]
    previews: dict[str, dict[str, Any]] = {}
    for key, manifest in objects.items():
        resource = cluster.resource(manifest["apiVersion"], manifest["kind"])
        live = applier.get(resource, manifest["metadata"]["name"], namespace)
        reason = _owned_by(live, release, namespace) if live is not None else None
        if reason:
            raise ReleaseError(f"{manifest['kind']} {namespace}/{fullname} {reason}; it is not taken over", OPTION)
        previews[key] = applier.preview(manifest, live=live)
    stale = []
    if "pdb" not in objects:
        resource = cluster.resource(*PDB_KIND)
        live = applier.get(resource, fullname, namespace) if resource is not None else None
        if live is not None and _owned_by(live, release, namespace) is None:
            stale.append(("pdb", resource, live))
    return previews, stale


def _hand_over_warnings(namespace: str, fullname: str, report: dict[str, Any], pdb: bool) -> list[str]:
    warnings = []
    if report["pods_roll"]:
        warnings.append(
            f"{OPTION}: the values change the pod template of Deployment {namespace}/{fullname}: its pods are "
            "replaced one by one. Models loaded through Triton's API are not loaded in the new pods (the server "
            f"starts in model control mode {report['server']['model_control_mode']} with "
            f"{', '.join(report['server']['load_models']) or 'no model'}); load them again or name them in load_models"
        )
    if pdb:
        warnings.append(
            f"{OPTION}: the chart's PodDisruptionBudget is kept as policy/v1 (the chart writes policy/v1beta1, which "
            "Kubernetes 1.25 and later no longer serve); as in the chart, its selector (app.kubernetes.io/name, "
            "app.kubernetes.io/instance) matches no pod of the release, so it protects none"
        )
    return warnings


def _delete_helm_secrets(
    cluster: Cluster, applier: Applier, release: str, namespace: str, secrets: list[dict[str, Any]]
) -> None:
    """Helm's release Secrets go last: until then both a re-run and helm rollback work."""
    secret_resource = cluster.resource("v1", "Secret")
    for secret in secrets:
        try:
            applier.delete(secret_resource, secret["metadata"]["name"], namespace, key=secret["metadata"]["name"])
        except ApplyError as exc:
            raise ReleaseError(
                f"{OPTION}: the objects are taken over, but Helm's release Secret {secret['metadata']['name']} could "
                f"not be deleted ({exc}). Helm still lists the release: run this task again to finish the hand-over, "
                f"or hand it back with helm rollback {release}",
                OPTION,
            ) from exc


def _take_over(applier: Applier, key: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Apply one object and remove Helm's metadata and field managers from it; in check mode, only say so."""
    before = plan["before"]
    after = plan["after"]
    helm_fields = helm_owned_fields(before)
    labels_removed = helm_labels(after or {})
    annotations_removed = helm_annotations(after or {})
    entries = [e for e in (after or {}).get("metadata", {}).get("managedFields") or [] if is_helm_entry(e)]
    needs_cleanup = bool(labels_removed or annotations_removed or entries)
    action = plan["action"]
    if needs_cleanup and action == "unchanged":
        action = "updated"
    if not applier.check_mode:
        if plan["action"] != "unchanged":
            after = applier._server_side_apply(plan["resource"], plan["manifest"], dry_run=False)
        if needs_cleanup:
            after = _remove_helm_metadata(applier, plan["resource"], after or {})
            if not _clean(after):
                raise ReleaseError(
                    f"{plan['manifest']['kind']} {plan['manifest']['metadata']['name']}: Helm's metadata "
                    "is still there after its removal",
                    OPTION,
                )
    elif needs_cleanup:
        after = without_helm_metadata(after or {})
    applier._record(key, plan["manifest"], action, before, after)
    return {
        "kind": plan["manifest"]["kind"],
        "name": plan["manifest"]["metadata"]["name"],
        "action": action,
        "fields_from_helm": helm_fields,
        "labels_removed": labels_removed,
        "annotations_removed": annotations_removed,
    }


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _clean(obj: dict[str, Any]) -> bool:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return not (helm_labels(obj) or helm_annotations(obj) or any(is_helm_entry(e) for e in entries))


def _remove_helm_metadata(applier: Applier, resource: Any, obj: dict[str, Any], attempts: int = 3) -> dict[str, Any]:
    """One JSON patch, guarded by the resourceVersion; a controller that wrote in between means: read, try again."""
    for attempt in range(attempts):
        try:
            return _json_patch_helm_metadata(applier, resource, obj)
        except ApplyError:
            if attempt == attempts - 1:
                raise
            meta = obj["metadata"]
            obj = applier.get(resource, meta["name"], meta.get("namespace")) or obj
    return obj


def _json_patch_helm_metadata(applier: Applier, resource: Any, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}]
    ops += [{"op": "remove", "path": f"/metadata/labels/{_pointer(k)}"} for k in helm_labels(obj)]
    ops += [{"op": "remove", "path": f"/metadata/annotations/{_pointer(k)}"} for k in helm_annotations(obj)]
    kept = [e for e in meta.get("managedFields") or [] if not is_helm_entry(e)]
    if len(kept) != len(meta.get("managedFields") or []):
        ops.append({"op": "replace", "path": "/metadata/managedFields", "value": kept})
    cluster = applier.cluster
    what = f"removing Helm's metadata from {obj['kind']} {meta.get('namespace')}/{meta['name']}"
    try:
        patched = cluster.call(
            lambda: resource.patch(
                body=ops,
                name=meta["name"],
                namespace=meta.get("namespace"),
                content_type="application/json-patch+json",
                field_manager=cluster.field_manager,
                **cluster.request_kwargs(),
            ),
            what,
            retry_conflicts=False,
        )
    except Exception as exc:
        raise applier._error(what, exc) from exc
    result: dict[str, Any] = patched.to_dict()
    return result


def _pods(cluster: Cluster, namespace: str, match_labels: dict[str, str]) -> list[dict[str, Any]]:
    pods = cluster.resource("v1", "Pod")
    selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
    listing = cluster.call(
        lambda: pods.get(namespace=namespace, label_selector=selector, **cluster.request_kwargs()), "listing pods"
    )
    return [p.to_dict() for p in listing.items]


def _patch_pod(cluster: Cluster, pod: dict[str, Any], metadata: dict[str, Any]) -> None:
    pods = cluster.resource("v1", "Pod")
    meta = pod["metadata"]
    what = f"labelling pod {meta['namespace']}/{meta['name']}"
    try:
        cluster.call(
            lambda: pods.patch(
                body={"metadata": metadata},
                name=meta["name"],
                namespace=meta["namespace"],
                content_type="application/merge-patch+json",
                field_manager=cluster.field_manager,
                **cluster.request_kwargs(),
            ),
            what,
        )
    except Exception as exc:
        status = getattr(exc, "status", None)
        if status == 404:
            return  # deleted meanwhile: nothing left to label
        if status == 403:
            raise ReleaseError(
                f"{OPTION}: {what} is forbidden. Values that replace the pods of a taken-over release need patch on "
                "pods (docs/rbac.yml, the rule for adoption): each old pod leaves the Service before it is deleted",
                OPTION,
            ) from exc
        raise


def _label_pods(
    cluster: Cluster, namespace: str, match_labels: dict[str, str], labels: dict[str, str], only_missing: bool
) -> list[str]:
    """Put ``labels`` on the pods ``match_labels`` selects (all, or those without the first label); their names."""
    done = []
    for pod in _pods(cluster, namespace, match_labels):
        have = pod["metadata"].get("labels") or {}
        if pod["metadata"].get("deletionTimestamp") or (only_missing and all(k in have for k in labels)):
            continue
        _patch_pod(cluster, pod, {"labels": labels})
        done.append(pod["metadata"]["name"])
    return done


def _owner(pod: dict[str, Any]) -> str | None:
    for owner in pod["metadata"].get("ownerReferences") or []:
        if owner.get("kind") == "ReplicaSet":
            return str(owner.get("name"))
    return None


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def drain_choice(pods: list[dict[str, Any]], current: str) -> list[dict[str, Any]]:
    """The old pods to take out of the Service now: as many as new pods are ready, less the old pods already out
    and not yet gone, so that the Service never has fewer ready pods than before the rollout started."""
    alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    new_ready = [p for p in alive if _owner(p) == current and _ready(p)]
    old = [p for p in alive if _owner(p) != current]
    serving = [p for p in old if (p["metadata"].get("labels") or {}).get(SERVING_LABEL) != "false"]
    budget = len(new_ready) - (len(old) - len(serving))
    return sorted(serving, key=lambda p: p["metadata"]["name"])[: max(0, budget)]


def _drain(cluster: Cluster, namespace: str, name: str, timeout: float) -> list[str]:
    """While the Deployment replaces its pods: take each old pod out of the Service (serving label "false", lowest
    deletion cost) once a new pod is ready to take its place; minReadySeconds keeps it alive meanwhile, so that
    kube-proxy stops sending it new connections before Triton gets SIGTERM. Returns the drained pods' names; ends
    when no old pod is left, when new pods keep crashing, or at the timeout (the rollout wait then reports)."""
    from ._wait import RolloutWatcher

    watcher = RolloutWatcher(cluster, namespace, name)
    deadline = time.monotonic() + timeout
    drained: list[str] = []
    checked = 0.0
    while time.monotonic() < deadline:
        deployment = watcher.get()
        if deployment is None:
            break
        status = deployment.get("status") or {}
        current = watcher.current_replicaset(deployment)
        if current and (status.get("observedGeneration") or 0) >= (deployment["metadata"].get("generation") or 0):
            pods = watcher.list_pods(deployment)
            if not [p for p in pods if _owner(p) != current and not p["metadata"].get("deletionTimestamp")]:
                break
            for pod in drain_choice(pods, current):
                _patch_pod(cluster, pod, {"labels": {SERVING_LABEL: "false"}, "annotations": {DELETION_COST: "-1000"}})
                drained.append(pod["metadata"]["name"])
            if time.monotonic() - checked > 5:
                checked = time.monotonic()
                if watcher.crash_loops(deployment):
                    break
        time.sleep(DRAIN_POLL_SECONDS)
    return drained


def _wait_rollout(cluster: Cluster, namespace: str, name: str, timeout: float, report: dict[str, Any]) -> None:
    from ._wait import RolloutWatcher, progress_text

    watcher = RolloutWatcher(cluster, namespace, name)
    deployment, progress = watcher.wait(timeout)
    report["rollout"] = {"complete": progress["complete"]}
    if deployment is not None:
        report["rollout"]["summary"] = progress_text(progress)
    if not progress["complete"]:
        reasons = "; ".join(watcher.explain(deployment))
        raise ReleaseError(
            f"{OPTION}: the rollout of Deployment {namespace}/{name} did not complete within {int(timeout)}s "
            f"({reasons}). Helm's release Secrets are kept: Helm still lists the release, so both a re-run of this "
            f"task and helm rollback {report['helm_release']} work",
            OPTION,
        )


def adopted_pod_selectors(applier: Applier, namespace: str, release: str) -> list[str]:
    """The pod selectors of the release's adopted Deployments (the chart's ``app`` and ``release`` labels)."""
    selectors = []
    for live in applier.list_managed("apps/v1", "Deployment", namespace, release_selector(release)):
        if VALUES_ANNOTATION in (live["metadata"].get("annotations") or {}):
            labels = (live.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
            selectors.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return selectors
