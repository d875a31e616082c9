"""Zero downtime on the real node: a real Triton keeps answering a bounded HTTP and gRPC load (tests/integration/
loadloop.py, through the NodePort on 127.0.0.1) while a value change rolls the pods, while replicas go 2 -> 1, and
while a pod is evicted with the PDB in place. Every scenario must end with 0 failed requests.

The figures (requests, failures, p50/p99 latency, the longest time without an answer) are written to
.cache/reliability/zero-downtime.json for docs/reliability.md. The cluster has one real node, so a drain that needs a
second node for the evicted pods is shown as far as one node allows: the eviction API with the PDB, not a cordon.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import test_real_triton as real
from kubernetes import client
from loadloop import Load

from tools.localcluster.pytest_fixture import wait_for

# The real node's fixtures (skip without it; a namespace whose pods are gone before the next test) and helpers.
real_node = real.real_node
real_ns = real.real_ns
REAL_NODE, http_port, model_repository, release = real.REAL_NODE, real.http_port, real.model_repository, real.release
REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / ".cache" / "reliability" / "zero-downtime.json"


def pods(k8s, namespace: str, name: str, terminating: bool = True) -> list[Any]:
    listing = client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}")
    return [p for p in listing.items if terminating or not p.metadata.deletion_timestamp]


def grpc_port(result: dict[str, Any]) -> int:
    return int(result["endpoints"]["ports"]["grpc"]["node_port"])


def under_load(scenario: str, result: dict[str, Any], action: Callable[[], None], settled: Callable[[], bool]) -> None:
    """Run ``action`` while both loops send requests; keep loading until ``settled`` (old pods gone); 0 failures."""
    with Load("127.0.0.1", http_port(result), grpc_port(result), max_requests=30000, max_seconds=300) as load:
        wait_for("both loops to get answers", lambda: all(len(x.figures.latencies) >= 20 for x in load.loops), 60)
        action()
        wait_for(f"{scenario}: the replaced pods to be gone", settled, 180)
    summaries = load.summaries()
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    recorded[scenario] = summaries
    FIGURES.write_text(json.dumps(recorded, indent=2))
    print(scenario, json.dumps(summaries))
    for figures in summaries:
        assert figures["failed"] == 0, (scenario, figures)
        assert figures["sent"] >= 100, (scenario, figures)  # the loop really ran through the change


def test_a_value_change_rolls_the_pods_without_a_failed_request(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    first, _seconds = release(runner, real_ns, "roll", repository, replicas=2)
    assert not first.get("failed"), first.get("msg")
    before = {p.metadata.name for p in pods(k8s, real_ns, "roll")}

    def change() -> None:
        result, _seconds = release(runner, real_ns, "roll", repository, replicas=2, pod_annotations={"revision": "2"})
        assert not result.get("failed"), result.get("msg")
        assert result["actions"]["deployment"] == "updated"

    def settled() -> bool:
        now = pods(k8s, real_ns, "roll")
        return len(now) == 2 and not {p.metadata.name for p in now} & before

    under_load("value change, 2 replicas", first, change, settled)


def test_scale_down_drops_a_pod_without_a_failed_request(runner, k8s, real_ns, tmp_path):
    repository = model_repository(tmp_path)
    first, _seconds = release(runner, real_ns, "down", repository, replicas=2)
    assert not first.get("failed"), first.get("msg")

    def change() -> None:
        result, _seconds = release(runner, real_ns, "down", repository, replicas=1)
        assert not result.get("failed"), result.get("msg")

    under_load("replicas 2 -> 1", first, change, lambda: len(pods(k8s, real_ns, "down")) == 1)


def test_an_eviction_under_the_pdb_drops_no_request(runner, k8s, real_ns, tmp_path):
    core = client.CoreV1Api(k8s)
    repository = model_repository(tmp_path)
    first, _seconds = release(runner, real_ns, "evict", repository, replicas=2, pdb_enabled=True)
    assert not first.get("failed"), first.get("msg")
    victim, survivor = sorted(p.metadata.name for p in pods(k8s, real_ns, "evict"))

    def evict(name: str) -> None:
        body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=real_ns))
        core.create_namespaced_pod_eviction(name, real_ns, body)

    def change() -> None:
        evict(victim)  # what a drain does first: allowed, the PDB keeps one pod
        with pytest.raises(client.ApiException) as refused:
            evict(survivor)  # and then: refused while the victim's replacement is not ready
        assert refused.value.status == 429, refused.value

    def settled() -> bool:
        now = pods(k8s, real_ns, "evict")
        ready = [p for p in now if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        return len(now) == 2 and victim not in {p.metadata.name for p in now} and len(ready) == 2

    under_load("eviction with the PDB (one real node)", first, change, settled)
    assert all(p.spec.node_name == REAL_NODE for p in pods(k8s, real_ns, "evict"))
