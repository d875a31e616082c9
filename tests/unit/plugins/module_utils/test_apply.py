"""_apply: what counts as a change (is_change, comparable), what a result or a diff may show (mask_secret), and what a
prune deletes (Applier.stale). Only the decisions are tested here, on objects written out by hand; that the API
server's answers make them right (an unchanged re-run, a dry run that writes nothing) is shown on the local cluster
by tests/integration/test_triton_server.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils._apply import (
    SECRET_MASK,
    Applier,
    Stale,
    comparable,
    is_change,
    mask_secret,
    object_id,
    propagation,
    to_dict,
)

MANAGER = "inference.triton"


def deployment(**changes: Any) -> dict[str, Any]:
    """A Deployment as the API server returns it: bookkeeping, one field manager's entry, status."""
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "triton",
            "namespace": "serving",
            "uid": "0b5e5c9a-3f1e-4c6f-9d57-6f2a1e0c7b11",
            "resourceVersion": "1001",
            "generation": 3,
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "labels": {"app.kubernetes.io/name": "triton"},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "managedFields": [
                {
                    "manager": MANAGER,
                    "operation": "Apply",
                    "time": "2026-12-01T10:00:00Z",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }
            ],
        },
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 3},
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = obj
        for key in parents:
            target = target[key]
        target[leaf] = value
    return obj


# -- comparable: the part of an object a change is made of -------------------------------------------------------------


def test_comparable_drops_the_servers_bookkeeping_and_the_status():
    assert comparable(deployment()) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "triton", "namespace": "serving", "labels": {"app.kubernetes.io/name": "triton"}},
        "spec": {"replicas": 2},
    }


def test_comparable_keeps_the_status_when_asked_and_other_annotations_always():
    obj = deployment(metadata__annotations={"deployment.kubernetes.io/revision": "3", "team": "vision"})
    kept = comparable(obj, keep_status=True)
    assert kept is not None
    assert kept["status"] == obj["status"]
    assert kept["metadata"]["annotations"] == {"team": "vision"}


def test_comparable_leaves_its_argument_alone():
    obj = deployment()
    before = copy.deepcopy(obj)
    comparable(obj)
    assert obj == before


def test_comparable_of_nothing_is_nothing():
    assert comparable(None) is None


# -- is_change: did (or would) the write change the object? ------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (deployment(status={"replicas": 3, "readyReplicas": 1}), "controllers write the status at their own pace"),
        (deployment(metadata__resourceVersion="1002"), "every write moves resourceVersion, even a no-op one"),
        (deployment(metadata__generation=4), "bookkeeping of the server"),
        (
            deployment(metadata__annotations={"deployment.kubernetes.io/revision": "4"}),
            "the Deployment controller's revision moves on its own",
        ),
        (deployment(metadata__annotations={}), "a revision annotation gone is no change either"),
        (
            deployment(
                metadata__managedFields=[
                    {
                        "manager": MANAGER,
                        "operation": "Apply",
                        "time": "2026-12-05T01:00:00Z",
                        "fieldsV1": {"f:spec": {"f:replicas": {}}},
                    }
                ]
            ),
            "the same ownership at a later time",
        ),
        (
            deployment(
                metadata__managedFields=[
                    *deployment()["metadata"]["managedFields"],
                    {"manager": "kubectl-scale", "operation": "Update", "fieldsV1": {"f:status": {}}},
                ]
            ),
            "another manager's entry is not this run's doing",
        ),
    ],
)
def test_is_change_ignores(after, why):
    assert not is_change(deployment(), after, MANAGER), why


@pytest.mark.parametrize(
    ("after", "why"),
    [
        (deployment(spec={"replicas": 3}), "a field of the spec"),
        (deployment(metadata__labels={"app.kubernetes.io/name": "triton", "tier": "gpu"}), "a label"),
        (
            deployment(metadata__annotations={"deployment.kubernetes.io/revision": "3", "team": "vision"}),
            "an annotation other than the revision",
        ),
        (
            deployment(
                metadata__managedFields=[
                    {"manager": MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:x": {}}}}
                ]
            ),
            "the fields this manager owns (taking a field over from another manager changes no value)",
        ),
        (
            deployment(
                metadata__managedFields=[
                    {"manager": MANAGER, "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
                ]
            ),
            "the operation this manager's entry was written with",
        ),
    ],
)
def test_is_change_counts(after, why):
    assert is_change(deployment(), after, MANAGER), why


def test_an_object_that_appears_or_goes_is_a_change():
    assert is_change(None, deployment(), MANAGER)
    assert is_change(deployment(), None, MANAGER)
    assert not is_change(None, None, MANAGER)


# -- mask_secret: Secret values never leave the module -----------------------------------------------------------------


def secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s3",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data":{"key":"c2VjcmV0"}}'},
        },
        "data": {"key": "c2VjcmV0", "id": "aWQ="},
        "stringData": {"token": "plain"},
        "type": "Opaque",
    }


def test_mask_secret_keeps_the_keys_and_hides_the_values_and_the_last_applied_copy():
    masked = mask_secret(secret())
    assert masked == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3", "annotations": {}},
        "data": {"key": SECRET_MASK, "id": SECRET_MASK},
        "stringData": {"token": SECRET_MASK},
        "type": "Opaque",
    }
    # Ansible's own placeholder for no_log values, so that a reader of the output knows what it means.
    assert SECRET_MASK == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_mask_secret_leaves_its_argument_alone_and_other_kinds_as_they_are():
    original = secret()
    mask_secret(original)
    assert original == secret()
    configmap = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"key": "visible"}}
    assert mask_secret(configmap) is configmap
    assert mask_secret(None) is None


