"""The GPU-aware rollout (gpu_rollout) on a simulated GPU node of the test's own: replicas that take every GPU,
then an image change. With auto the update completes (one pod at a time), and a rerun changes nothing; with surge
forced, or a PDB that allows no unavailable pod, it fails before writing; without the check the wait names the
Pending surge pod within seconds instead of running into its deadline.

The node is a Node object with kwok's annotation (kwok makes its pods Running and Ready, nothing runs), 2 GPUs, a
label and a taint of its own: only this test's release goes there, the shared gpu-node-0/1 keep their GPUs."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kubernetes import client

from tools.localcluster._nodes import KWOK_ANNOTATION, NodeSpec, is_schedulable, node_manifest
from tools.localcluster.pytest_fixture import wait_for

# A Node is cluster-wide: this file runs in the lane of tests that change cluster-wide objects.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]

GPUS = 2
KEY = "inference.triton/gpu-rollout-test"
ONE_AT_A_TIME = {"max_surge": 0, "max_unavailable": 1}


@pytest.fixture
def gpu_node(k8s):
    """A kwok node like gpu-node-<i> with GPUS GPUs, labelled and tainted KEY=<its name>; deleted afterwards."""
    core = client.CoreV1Api(k8s)
    name = f"gpu-rollout-{uuid.uuid4().hex[:6]}"  # not gpu-node-<i>: localcluster's node sync leaves it alone
    manifest: dict[str, Any] = node_manifest("gpu-node-0", NodeSpec(gpus_per_node=GPUS))
    manifest["metadata"]["name"] = name
    manifest["metadata"]["labels"] |= {"kubernetes.io/hostname": name, KEY: name}
    manifest["spec"]["taints"] = [{"key": KEY, "value": name, "effect": "NoSchedule"}]
    assert manifest["metadata"]["annotations"][KWOK_ANNOTATION] == "fake"
    core.create_node(manifest)
    try:
        if (core.read_node(name).status.capacity or {}).get("nvidia.com/gpu") != str(GPUS):
            core.patch_node_status(name, {"status": manifest["status"]})
        wait_for(
            f"node {name} Ready and untainted",
            lambda: is_schedulable(k8s.sanitize_for_serialization(core.read_node(name))),
            timeout=60,
        )
        yield name
    finally:
        core.delete_node(name)


def release(node: str, **extra: Any) -> dict[str, Any]:
    options = {
        "name": "roll",
        "replicas": GPUS,
        "num_gpus": 1,
        "node_selector": {KEY: node},
        "tolerations": [{"key": KEY, "operator": "Equal", "value": node, "effect": "NoSchedule"}],
        "image_tag": "24.08-py3",
        "wait_timeout": 180,
    }
    return {**options, **extra}


def snapshot(k8s, namespace: str) -> dict[str, str]:
    """resourceVersion of the release's objects, its ReplicaSets and pods."""
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    found = {}
    for kind, listing in (
        ("Deployment", apps.list_namespaced_deployment(namespace)),
        ("Service", core.list_namespaced_service(namespace)),
        ("PodDisruptionBudget", client.PolicyV1Api(k8s).list_namespaced_pod_disruption_budget(namespace)),
        ("ReplicaSet", apps.list_namespaced_replica_set(namespace)),
        ("Pod", core.list_namespaced_pod(namespace)),
    ):
        for item in listing.items:
            found[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    return found


def strategy(k8s, namespace: str) -> dict[str, Any]:
    rolling = client.AppsV1Api(k8s).read_namespaced_deployment("roll-triton", namespace).spec.strategy.rolling_update
    return {"max_surge": rolling.max_surge, "max_unavailable": rolling.max_unavailable}


def images(k8s, namespace: str) -> dict[str, str]:
    pods = client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector="app.kubernetes.io/instance=roll")
    return {p.metadata.name: p.spec.containers[0].image.rsplit(":", 1)[1] for p in pods.items}


