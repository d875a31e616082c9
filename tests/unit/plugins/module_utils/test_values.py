"""Helm values -> options: every chart key, the chart's tag helpers, Helm's merge and null, precedence, unknown keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.inference.triton.plugins.module_utils import _values
from ansible_collections.inference.triton.plugins.module_utils._values import ValuesError, merge_options

REPO = Path(__file__).resolve().parents[4]

CHART_TABLE_KEYS = [
    "nameOverride",
    "fullnameOverride",
    "replicaCount",
    "imagePullSecrets",
    "arch",
    "mode.useCpu",
    "tritonEnv.registry",
    "tritonEnv.repository",
    "tritonEnv.tag",
    "tritonEnv.pullPolicy",
    "image.registry",
    "image.repository",
    "image.tag",
    "image.pullPolicy",
    "image.modelRepositoryPath",
    "image.condaPackPath",
    "image.condaPackFileName",
    "image.numGpus",
    "service.nodePortGrpc",
    "service.nodePortHttp",
    "service.nodePortMetrics",
    "service.portGrpc",
    "service.portHttp",
    "service.portMetrics",
    "service.type",
    "nodeSelector",
    "tolerations",
    "affinity",
    "podAnnotations",
    "podDisruptionBudget.enabled",
    "podDisruptionBudget.maxUnavailable",
    "podDisruptionBudget.minAvailable",
]


def test_every_key_of_the_chart_values_table_has_an_option():
    assert sorted(_values.CHART_KEYS) == sorted(CHART_TABLE_KEYS)
    assert all(option in _values.DEFAULTS for option in _values.CHART_KEYS.values())


@pytest.mark.parametrize(
    "values, option, expected",
    [
        ({"replicaCount": 3}, "replicas", 3),
        ({"image": {"tag": 22.05}}, "image_tag", "22.05-py3"),
        ({"image": {"tag": "23.10"}}, "image_tag", "23.10-py3"),
        ({"image": {"tag": "22.05"}, "arch": "arm64"}, "image_tag", "22.05-py3-cpu-arm64"),
        ({"tritonEnv": {"tag": "0.2.6-alpha"}}, "conda_env_tag", "0.2.6-alpha-cpu"),
        ({"tritonEnv": {"tag": "0.2.6-alpha"}, "arch": "arm"}, "conda_env_tag", "0.2.6-alpha-m1"),
        ({"tritonEnv": {"pullPolicy": "Always"}}, "conda_pack_source", "image"),
        ({"arch": "amd"}, "arch", "amd64"),
        ({"arch": "arm"}, "arch", "arm64"),
        ({"imagePullSecrets": [{"name": "regcred"}]}, "image_pull_secrets", ["regcred"]),
        ({"mode": {"useCpu": True}}, "use_cpu", True),
        ({"image": {"numGpus": 4}}, "num_gpus", 4),
        ({"service": {"nodePortHttp": 30080}}, "service_node_port_http", 30080),
        ({"podAnnotations": {"a": "b"}}, "pod_annotations", {"a": "b"}),
        ({"podDisruptionBudget": {"maxUnavailable": "50%", "minAvailable": None}}, "pdb_max_unavailable", "50%"),
        ({"image": {"modelRepositoryPath": "/srv/models"}}, "model_repository_path", "/srv/models"),
    ],
)
def test_values_map_to_options(values, option, expected):
    merged, origin = merge_options({}, [("values", values)])
    assert merged[option] == expected
    assert origin[option] == "values"


def test_null_means_not_set_as_in_helm():
    merged, origin = merge_options({}, [("values", {"nameOverride": None, "podDisruptionBudget": None})])
    assert merged["name_override"] is None and origin["name_override"] == "default"


def test_native_options_win_over_values_files_and_values():
    docs = [("a.yaml", {"replicaCount": 2}), ("values", {"replicaCount": 3, "image": {"tag": "22.05"}})]
    merged, origin = merge_options({"replicas": 5, "image_tag": None}, docs)
    assert merged["replicas"] == 5 and origin["replicas"] == "option"
    assert merged["image_tag"] == "22.05-py3" and origin["image_tag"] == "values"


def test_later_values_documents_win():
    merged, origin = merge_options({}, [("a.yaml", {"replicaCount": 2}), ("b.yaml", {"replicaCount": 4})])
    assert merged["replicas"] == 4 and origin["replicas"] == "b.yaml"


def test_cpu_mode_ignores_the_chart_num_gpus_as_the_chart_does():
    merged, origin = merge_options({}, [("values", {"mode": {"useCpu": True}, "image": {"numGpus": 1}})])
    assert origin["num_gpus"] == "default"


def test_pdb_min_available_defaults_to_one_only_when_max_unavailable_is_unset():
    assert merge_options({}, [])[0]["pdb_min_available"] == 1
    merged = merge_options({"pdb_max_unavailable": 1}, [])[0]
    assert merged["pdb_min_available"] is None


@pytest.mark.parametrize(
    "values, message",
    [
        ({"replicas": 2}, "unknown key 'replicas'"),
        ({"image": {"numGPUs": 2}}, "unknown key 'image.numGPUs' (did you mean 'image.numGpus'?)"),
        ({"service": {"nodeport": 1}}, "unknown key 'service.nodeport'"),
        ({"image": "nvcr.io/x"}, "'image' must be a mapping"),
        ({"arch": "x86"}, "'arch' must be one of"),
        ({"mode": {"useCpu": "yes"}}, "'mode.useCpu' must be true or false"),
        ({"imagePullSecrets": "regcred"}, "'imagePullSecrets' must be a list"),
        ({"imagePullSecrets": [{"secret": "x"}]}, "'imagePullSecrets' items"),
        (["replicaCount"], "must be a mapping"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(values, message):
    with pytest.raises(ValuesError) as err:
        merge_options({}, [("my-values.yaml", values)])
    assert message in str(err.value)
    assert "my-values.yaml" in str(err.value)


def merged_with_warnings(native, documents):
    warnings: list[str] = []
    merged, origin = merge_options(native, documents, warnings)
    return merged, origin, warnings


# -- image.tag: the chart's -py3 suffix, made explicit ----------------------------------------------------------------


@pytest.mark.parametrize(
    "tag, arch, expected",
    [
        ("22.05", "amd", "22.05-py3"),
        (22.05, "amd", "22.05-py3"),
        ("24.10", "amd", "24.10-py3"),
        ("22.05", "arm64", "22.05-py3-cpu-arm64"),
    ],
)
def test_a_release_number_gets_the_chart_suffix(tag, arch, expected):
    docs = [("a.yaml", {"image": {"tag": tag, "registry": "registry.example/mirror"}, "arch": arch})]
    merged, origin, warnings = merged_with_warnings({}, docs)
    assert merged["image_tag"] == expected and origin["image_tag"] == "a.yaml"
    assert not [w for w in warnings if "is kept as given" in w]
    assert bool(warnings) is (arch == "arm64")  # the arm64 suffix is named, see the arch tests below


@pytest.mark.parametrize(
    "tag, arch, chart_would_render",
    [
        ("26.07-py3", "amd", "26.07-py3-py3"),
        ("24.05-py3-igpu", "amd", "24.05-py3-igpu-py3"),
        ("24.08-trtllm-python-py3", "amd", "24.08-trtllm-python-py3-py3"),
        ("22.05-py3-cpu-arm64", "arm64", "22.05-py3-cpu-arm64-py3-cpu-arm64"),
        ("24.05-py3", "arm64", "24.05-py3-py3-cpu-arm64"),
    ],
)
def test_a_tag_that_already_has_its_py3_part_is_kept_and_the_result_says_so(tag, arch, chart_would_render):
    merged, origin, warnings = merged_with_warnings({}, [("a.yaml", {"image": {"tag": tag}, "arch": arch})])
    assert merged["image_tag"] == tag and origin["image_tag"] == "a.yaml"
    (warning,) = warnings
    assert "a.yaml" in warning and "'image.tag'" in warning
    assert f"{tag!r} is kept as given, the final tag is {tag!r}" in warning
    assert repr(chart_would_render) in warning


@pytest.mark.parametrize(
    "tag, message",
    [
        ("latest", "the chart would have rendered 'latest-py3'"),
        ("main", "neither a release number"),
        ("24.05-igpu", "set the option image_tag"),
        ("sha256:" + "a" * 64, "is a digest"),
        ("24.05@sha256:" + "a" * 64, "is a digest"),
        (True, "must be a string"),
        ({"name": "x"}, "must be a string"),
    ],
)
def test_any_other_image_tag_is_refused_with_what_the_chart_would_have_made(tag, message):
    with pytest.raises(ValuesError) as err:
        merge_options({}, [("my-values.yaml", {"image": {"tag": tag}})])
    assert message in str(err.value)
    assert "my-values.yaml: 'image.tag'" in str(err.value)


def test_the_image_tag_option_is_used_as_given_and_silences_the_chart_rule():
    docs = [("a.yaml", {"image": {"tag": "26.07-py3"}})]
    merged, origin, warnings = merged_with_warnings({"image_tag": "26.07-py3-sdk"}, docs)
    assert merged["image_tag"] == "26.07-py3-sdk" and origin["image_tag"] == "option"
    assert warnings == []


def test_a_number_with_one_decimal_warns_that_yaml_dropped_a_zero():
    merged, origin, warnings = merged_with_warnings({}, [("a.yaml", {"image": {"tag": 24.1}})])
    assert merged["image_tag"] == "24.1-py3" and origin["image_tag"] == "a.yaml"
    assert any("YAML reads an unquoted 24.10 as 24.1" in w for w in warnings)


def test_the_tag_rule_uses_the_merged_arch_from_any_document_or_the_option():
    docs = [("a.yaml", {"image": {"tag": "22.05", "registry": "r.example/x"}}), ("b.yaml", {"arch": "arm"})]
    assert merge_options({}, docs)[0]["image_tag"] == "22.05-py3-cpu-arm64"
    assert merge_options({"arch": "arm64"}, docs[:1])[0]["image_tag"] == "22.05-py3-cpu-arm64"


@pytest.mark.parametrize(
    "tag, arch, expected, kept",
    [
        ("0.2.6-alpha", "amd", "0.2.6-alpha-cpu", False),
        ("0.2.6-alpha-cpu", "amd", "0.2.6-alpha-cpu", True),
        ("0.2.6-alpha-m1", "arm", "0.2.6-alpha-m1", True),
    ],
)
def test_the_conda_env_tag_keeps_a_chart_suffix_it_already_has(tag, arch, expected, kept):
    docs = [("a.yaml", {"tritonEnv": {"tag": tag}, "arch": arch, "image": {"registry": "r.example/x"}})]
    merged, origin, warnings = merged_with_warnings({}, docs)
    assert merged["conda_env_tag"] == expected and origin["conda_env_tag"] == "a.yaml"
    assert any("'tritonEnv.tag'" in w and "kept as given" in w for w in warnings) is kept


# -- null deletes what an earlier document set ------------------------------------------------------------------------


def test_a_later_null_in_a_values_file_gives_back_the_default():
    docs = [("a.yaml", {"image": {"tag": "24.05"}}), ("b.yaml", {"image": {"tag": None}})]
    merged, origin = merge_options({}, docs)
    assert merged["image_tag"] == _values.DEFAULTS["image_tag"] == "26.07-py3"
    assert origin["image_tag"] == "default"


def test_a_null_in_values_deletes_what_a_values_file_set():
    docs = [("a.yaml", {"image": {"tag": "24.05"}, "replicaCount": 4}), ("values", {"image": {"tag": None}})]
    merged, origin = merge_options({}, docs)
    assert merged["image_tag"] == "26.07-py3" and origin["image_tag"] == "default"
    assert merged["replicas"] == 4 and origin["replicas"] == "a.yaml"


def test_a_null_group_deletes_every_key_of_it():
    image = {"tag": "24.05", "registry": "r.example/x", "numGpus": 2}
    docs = [("a.yaml", {"image": image}), ("b.yaml", {"image": None})]
    merged, origin = merge_options({}, docs)
    for option in ("image_tag", "image_registry", "num_gpus"):
        assert merged[option] == _values.DEFAULTS[option] and origin[option] == "default"


def test_a_deleted_key_can_be_set_again_and_the_option_still_wins():
    docs = [("a.yaml", {"replicaCount": 2}), ("b.yaml", {"replicaCount": None}), ("values", {"replicaCount": 3})]
    merged, origin = merge_options({}, docs)
    assert merged["replicas"] == 3 and origin["replicas"] == "values"
    merged, origin = merge_options({"replicas": 5}, docs[:2])
    assert merged["replicas"] == 5 and origin["replicas"] == "option"


def test_deleting_every_tritonenv_key_turns_the_conda_pack_init_container_off_again():
    docs = [("a.yaml", {"tritonEnv": {"tag": "0.2.6-alpha"}}), ("b.yaml", {"tritonEnv": None})]
    merged, origin = merge_options({}, docs)
    assert merged["conda_pack_source"] == "none" and origin["conda_pack_source"] == "default"
    assert merged["conda_env_tag"] == "0.2.6-alpha-cpu"


def test_deleting_use_cpu_brings_the_gpu_count_of_an_earlier_file_back():
    docs = [("a.yaml", {"image": {"numGpus": 2}}), ("b.yaml", {"mode": {"useCpu": True}})]
    assert merge_options({}, docs)[0]["num_gpus"] == 1  # ignored in CPU mode, as the chart does
    docs.append(("c.yaml", {"mode": {"useCpu": None}}))
    merged, origin = merge_options({}, docs)
    assert merged["use_cpu"] is False and merged["num_gpus"] == 2 and origin["num_gpus"] == "a.yaml"


def test_null_hands_the_pdb_from_min_available_to_max_unavailable_as_in_helm():
    chart = yaml.safe_load((REPO / "tests/integration/fixtures/chart-default-values.yaml").read_text())
    mine = {"podDisruptionBudget": {"enabled": True, "minAvailable": None, "maxUnavailable": 1}}
    merged, origin = merge_options({}, [("chart.yaml", chart), ("mine.yaml", mine)])
    assert (merged["pdb_min_available"], merged["pdb_max_unavailable"]) == (None, 1)
    assert origin["pdb_max_unavailable"] == "mine.yaml"


def test_mappings_merge_key_by_key_and_lists_replace_as_in_helm():
    docs = [
        ("a.yaml", {"nodeSelector": {"a": "1", "b": "2"}, "tolerations": [{"key": "x", "operator": "Exists"}]}),
        ("b.yaml", {"nodeSelector": {"b": None, "c": "3"}, "tolerations": [{"key": "y", "operator": "Exists"}]}),
    ]
    merged, origin = merge_options({}, docs)
    assert merged["node_selector"] == {"a": "1", "c": "3"} and origin["node_selector"] == "a.yaml, b.yaml"
    assert merged["tolerations"] == [{"key": "y", "operator": "Exists"}] and origin["tolerations"] == "b.yaml"
    merged, origin = merge_options({}, docs + [("c.yaml", {"nodeSelector": None})])
    assert merged["node_selector"] == {} and origin["node_selector"] == "default"


# -- imagePullSecrets: the pod spec's shape, as the chart passes it on -----------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        (["regcred"], "got the string 'regcred': write '- name: regcred'"),
        ([{"name": "regcred", "namespace": "x"}], "with only a name"),
        ([{"name": ""}], "with only a name"),
        ([{"name": 1}], "with only a name"),
        ({"name": "regcred"}, "must be a list of {name: <secret>} mappings"),
    ],
)
def test_a_wrong_pull_secret_shape_is_refused_with_an_example(value, message):
    with pytest.raises(ValuesError) as err:
        merge_options({}, [("my-values.yaml", {"imagePullSecrets": value})])
    assert message in str(err.value)
    assert "my-values.yaml: 'imagePullSecrets'" in str(err.value)
    assert "imagePullSecrets: [{name: regcred}]" in str(err.value)


def test_pull_secrets_in_the_pod_spec_shape_become_names():
    value = [{"name": "ngc"}, {"name": "mirror"}]
    assert merge_options({}, [("values", {"imagePullSecrets": value})])[0]["image_pull_secrets"] == ["ngc", "mirror"]
    assert merge_options({}, [("values", {"imagePullSecrets": []})])[0]["image_pull_secrets"] == []


# -- arch: arm gets the chart's arm64 suffix, and the result says what that is ---------------------------------------


def test_arm_on_a_mirror_warns_naming_the_final_image():
    docs = [("a.yaml", {"arch": "arm", "image": {"registry": "registry.hub.docker.com/instill", "tag": 22.05}})]
    merged, origin, warnings = merged_with_warnings({}, docs)
    assert merged["image_tag"] == "22.05-py3-cpu-arm64" and (merged["arch"], origin["arch"]) == ("arm64", "a.yaml")
    (warning,) = warnings
    assert "a.yaml: 'image.tag' '22.05' becomes '22.05-py3-cpu-arm64' with arch arm64" in warning
    assert "registry.hub.docker.com/instill/tritonserver:22.05-py3-cpu-arm64" in warning
    assert "NVIDIA publishes no such tag" in warning
    assert "with arch: arm it rendered 22.05-py3" in warning


def test_arm_on_nvidias_image_leaves_the_refusal_to_validation():
    merged, origin, warnings = merged_with_warnings({}, [("a.yaml", {"arch": "arm", "image": {"tag": "24.05"}})])
    assert merged["image_tag"] == "24.05-py3-cpu-arm64" and origin["image_tag"] == "a.yaml"
    assert warnings == []  # validate() refuses it, naming image_tag


# -- docs/values.md: the worked conversion is what the code does -----------------------------------------------------


def _yaml_blocks(text: str) -> dict[str, str]:
    """The docs' ```yaml blocks, by their first line's comment (# base.yaml: ...)."""
    blocks = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# "):
            blocks[first[2:].split(":")[0]] = block
    return blocks


def test_the_worked_conversion_in_the_docs_is_what_the_code_gives():
    text = (REPO / "docs/values.md").read_text()
    blocks = _yaml_blocks(text)
    docs = [(name, yaml.safe_load(blocks[name])) for name in ("base.yaml", "prod.yaml")]
    merged, origin, warnings = merged_with_warnings({}, docs + [("values", {"replicaCount": 3})])
    result = blocks["result"]
    documented = yaml.safe_load(result)
    documented_origin = dict(re.findall(r"^(\w+):.*#\s*(\S.*?)\s*$", result, flags=re.M))
    assert {k: merged[k] for k in documented} == documented
    assert {k: origin[k] for k in documented} == documented_origin
    assert {k for k, v in origin.items() if v != "default"} == set(documented)
    assert (merged["node_selector"], merged["pdb_min_available"]) == ({}, None)
    (documented_warning,) = re.findall(r"```\n(prod\.yaml: .*?)```", text, flags=re.S)
    assert [" ".join(w.split()) for w in warnings] == [" ".join(documented_warning.split())]
