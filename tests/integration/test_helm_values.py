"""The chart's values files, rendered by the real `helm template` and by the collection, compared field by field.

Each case gives values files in order. `helm template` renders the fixture chart (tests/integration/fixtures/charts/
triton-backend, which reproduces triton-backend 1.3.0 with its bugs) with ``-f`` for each file. The collection
reads the same files as the action plugin does (Ansible's YAML loader, ``merge_options``, ``validate``, ``render``),
after the chart's own values.yaml, since Helm always starts from that: the comparison is of how values are read
(the ``-py3`` rule, ``null``, merges, the tag helpers), not of the collection's defaults, which differ from the
chart's on purpose (docs/values.md).

What must agree: the Triton and conda-env image references, the pull secrets, the node selector, tolerations and
affinity, the GPU limit, the Service type and ports, the PDB's minAvailable/maxUnavailable and the replica count.
Where the collection differs on purpose, the case states both sides (``differs``); what differs in every case:
- the collection pins ``kubernetes.io/arch`` in the node selector (the chart never selects an architecture);
- in GPU mode the collection tolerates the ``nvidia.com/gpu`` taint (the chart adds no toleration);
- the PDB: the chart's is ``policy/v1beta1`` (not served since Kubernetes 1.25) and selects labels its pods do not
  carry; the collection's is ``policy/v1`` and selects its pods;
- the object names: the collection's chart name is ``triton`` (``<release>-triton``), the chart's
  ``triton-backend``.
Needs no cluster, only the helm binary (built on first use, see tools/localcluster/README.md).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._validate import ValidationError, validate
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHART = FIXTURES / "charts" / "triton-backend"
VALUES = FIXTURES / "helm-values"
RELEASE, NAMESPACE = "example", "ml"
CHART_IMAGE = "registry.hub.docker.com/instill/tritonserver"
ENV_IMAGE = "registry.hub.docker.com/instill/triton-conda-env"


@dataclass(frozen=True)
class Case:
    files: tuple[str, ...]
    arch: str = "amd64"  # the architecture the collection pins in the node selector
    differs: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (chart's, collection's)
    warns: tuple[str, ...] = ()  # text each expected warning of the collection contains


CASES = {
    "chart defaults": Case(()),
    "tag without -py3": Case(("tag-release.yaml",)),
    # YAML reads an unquoted 24.10 as 24.1; Helm prints it so, and the collection does the same, with a warning.
    "tag as a YAML number": Case(("tag-float.yaml",), warns=("'image.tag' is the number 24.1",)),
    "tag already ending in -py3": Case(
        ("tag-py3.yaml",),
        differs={"image": (f"{CHART_IMAGE}:24.05-py3-py3", f"{CHART_IMAGE}:24.05-py3")},
        warns=("'image.tag' '24.05-py3' is kept as given",),
    ),
    # The chart compares arch with "arm64" only, so the documented "arm" renders the amd64 tags; the collection
    # reads "arm" as arm64, says what the chart would have rendered, and selects arm64 nodes.
    "arch arm": Case(
        ("arch-arm.yaml",),
        arch="arm64",
        differs={
            "image": (f"{CHART_IMAGE}:22.05-py3", f"{CHART_IMAGE}:22.05-py3-cpu-arm64"),
            "env_image": (f"{ENV_IMAGE}:0.2.6-alpha-cpu", f"{ENV_IMAGE}:0.2.6-alpha-m1"),
        },
        warns=("with arch: arm it rendered 22.05-py3",),
    ),
    "arch arm64": Case(("arch-arm64.yaml",), arch="arm64", warns=("NVIDIA publishes no such tag",)),
    "imagePullSecrets": Case(("pull-secrets.yaml",)),
    "nodeSelector, tolerations, affinity": Case(("scheduling.yaml",)),
    "GPU mode": Case(("gpu.yaml",)),
    "PDB enabled": Case(("pdb.yaml",)),
    "PDB maxUnavailable, minAvailable cleared by null": Case(("pdb-max-unavailable.yaml",)),
    # Helm's merge: a null in a later file deletes the key from the earlier files and from the chart's defaults.
    "later file of nulls": Case(
        ("site.yaml", "nulls.yaml"),
        # Both PDB fields deleted: the chart renders neither, the collection takes its default (minAvailable 1), the
        # documented rule for a key deleted by null (plugins/module_utils/_values.py).
        differs={"pdb": ({}, {"minAvailable": 1})},
    ),
    # Helm drops a null only where the chart's values.yaml has the key: a key that only an earlier -f file set
    # stays, and is rendered as `zone: null` in the pod's node selector. The collection deletes it, which is what
    # Helm's documentation says a null does.
    "later file clearing one key of a mapping": Case(
        ("site.yaml", "node-selector-key-null.yaml"),
        differs={"node_selector": ({"pool": "inference", "zone": None}, {"pool": "inference"})},
    ),
    # A deleted image.tag: the chart prints Go's nil (an image reference no registry serves); the collection takes
    # its default tag, on the registry the values name.
    "later file clearing image.tag": Case(
        ("tag-release.yaml", "tag-null.yaml"),
        differs={"image": (f"{CHART_IMAGE}:<nil>-py3", f"{CHART_IMAGE}:26.07-py3")},
    ),
    "Service ClusterIP with other ports": Case(("service-clusterip.yaml",)),
    "Service LoadBalancer": Case(("service-loadbalancer.yaml",)),
}

# Cases where the collection's result is wrong: strict xfail, so that the fix turns them into failures to update.
COLLECTION_BUGS: dict[str, str] = {}


def helm_template(helm: Path, files: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # helm's own folders in the test's temp folder: nothing of the user's helm setup is read or written.
    homes = {var: str(tmp_path / var.lower()) for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")}
    argv = [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in files:
        argv += ["-f", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **homes}, check=False)


def chart_objects(helm: Path, files: list[Path], tmp_path: Path) -> dict[str, dict[str, Any]]:
    proc = helm_template(helm, files, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(proc.stdout) if doc}


def collection_objects(files: list[Path]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What the action plugin makes of the chart's values.yaml followed by ``files`` (no native option)."""
    loader = DataLoader()
    documents = [(str(path), loader.load_from_file(str(path)) or {}) for path in [CHART / "values.yaml", *files]]
    warnings: list[str] = []
    options, origin = merge_options({}, documents, warnings)
    warnings += validate(options, origin, {})
    rendered = render(RELEASE, NAMESPACE, options)
    kinds = {"deployment": "Deployment", "service": "Service", "pdb": "PodDisruptionBudget"}
    return {kinds[key]: manifest for key, manifest in rendered.items() if key in kinds}, warnings