def test_gpu_full_update(runner, k8s, namespace, gpu_node):
    created = runner.triton(namespace=namespace, **release(gpu_node))
    assert not created.get("failed"), created.get("msg")
    assert created["rollout"]["complete"] and {p["node"] for p in created["rollout"]["pods"]} == {gpu_node}
    assert "gpu_rollout" not in created  # a first release replaces nothing
    try:
        # Surge forced: the update is refused before writing, with the numbers and the options.
        before = snapshot(k8s, namespace)
        forced = runner.triton(namespace=namespace, **release(gpu_node, image_tag="24.09-py3", gpu_rollout="surge"))
        assert forced.get("failed") and forced["option"] == "gpu_rollout", forced.get("msg")
        assert (
            "replicas=2 x num_gpus=1, rolling update with maxSurge 25% (1 pod(s)) and maxUnavailable 25% (0)"
            in (forced["msg"])
        )
        assert f"{gpu_node}: {GPUS} allocatable, 0 free" in forced["msg"] and "gpu_rollout: auto" in forced["msg"]
        assert forced["changed"] is False and snapshot(k8s, namespace) == before

        # A PDB that allows no unavailable pod: auto refuses too (the PDB is not written either).
        guarded = runner.triton(
            namespace=namespace, **release(gpu_node, image_tag="24.09-py3", pdb_enabled=True, pdb_min_available=2)
        )
        assert guarded.get("failed") and guarded["option"] == "pdb_min_available", guarded.get("msg")
        assert "(pdb_min_available=2 with replicas=2) allows 0 unavailable pod(s)" in guarded["msg"]
        assert snapshot(k8s, namespace) == before

        # auto: the same update completes, one pod at a time.
        started = time.monotonic()
        updated = runner.triton(namespace=namespace, **release(gpu_node, image_tag="24.09-py3"))
        took = time.monotonic() - started
        assert not updated.get("failed"), updated.get("msg")
        assert updated["changed"] and updated["rollout"]["complete"], updated["rollout"]
        assert updated["gpu_rollout"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
        assert "1 of 2 serving meanwhile" in updated["gpu_rollout"]["reason"]
        assert strategy(k8s, namespace) == ONE_AT_A_TIME
        assert set(images(k8s, namespace).values()) == {"24.09-py3"} and len(images(k8s, namespace)) == GPUS
        print(f"GPU-full update with gpu_rollout auto: complete in {took:.1f} s")

        # The same values again: nothing changes, the strategy stays (also in check mode).
        for check in (False, True):
            again = runner.triton(namespace=namespace, check=check, **release(gpu_node, image_tag="24.09-py3"))
            assert not again.get("failed") and again["changed"] is False, (check, again.get("actions"))
            assert "gpu_rollout" not in again
        assert strategy(k8s, namespace) == ONE_AT_A_TIME

        # A change that does not replace the pods keeps the strategy too (no flip back to 25%).
        labelled = runner.triton(namespace=namespace, **release(gpu_node, image_tag="24.09-py3", labels={"a": "b"}))
        assert not labelled.get("failed") and labelled["changed"], labelled.get("msg")
        assert strategy(k8s, namespace) == ONE_AT_A_TIME

        # Without the check (preflight: skip) the Kubernetes default strategy comes back and the update deadlocks:
        # the wait names the Pending surge pod within seconds, long before its 180 s.
        started = time.monotonic()
        stuck = runner.triton(
            namespace=namespace, **release(gpu_node, image_tag="24.10-py3", labels={"a": "b"}, preflight="skip")
        )
        took = time.monotonic() - started
        assert stuck.get("failed"), stuck
        assert "Insufficient nvidia.com/gpu" in stuck["msg"] and "no old pod may free" in stuck["msg"], stuck["msg"]
        assert "stopped after" in stuck["msg"] and took < 60, (took, stuck["msg"])
        print(f"deadlocked surge named after {took:.1f} s: {stuck['msg']}")
    finally:
        gone = runner.triton(name="roll", namespace=namespace, state="absent")
        assert not gone.get("failed"), gone.get("msg")
