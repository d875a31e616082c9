"""Simulated nodes: their manifests (pure functions) and reconciling the cluster to a wanted set.

GPU nodes are ``gpu-node-<i>``, CPU-only nodes ``cpu-node-<i>``, both counted from 0. kwok manages every node
annotated ``kwok.x-k8s.io/node=fake``; nodes carry no kwok taint, so DaemonSets land on them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ._kubeapi import ApiError, KubeApi

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
POOLS = ("gpu", "cpu")


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def manifest(self) -> dict[str, str]:
        out = {"key": self.key, "effect": self.effect}
        if self.value:
            out["value"] = self.value
        return out


@dataclass
class NodeSpec:
    """What the simulated nodes look like; stored in the state file so `nodes` can add alike ones later."""

    gpu_nodes: int = 2
    cpu_nodes: int = 1
    real_nodes: int = 1  # 0 or 1: the node run by a real kubelet (_realnode.py); 0 where it cannot run
    gpus_per_node: int = 8
    gpu_product: str = "NVIDIA-A100-SXM4-80GB"
    cpu: str = "64"
    memory: str = "512Gi"
    pods: str = "110"
    # Like a real node's disk: pods that request ephemeral storage (Triton's /tmp, its logs) schedule here too.
    ephemeral_storage: str = "1Ti"
    # extra labels/taints per pool ("gpu" or "cpu")
    labels: dict[str, dict[str, str]] = field(default_factory=lambda: {"gpu": {}, "cpu": {}})
    taints: dict[str, list[Taint]] = field(default_factory=lambda: {"gpu": [], "cpu": []})

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["taints"] = {pool: [t.__dict__ for t in taints] for pool, taints in self.taints.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeSpec:
        data = dict(data)
        data["taints"] = {pool: [Taint(**t) for t in taints] for pool, taints in data.get("taints", {}).items()}
        return cls(**data)


def _split_pool(text: str) -> tuple[tuple[str, ...], str]:
    """Split an optional ``gpu:`` / ``cpu:`` prefix off a label or taint argument."""
    head, sep, rest = text.partition(":")
    if sep and head in POOLS:
        return (head,), rest
    return POOLS, text


def parse_label(text: str) -> tuple[tuple[str, ...], str, str]:
    """Parse ``[gpu:|cpu:]KEY=VALUE`` into (pools, key, value)."""
    pools, rest = _split_pool(text)
    key, sep, value = rest.partition("=")
    if not sep or not key:
        raise ValueError(f"node label {text!r} is not of the form [gpu:|cpu:]KEY=VALUE")
    return pools, key, value


def parse_taint(text: str) -> tuple[tuple[str, ...], Taint]:
    """Parse ``[gpu:|cpu:]KEY[=VALUE]:EFFECT`` into (pools, taint)."""
    pools, rest = _split_pool(text)
    body, sep, effect = rest.rpartition(":")
    if not sep or effect not in TAINT_EFFECTS:
        raise ValueError(f"node taint {text!r} is not of the form [gpu:|cpu:]KEY[=VALUE]:{'|'.join(TAINT_EFFECTS)}")
    key, _, value = body.partition("=")
    if not key:
        raise ValueError(f"node taint {text!r} has an empty key")
    return pools, Taint(key, value, effect)


def add_labels_and_taints(spec: NodeSpec, labels: list[str], taints: list[str]) -> None:
    for text in labels:
        pools, key, value = parse_label(text)
        for pool in pools:
            spec.labels.setdefault(pool, {})[key] = value
    for text in taints:
        pools, taint = parse_taint(text)
        for pool in pools:
            spec.taints.setdefault(pool, []).append(taint)


def node_names(spec: NodeSpec) -> list[str]:
    return [f"gpu-node-{i}" for i in range(spec.gpu_nodes)] + [f"cpu-node-{i}" for i in range(spec.cpu_nodes)]


def pool_of(name: str) -> str | None:
    for pool in POOLS:
        prefix = f"{pool}-node-"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return pool
    return None


def node_manifest(name: str, spec: NodeSpec) -> dict[str, Any]:
    """Return the Node object for one simulated node, status (capacity/allocatable) included."""
    pool = pool_of(name)
    if pool is None:
        raise ValueError(f"{name!r} is not a simulated node name (gpu-node-<i> or cpu-node-<i>)")
    labels = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "type": "kwok",
    }
    resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods, "ephemeral-storage": spec.ephemeral_storage}
    if pool == "gpu":
        labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": spec.gpu_product,
            "nvidia.com/gpu.count": str(spec.gpus_per_node),
        }
        resources["nvidia.com/gpu"] = str(spec.gpus_per_node)
    labels |= spec.labels.get(pool, {})
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }
    taints = [t.manifest() for t in spec.taints.get(pool, [])]
    if taints:
        node["spec"]["taints"] = taints
    return node


def is_schedulable(node: dict[str, Any]) -> bool:
    """Ready=True and no not-ready taint (removed by the node-lifecycle controller once Ready)."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t.get("key") == NOT_READY_TAINT for t in taints)


def managed_nodes(api: KubeApi) -> dict[str, dict[str, Any]]:
    """Return the simulated nodes this tool manages, by name."""
    items = api.get("/api/v1/nodes").get("items", [])
    return {
        n["metadata"]["name"]: n
        for n in items
        if (n["metadata"].get("annotations") or {}).get(KWOK_ANNOTATION) == "fake" and pool_of(n["metadata"]["name"])
    }


def reconcile(api: KubeApi, spec: NodeSpec) -> tuple[list[str], list[str]]:
    """Create the missing wanted nodes and delete managed nodes beyond the wanted counts."""
    wanted = node_names(spec)
    present = managed_nodes(api)
    created, deleted = [], []
    for name in wanted:
        if name not in present:
            manifest = node_manifest(name, spec)
            try:
                made = api.create("/api/v1/nodes", manifest)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                made = api.get(f"/api/v1/nodes/{name}")
            if (made.get("status") or {}).get("capacity") != manifest["status"]["capacity"]:
                # kubelets register nodes with their status; write it explicitly should the server drop it
                api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": manifest["status"]})
            created.append(name)
    for name in sorted(set(present) - set(wanted)):
        api.delete(f"/api/v1/nodes/{name}")
        deleted.append(name)
    return created, deleted


def wait_schedulable(api: KubeApi, names: list[str], timeout: float) -> None:
    """Wait until every named node is Ready with no not-ready taint, with a report of the laggards."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = managed_nodes(api)
        waiting = sorted(n for n in names if n not in nodes or not is_schedulable(nodes[n]))
        if not waiting:
            return
        if time.monotonic() >= deadline:
            shown = ", ".join(waiting[:10]) + (" ..." if len(waiting) > 10 else "")
            raise TimeoutError(f"{len(waiting)} node(s) not Ready/untainted after {timeout:.0f} s: {shown}")
        time.sleep(0.5)
