"""Helm's release Secret, Helm's merge of values, and the chart's objects as adoption renders them."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from ansible_collections.inference.triton.plugins.module_utils._helm_release import (
    HelmReleaseError,
    coalesce,
    decode_release,
    encode_release,
    go_text,
    helm_annotations,
    helm_labels,
    helm_owned_fields,
    names,
    release_values,
    render,
    server_command,
    values_changes,
    without_helm_metadata,
)

CHART_VALUES = {
    "replicaCount": 1,
    "arch": "amd",
    "mode": {"useCpu": True},
    "tritonEnv": {"registry": "r", "repository": "env", "tag": "0.2.6-alpha", "pullPolicy": "IfNotPresent"},
    "image": {
        "registry": "r",
        "repository": "tritonserver",
        "tag": 22.05,
        "pullPolicy": "IfNotPresent",
        "modelRepositoryPath": "/model-repository",
        "condaPackPath": "/conda-pack",
        "condaPackFileName": "python-3-8.tar.gz",
        "numGpus": 1,
    },
    "service": {"type": "NodePort", "portHttp": 8000, "portGrpc": 8001, "portMetrics": 8002, "nodePortHttp": 31000},
    "podDisruptionBudget": {"enabled": False, "minAvailable": 1},
}


def test_a_release_secret_decodes_as_helm_wrote_it():
    release = {"name": "tb", "version": 3, "config": {"replicaCount": 2}, "chart": {"values": {"replicaCount": 1}}}
    data = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()
    assert decode_release(data) == release
    assert decode_release(encode_release(release)) == release
    assert release_values(release) == {"replicaCount": 2}


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}, {"a": {"b": 3, "c": 2}}),
        ({"a": {"b": 1}}, {"a": None}, {}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"b": 1}}, {"a": {"b": None}}, {"a": {}}),
    ],
)
def test_values_merge_as_helm_merges(base, override, merged):
    assert coalesce(base, override) == merged


def test_values_changes_name_dotted_keys():
    assert values_changes({"image": {"tag": 1, "x": None}}, {"image": {"tag": 2}}) == {
        "image.tag": {"release": 1, "now": 2}
    }
    assert values_changes({"a": {}}, {"a": None}) == {}


@pytest.mark.parametrize(("value", "text"), [(22.05, "22.05"), (24.10, "24.1"), (2.0, "2"), (True, "true"), ("x", "x")])
def test_numbers_print_as_go_prints_them(value, text):
    assert go_text(value) == text


@pytest.mark.parametrize(
    ("release", "values", "expected"),
    [
        ("tb", {}, ("triton-backend", "tb-triton-backend")),
        ("my-triton-backend", {}, ("triton-backend", "my-triton-backend")),
        ("tb", {"nameOverride": "x"}, ("x", "tb-x")),
        ("tb", {"fullnameOverride": "full"}, ("triton-backend", "full")),
    ],
)
def test_names_follow_the_chart(release, values, expected):
    assert names(release, values) == expected


def test_the_pod_template_is_the_charts():
    objects = render("tb", "ns", CHART_VALUES, {"app.kubernetes.io/instance": "tb"})
    deployment = objects["deployment"]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "triton-backend", "release": "tb"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": {"app": "triton-backend", "release": "tb"}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "r/tritonserver:22.05-py3"
    assert "resources" not in container
    assert container["args"][2] == (
        "tritonserver --model-store=/model-repository --allow-http=true --model-control-mode=explicit "
        "--strict-model-config=false"
    )
    assert deployment["spec"]["template"]["spec"]["initContainers"][0]["image"] == "r/env:0.2.6-alpha-cpu"
    assert objects["service"]["spec"]["ports"][0] == {
        "port": 8000,
        "targetPort": "http",
        "nodePort": 31000,
        "name": "http",
    }
    assert "nodePort" not in objects["service"]["spec"]["ports"][1]
    assert "pdb" not in objects


def test_a_gpu_release_and_its_pdb_as_policy_v1():
    values = coalesce(CHART_VALUES, {"mode": {"useCpu": False}, "podDisruptionBudget": {"enabled": True}})
    objects = render("tb", "ns", values, {})
    container = objects["deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert objects["pdb"]["apiVersion"] == "policy/v1"
    assert objects["pdb"]["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "triton-backend", "app.kubernetes.io/instance": "tb"}},
    }


def test_server_flags_change_only_when_asked():
    values = {"image": {"modelRepositoryPath": "/m"}}
    assert "--model-control-mode=explicit" in server_command(values, {})
    command = server_command(values, {"model_control_mode": "poll", "server_args": ["--repository-poll-secs=5"]})
    assert command.endswith("--model-control-mode=poll --strict-model-config=false --repository-poll-secs=5")
    assert "--load-model=a" in server_command(values, {"load_models": ["a"]})


def test_the_charts_checks_are_kept():
    with pytest.raises(HelmReleaseError, match="service.nodePortHttp 80"):
        render("tb", "ns", coalesce(CHART_VALUES, {"service": {"nodePortHttp": 80}}), {})
    with pytest.raises(HelmReleaseError, match="service.type is required"):
        render("tb", "ns", coalesce(CHART_VALUES, {"service": {"type": None}}), {})


def test_helm_metadata_is_found_and_removed():
    obj = {
        "metadata": {
            "labels": {"heritage": "Helm", "chart": "c", "app": "a", "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "tb", "rollme": "x", "keep": "y"},
            "managedFields": [
                {
                    "manager": "helm",
                    "operation": "Update",
                    "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
                },
                {"manager": "inference.triton", "operation": "Apply", "fieldsV1": {}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"},
            ],
        }
    }
    assert helm_labels(obj) == ["heritage", "chart", "app.kubernetes.io/managed-by"]
    assert helm_annotations(obj) == ["meta.helm.sh/release-name", "rollme"]
    assert helm_owned_fields(obj) == ["spec.replicas", "spec.template"]
    clean = without_helm_metadata(obj)
    assert clean["metadata"]["labels"] == {"app": "a"}
    assert clean["metadata"]["annotations"] == {"keep": "y"}
    assert [f["manager"] for f in clean["metadata"]["managedFields"]] == ["inference.triton", "kube-controller-manager"]
