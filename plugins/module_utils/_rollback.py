# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Roll a Deployment back to the pod template of its previous revision (what kubectl rollout undo does)."""

from __future__ import annotations

from typing import Any

from ._apply import to_dict
from ._client import Cluster, api_error_message

REVISION = "deployment.kubernetes.io/revision"


class RollbackError(Exception):
    """No previous revision, or the API refused the rollback."""


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def previous_template(deployment: dict[str, Any], replica_sets: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """(revision, pod template) of the newest ReplicaSet older than the Deployment's current revision."""
    uid = deployment["metadata"]["uid"]
    current = _revision(deployment)
    owned = [
        rs
        for rs in replica_sets
        if any(ref.get("uid") == uid for ref in (rs["metadata"].get("ownerReferences") or []))
        and 0 < _revision(rs) < current
    ]
    if not owned:
        raise RollbackError(
            f"Deployment {deployment['metadata']['name']} has no revision before {current} to roll back to"
        )
    rs = max(owned, key=_revision)
    template = rs["spec"]["template"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    template = {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}
    return _revision(rs), template


def rollback(cluster: Cluster, namespace: str, name: str, check_mode: bool) -> str:
    deployments = cluster.resource("apps/v1", "Deployment")
    replica_sets = cluster.resource("apps/v1", "ReplicaSet")
    try:
        deployment = to_dict(
            cluster.call(lambda: deployments.get(name=name, namespace=namespace), "reading Deployment")
        )
    except Exception as exc:
        if getattr(exc, "status", None) == 404:
            raise RollbackError(f"Deployment {namespace}/{name} does not exist") from exc
        raise
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"].get("matchLabels", {}).items())
    listing = cluster.call(
        lambda: replica_sets.get(namespace=namespace, label_selector=selector), "listing ReplicaSets"
    )
    revision, template = previous_template(deployment, [to_dict(rs) for rs in listing.items])
    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
    kwargs: dict[str, Any] = {
        "content_type": "application/json-patch+json",
        "field_manager": "inference.triton-rollback",
    }
    if check_mode:
        kwargs["dry_run"] = "All"
    try:
        cluster.call(lambda: deployments.patch(body=patch, name=name, namespace=namespace, **kwargs), "rolling back")
    except Exception as exc:
        raise RollbackError(f"rolling back Deployment {namespace}/{name}: {api_error_message(exc)}") from exc
    return str(revision)