def view(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fields that must agree, in one comparable shape."""
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    triton = pod["containers"][0]
    limits = (triton.get("resources") or {}).get("limits") or {}
    service = objects["Service"]["spec"]
    pdb = objects.get("PodDisruptionBudget")
    return {
        "replicas": objects["Deployment"]["spec"]["replicas"],
        "image": triton["image"],
        "env_image": [c["image"] for c in pod.get("initContainers", [])][0],
        "pull_secrets": [s["name"] for s in pod.get("imagePullSecrets") or []],
        "node_selector": pod.get("nodeSelector") or {},
        "tolerations": pod.get("tolerations") or [],
        "affinity": pod.get("affinity") or {},
        "gpu_limit": str(limits["nvidia.com/gpu"]) if "nvidia.com/gpu" in limits else None,
        "service_type": service["type"],
        "service_ports": sorted((p["name"], p["port"], p["targetPort"], p.get("nodePort")) for p in service["ports"]),
        "pdb": None if pdb is None else {k: v for k, v in pdb["spec"].items() if k != "selector"},
    }


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def compare(name: str, helm: Path, tmp_path: Path) -> None:
    case = CASES[name]
    files = [VALUES / f for f in case.files]
    chart_side = chart_objects(helm, files, tmp_path)
    ours, warnings = collection_objects(files)
    chart, collection = view(chart_side), view(ours)

    # The differences every case has (module docstring), checked and then set aside.
    assert collection["node_selector"].pop("kubernetes.io/arch") == case.arch
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    if collection["gpu_limit"] is not None and gpu_toleration not in chart["tolerations"]:
        collection["tolerations"].remove(gpu_toleration)
    assert chart_side["Deployment"]["metadata"]["name"] == f"{RELEASE}-triton-backend"
    assert ours["Deployment"]["metadata"]["name"] == f"{RELEASE}-triton"
    if chart["pdb"] is not None or collection["pdb"] is not None:
        chart_pdb, our_pdb = chart_side["PodDisruptionBudget"], ours["PodDisruptionBudget"]
        assert (chart_pdb["apiVersion"], our_pdb["apiVersion"]) == ("policy/v1beta1", "policy/v1")
        chart_pods = chart_side["Deployment"]["spec"]["template"]["metadata"]["labels"]
        our_pods = ours["Deployment"]["spec"]["template"]["metadata"]["labels"]
        assert not matches(chart_pdb["spec"]["selector"]["matchLabels"], chart_pods)  # the chart's bug, kept
        assert matches(our_pdb["spec"]["selector"]["matchLabels"], our_pods)

    for key, (chart_value, our_value) in case.differs.items():
        assert (chart[key], collection[key]) == (chart_value, our_value), key
        del chart[key], collection[key]
    assert collection == chart
    for text in case.warns:
        assert any(text in warning for warning in warnings), (text, warnings)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=COLLECTION_BUGS[name]))
        if name in COLLECTION_BUGS
        else name
        for name in CASES
    ],
)
def test_collection_reads_values_files_as_helm_does(name: str, helm_binary: Path, tmp_path: Path) -> None:
    compare(name, helm_binary, tmp_path)


def test_cases_exercise_what_they_claim(helm_binary: Path, tmp_path: Path) -> None:
    """The fixture chart really has the behaviour the cases rely on, seen in helm's own output."""
    default = view(chart_objects(helm_binary, [], tmp_path))
    assert default["image"] == f"{CHART_IMAGE}:22.05-py3" and default["pdb"] is None and default["gpu_limit"] is None
    assert view(chart_objects(helm_binary, [VALUES / "tag-float.yaml"], tmp_path))["image"].endswith(":24.1-py3")
    site = view(chart_objects(helm_binary, [VALUES / "site.yaml"], tmp_path))
    assert site["pull_secrets"] == ["regcred"] and site["pdb"] == {"maxUnavailable": 1}
    cleared = view(chart_objects(helm_binary, [VALUES / "site.yaml", VALUES / "nulls.yaml"], tmp_path))
    assert cleared["pull_secrets"] == [] and cleared["node_selector"] == {} and cleared["pdb"] == {}
    one_key = view(chart_objects(helm_binary, [VALUES / "site.yaml", VALUES / "node-selector-key-null.yaml"], tmp_path))
    assert one_key["node_selector"] == {"pool": "inference", "zone": None}  # Helm keeps a null no default has
    gpu = view(chart_objects(helm_binary, [VALUES / "gpu.yaml"], tmp_path))
    assert gpu["gpu_limit"] == "2" and gpu["replicas"] == 2
    # Every render differs: the random rollme annotation on the Deployment (not on its pods).
    first, second = (chart_objects(helm_binary, [], tmp_path)["Deployment"] for _attempt in range(2))
    assert first["metadata"]["annotations"]["rollme"] != second["metadata"]["annotations"]["rollme"]
    assert first["spec"]["template"] == second["spec"]["template"]


def test_both_pdb_fields_the_chart_renders_the_collection_refuses(helm_binary: Path, tmp_path: Path) -> None:
    files = [VALUES / "pdb-both.yaml"]
    pdb = chart_objects(helm_binary, files, tmp_path)["PodDisruptionBudget"]["spec"]
    assert (pdb["minAvailable"], pdb["maxUnavailable"]) == (1, 1)  # the API server refuses both at once
    with pytest.raises(ValidationError, match=r"set exactly one of minAvailable \(1, from .*values\.yaml\)"):
        collection_objects(files)


def test_node_port_out_of_range_both_refuse(helm_binary: Path, tmp_path: Path) -> None:
    files = [VALUES / "node-port-out-of-range.yaml"]
    proc = helm_template(helm_binary, files, tmp_path)
    assert proc.returncode != 0 and "Invalid nodePort port 8080" in proc.stderr
    with pytest.raises(ValidationError, match=r"service_node_port_http .*must be between 30000 and 32767, got 8080"):
        collection_objects(files)


def test_chart_server_flags_are_the_documented_ones(helm_binary: Path, tmp_path: Path) -> None:
    """The flags a live release runs with, which a hand-over must keep (explicit model control)."""
    triton = chart_objects(helm_binary, [], tmp_path)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert triton["args"] == [
        "/bin/bash",
        "-c",
        "tritonserver --model-store=/model-repository --allow-http=true --model-control-mode=explicit "
        "--strict-model-config=false",
    ]