# -- object_id and to_dict ---------------------------------------------------------------------------------------------


def test_object_id_names_kind_namespace_and_name():
    assert object_id(deployment()) == "Deployment serving/triton"
    assert object_id({"kind": "Namespace", "metadata": {"name": "serving"}}) == "Namespace serving"


def test_to_dict_takes_the_clients_objects_and_plain_mappings():
    class ResourceInstance:  # what the dynamic client returns: an object with to_dict()
        def to_dict(self):
            return {"kind": "Pod"}

    assert to_dict(ResourceInstance()) == {"kind": "Pod"}
    assert to_dict({"kind": "Pod"}) == {"kind": "Pod"}
    assert to_dict(None) is None


# -- Applier.commit in check mode: what a run reports, without a request -----------------------------------------------


def preview(before: dict[str, Any] | None, after: dict[str, Any] | None, action: str) -> dict[str, Any]:
    live = after or before or {}
    meta = {key: live["metadata"][key] for key in ("name", "namespace") if key in live["metadata"]}
    manifest = {"apiVersion": live["apiVersion"], "kind": live["kind"], "metadata": meta}
    return {"manifest": manifest, "resource": None, "before": before, "after": after, "action": action}


def test_check_mode_commits_record_the_outcome_and_a_diff_of_what_changes_only():
    # cluster=None: in check mode a commit sends nothing, the preview's dry run said it all.
    applier = Applier(cluster=None, check_mode=True)  # type: ignore[arg-type]
    applier.commit(preview(deployment(), deployment(), "unchanged"))
    assert not applier.changed
    assert applier.diffs == []
    result = applier.commit(preview(deployment(), deployment(spec={"replicas": 3}), "updated"), key="deployment")
    assert applier.changed
    assert result["action"] == "updated"
    assert result["object"]["status"] == deployment()["status"]  # the result keeps the status, the diff does not
    [diff] = applier.diffs
    assert diff["before_header"] == "Deployment serving/triton (live)"
    assert diff["after_header"] == "Deployment serving/triton (updated)"
    assert diff["before"]["spec"] == {"replicas": 2} and diff["after"]["spec"] == {"replicas": 3}
    assert "status" not in diff["after"] and "managedFields" not in diff["after"]["metadata"]


def test_a_created_secret_shows_its_keys_but_no_value_in_the_result_or_the_diff():
    applier = Applier(cluster=None, check_mode=True)  # type: ignore[arg-type]
    result = applier.commit(preview(None, secret(), "created"))
    assert result["key"] == "secret"  # the kind, lower case, when the caller gives no key
    assert result["object"]["data"] == {"key": SECRET_MASK, "id": SECRET_MASK}
    [diff] = applier.diffs
    assert diff["before_header"] == "Secret s3 (absent)"
    assert diff["before"] == {}
    assert "c2VjcmV0" not in repr(diff) and "plain" not in repr(diff)


# -- Applier.stale: what a prune deletes -------------------------------------------------------------------------------


class Listed(Applier):
    """An Applier whose listing is given: the selection below is what is tested, not the API."""

    def __init__(self, live: dict[str, list[str]]):
        super().__init__(cluster=None, check_mode=True)  # type: ignore[arg-type]
        self.live = live

    def list_managed(self, api_version: str, kind: str, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        return [{"metadata": {"name": name, "namespace": namespace}} for name in self.live.get(kind, [])]


def test_stale_is_every_listed_object_no_wanted_manifest_names_by_kind_and_name():
    applier = Listed({"Service": ["triton", "triton-old"], "ConfigMap": ["triton"], "Route": ["triton"]})
    wanted = [
        {"kind": "Service", "metadata": {"name": "triton"}},
        {"kind": "Route", "metadata": {"name": "triton"}},
    ]
    kinds = [("service", "v1", "Service"), (None, "v1", "ConfigMap"), ("route", "route.openshift.io/v1", "Route")]
    assert applier.stale(kinds, "serving", "app.kubernetes.io/instance=triton", wanted) == [
        Stale("service", "v1", "Service", "triton-old", "serving"),
        # A ConfigMap named like a wanted Service is still stale: kind and name together identify an object.
        # Without a result key the stale object is keyed kind/name.
        Stale("ConfigMap/triton", "v1", "ConfigMap", "triton", "serving"),
    ]


def test_nothing_is_stale_when_every_live_object_is_wanted():
    applier = Listed({"Service": ["triton"]})
    assert (
        applier.stale(
            [("service", "v1", "Service")], "ns", "x=y", [{"kind": "Service", "metadata": {"name": "triton"}}]
        )
        == []
    )


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob"])
def test_owners_of_pods_are_deleted_after_their_pods(kind):
    assert propagation(kind) == "Foreground"


@pytest.mark.parametrize("kind", ["Service", "ConfigMap", "PodDisruptionBudget", "Route", "ServiceMonitor", "Secret"])
def test_objects_without_pods_are_deleted_at_once_not_after_the_garbage_collector(kind):
    assert propagation(kind) == "Background"
