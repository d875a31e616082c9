"""Replacing the pods of a taken-over release: what the new template carries, and which old pods leave the Service."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.inference.triton.plugins.module_utils._adopt import (
    DRAIN_SECONDS,
    SERVING_LABEL,
    drain_choice,
    hand_off,
)
from ansible_collections.inference.triton.plugins.module_utils._helm_release import render

VALUES = {
    "replicaCount": 2,
    "mode": {"useCpu": True},
    "image": {
        "registry": "r",
        "repository": "tritonserver",
        "tag": "22.05",
        "pullPolicy": "IfNotPresent",
        "modelRepositoryPath": "/m",
        "condaPackPath": "/c",
        "condaPackFileName": "p.tar.gz",
    },
    "tritonEnv": {"registry": "r", "repository": "env", "tag": "0.2", "pullPolicy": "IfNotPresent"},
    "service": {"type": "ClusterIP", "portHttp": 8000, "portGrpc": 8001, "portMetrics": 8002},
}


def test_hand_off_adds_the_drain_to_the_new_template_and_the_services_selector():
    objects = render("tb", "ns", VALUES, {})
    chart = copy.deepcopy(objects)
    hand_off(objects)
    deployment, service = objects["deployment"], objects["service"]
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "triton-backend", "release": "tb", SERVING_LABEL: "true"}
    assert template["spec"]["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
    assert deployment["spec"]["minReadySeconds"] == DRAIN_SECONDS
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0}
    assert service["spec"]["selector"] == {"app": "triton-backend", "release": "tb", SERVING_LABEL: "true"}
    # The Deployment's selector is immutable and stays the chart's; so do the other objects' fields.
    assert deployment["spec"]["selector"] == chart["deployment"]["spec"]["selector"]
    assert service["spec"]["ports"] == chart["service"]["spec"]["ports"]


def pod(name: str, replicaset: str, ready: bool = True, serving: str | None = "true", deleting: bool = False) -> dict:
    labels = {"app": "triton-backend", "release": "tb"}
    if serving is not None:
        labels[SERVING_LABEL] = serving
    meta: dict = {"name": name, "labels": labels, "ownerReferences": [{"kind": "ReplicaSet", "name": replicaset}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


@pytest.mark.parametrize(
    ("pods", "drained"),
    [
        # No new pod ready yet: every old pod keeps serving.
        ([pod("old-a", "old"), pod("new-a", "new", ready=False)], []),
        # One new pod ready: one old pod leaves the Service.
        ([pod("old-a", "old"), pod("old-b", "old"), pod("new-a", "new")], ["old-a"]),
        # An old pod already out and still alive counts against the ready new pods.
        ([pod("old-a", "old", serving="false"), pod("old-b", "old"), pod("new-a", "new")], []),
        (
            [pod("old-a", "old", serving="false"), pod("old-b", "old"), pod("new-a", "new"), pod("new-b", "new")],
            ["old-b"],
        ),
        # A deleted old pod no longer counts; the chart's pods (no serving label yet) are drained like the others.
        ([pod("old-a", "old", deleting=True), pod("old-b", "old", serving=None), pod("new-a", "new")], ["old-b"]),
        # Nothing old left.
        ([pod("new-a", "new"), pod("new-b", "new")], []),
    ],
)
def test_old_pods_leave_the_service_as_new_pods_become_ready(pods, drained):
    assert [p["metadata"]["name"] for p in drain_choice(pods, "new")] == drained
