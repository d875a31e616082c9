# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Server-side apply with exact change detection, server-side dry run, diff, delete and prune.

``changed`` comes from what the API server says: the object it returns from the apply (or from a server-side
dry run in check mode) is compared with the live object read just before, status and bookkeeping aside. The
desired manifest is never compared with the live object, so server defaults, quantity normalisation and
allocated nodePorts/clusterIPs never show up as a change.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, NamedTuple

from ._client import Cluster, ClusterError, api_error_message, is_status

# Metadata the server maintains on every write; never part of a change or a diff.
_VOLATILE_METADATA = ("resourceVersion", "generation", "managedFields", "uid", "creationTimestamp", "selfLink")
SECRET_MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
_UNREAD = object()  # Applier.preview: the caller did not read the live object


class Stale(NamedTuple):
    """A live object that no wanted manifest names any more: a prune deletes it."""

    key: str
    api_version: str
    kind: str
    name: str
    namespace: str | None


class ApplyError(Exception):
    """A write the API server refused; the message names the object and carries the server's reason."""


def object_id(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata", {})
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {ns}{meta.get('name')}"


def to_dict(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj)


def mask_secret(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """Secret values never leave the module: data and stringData keys stay, their values do not."""
    if not obj or obj.get("kind") != "Secret":
        return obj
    masked = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if isinstance(masked.get(key), dict):
            masked[key] = {k: SECRET_MASK for k in masked[key]}
    annotations = masked.get("metadata", {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return masked


def comparable(obj: dict[str, Any] | None, keep_status: bool = False) -> dict[str, Any] | None:
    """The part of an object a change is made of: no server bookkeeping, no status."""
    if obj is None:
        return None
    result = copy.deepcopy(obj)
    meta = result.get("metadata", {})
    for key in _VOLATILE_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if annotations is not None:
        # The Deployment controller's bookkeeping; moves on its own after every template change.
        annotations.pop("deployment.kubernetes.io/revision", None)
        if not annotations:
            meta.pop("annotations")
    if not keep_status:
        result.pop("status", None)
    return result


def _managed_fields_signature(obj: dict[str, Any] | None, manager: str) -> list[Any]:
    """What one field manager owns (its timestamps aside): a change of ownership is a change too."""
    fields = (obj or {}).get("metadata", {}).get("managedFields") or []
    return sorted(
        (f.get("operation", ""), f.get("subresource", ""), repr(f.get("fieldsV1")))
        for f in fields
        if f.get("manager") == manager
    )


def is_change(before: dict[str, Any] | None, after: dict[str, Any] | None, manager: str) -> bool:
    """Did (or would) the write change the object? Compares the server's before and after, status aside.

    Status is left out because controllers update it concurrently (a PDB's expectedPods, a Deployment's
    replica counts): a resourceVersion that moved for that reason is not this run's change.
    """
    return comparable(before) != comparable(after) or _managed_fields_signature(
        before, manager
    ) != _managed_fields_signature(after, manager)


# Kinds whose pods must be gone before the object itself: deleted with foreground propagation, so the object stays
# (with a deletionTimestamp) until its ReplicaSets and pods are gone.
OWNERS_OF_PODS = frozenset({"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob"})


def propagation(kind: str) -> str:
    """The propagation policy to delete an object of ``kind`` with.

    Other kinds go at once (background): a foreground deletion of an object without dependents still waits for the
    garbage collector to lift its ``foregroundDeletion`` finalizer, seconds on a busy control plane, while the object
    is listed and a run reported it deleted. Their dependents (a Service's EndpointSlices) go after them.
    """
    return "Foreground" if kind in OWNERS_OF_PODS else "Background"


class Applier:
    """Apply, delete and prune objects for one module run; collects per-object results and diffs."""

    def __init__(self, cluster: Cluster, check_mode: bool, force_conflicts: bool = True):
        self.cluster = cluster
        self.check_mode = check_mode
        self.force_conflicts = force_conflicts
        self.results: list[dict[str, Any]] = []
        self.diffs: list[dict[str, Any]] = []

    @property
    def changed(self) -> bool:
        return any(r["action"] not in ("unchanged", "absent") for r in self.results)

    def resource_for(self, manifest: dict[str, Any]) -> Any:
        """The dynamic resource of a manifest's kind; an ApplyError when the server does not serve it."""
        resource = self.cluster.resource(manifest["apiVersion"], manifest["kind"])
        if resource is None:
            raise ApplyError(f"{object_id(manifest)}: the API server does not serve {manifest['apiVersion']}")
        return resource

    def get(self, resource: Any, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            return to_dict(
                self.cluster.call(
                    lambda: resource.get(name=name, namespace=namespace, **self.cluster.request_kwargs()),
                    f"reading {resource.kind} {name}",
                )
            )
        except Exception as exc:
            if is_status(exc, 404):
                return None
            raise self._error(f"reading {resource.kind} {namespace or ''}/{name}", exc) from exc

    def _error(self, what: str, exc: Exception) -> Exception:
        if isinstance(exc, ClusterError):
            return exc
        status = getattr(exc, "status", None)
        if status == 403:
            return ApplyError(f"{what}: forbidden: {api_error_message(exc)}")
        return ApplyError(f"{what}: {api_error_message(exc)}")

    def _server_side_apply(self, resource: Any, manifest: dict[str, Any], dry_run: bool) -> dict[str, Any] | None:
        meta = manifest["metadata"]
        kwargs = {
            "field_manager": self.cluster.field_manager,
            "force_conflicts": self.force_conflicts,
            **self.cluster.request_kwargs(),
        }
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return to_dict(
                self.cluster.call(
                    lambda: resource.server_side_apply(
                        body=manifest, name=meta["name"], namespace=meta.get("namespace"), **kwargs
                    ),
                    f"applying {object_id(manifest)}",
                    retry_conflicts=False,
                )
            )
        except Exception as exc:
            if is_status(exc, 409):
                raise ApplyError(
                    f"{object_id(manifest)}: field conflict with another manager ({api_error_message(exc)}); "
                    "set force_conflicts: true to take the fields over"
                ) from exc
            raise self._error(f"applying {object_id(manifest)}", exc) from exc

    def preview(self, manifest: dict[str, Any], namespace_exists: bool = True, live: Any = _UNREAD) -> dict[str, Any]:
        """Read the live object (unless the caller just did: ``live``) and dry-run the apply: what would change,
        without writing anything."""
        resource = self.resource_for(manifest)
        meta = manifest["metadata"]
        if live is not _UNREAD:
            before = live
        else:
            before = self.get(resource, meta["name"], meta.get("namespace")) if namespace_exists else None
        if not namespace_exists:
            # The namespace does not exist yet: no dry run is possible inside it, the object is simply new.
            after: dict[str, Any] | None = copy.deepcopy(manifest)
        else:
            after = self._server_side_apply(resource, manifest, dry_run=True)
        if before is None:
            action = "created"
        else:
            action = "updated" if is_change(before, after, self.cluster.field_manager) else "unchanged"
        return {"manifest": manifest, "resource": resource, "before": before, "after": after, "action": action}

    def commit(self, preview: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        """Write a previewed change (not in check mode, not when nothing changes) and record the outcome."""
        manifest, before, after, action = preview["manifest"], preview["before"], preview["after"], preview["action"]
        if action != "unchanged" and not self.check_mode:
            after = self._server_side_apply(preview["resource"], manifest, dry_run=False)
            if before is not None and not is_change(before, after, self.cluster.field_manager):
                action = "unchanged"  # someone else made the same change in between
        return self._record(key or manifest["kind"].lower(), manifest, action, before, after)

    def apply(self, manifest: dict[str, Any], key: str | None = None, namespace_exists: bool = True) -> dict[str, Any]:
        """Server-side apply one object (dry run in check mode) and record what changed."""
        return self.commit(self.preview(manifest, namespace_exists), key)

    def delete(self, resource: Any, name: str, namespace: str | None, key: str | None = None) -> dict[str, Any]:
        """Delete one object (dry run in check mode), with :func:`propagation` for its kind."""
        before = self.get(resource, name, namespace)
        manifest = {"apiVersion": resource.group_version, "kind": resource.kind, "metadata": {"name": name}}
        if namespace:
            manifest["metadata"]["namespace"] = namespace
        if before is None:
            return self._record(key or resource.kind.lower(), manifest, "absent", None, None)
        kwargs: dict[str, Any] = {"propagation_policy": propagation(resource.kind), **self.cluster.request_kwargs()}
        if self.check_mode:
            kwargs["dry_run"] = "All"
        try:
            self.cluster.call(
                lambda: resource.delete(name=name, namespace=namespace, **kwargs), f"deleting {object_id(manifest)}"
            )
        except Exception as exc:
            if not is_status(exc, 404):
                raise self._error(f"deleting {object_id(manifest)}", exc) from exc
        return self._record(key or resource.kind.lower(), manifest, "deleted", before, None)

    def list_managed(self, api_version: str, kind: str, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        """The live objects of a kind that match a label selector ([] when the server does not serve the kind)."""
        resource = self.cluster.resource(api_version, kind)
        if resource is None:
            return []
        namespace = namespace if resource.namespaced else None
        try:
            listing = self.cluster.call(
                lambda: resource.get(namespace=namespace, label_selector=selector, **self.cluster.request_kwargs()),
                f"listing {kind}",
            )
        except Exception as exc:
            raise self._error(f"listing {kind} in {namespace}", exc) from exc
        return [item for item in (to_dict(entry) for entry in listing.items) if item is not None]

    def stale(
        self,
        kinds: Iterable[tuple[str | None, str, str]],
        namespace: str | None,
        selector: str,
        wanted: Iterable[dict[str, Any]],
    ) -> list[Stale]:
        """What a prune would delete: the live objects of ``kinds`` ((result key or None, apiVersion, kind)) that
        match ``selector`` and are not among the ``wanted`` manifests. Read only; :meth:`prune` deletes them."""
        keep = {(m["kind"], m["metadata"]["name"]) for m in wanted}
        found = []
        for key, api_version, kind in kinds:
            for live in self.list_managed(api_version, kind, namespace, selector):
                meta = live["metadata"]
                if (kind, meta["name"]) not in keep:
                    found.append(
                        Stale(key or f"{kind}/{meta['name']}", api_version, kind, meta["name"], meta.get("namespace"))
                    )
        return found

    def prune(self, stale: Iterable[Stale]) -> None:
        """Delete (dry run in check mode) what :meth:`stale` found."""
        for item in stale:
            self.delete(self.cluster.resource(item.api_version, item.kind), item.name, item.namespace, key=item.key)

    def _record(
        self,
        key: str,
        manifest: dict[str, Any],
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> dict[str, Any]:
        result = {
            "key": key,
            "kind": manifest["kind"],
            "name": manifest["metadata"]["name"],
            "namespace": manifest["metadata"].get("namespace"),
            "action": action,
            "object": mask_secret(comparable(after, keep_status=True)) if after else None,
        }
        self.results.append(result)
        if action not in ("unchanged", "absent"):
            self.diffs.append(
                {
                    "before_header": object_id(manifest) + (" (live)" if before else " (absent)"),
                    "after_header": object_id(manifest) + (" (deleted)" if after is None else f" ({action})"),
                    "before": mask_secret(comparable(before)) or {},
                    "after": mask_secret(comparable(after)) or {},
                }
            )
        return result
