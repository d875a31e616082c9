"""_preflight's decisions, on objects written out by hand: what Pod Security refuses (check_pod_security), which nodes
the scheduler would consider (node_eligible) and how many GPU pods fit on them (gpu_slots). The functions that read
the cluster (check_references, check_node_ports, check_gpu_capacity) are exercised on the local cluster by
tests/integration/test_triton_server.py and molecule's gpu_shortage scenario."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils._preflight import (
    PSA_ENFORCE,
    PreflightError,
    check_pod_security,
    gpu_slots,
    node_eligible,
)

GPU = "nvidia.com/gpu"


def options(**changes: Any) -> dict[str, Any]:
    """The options check_pod_security reads, at their defaults (a hostPath model repository)."""
    return {
        "model_repository_type": "host_path",
        "model_repository_path": "/model-repository",
        "conda_pack_source": "none",
        "conda_pack_path": "/conda-pack",
        "extra_volumes": [],
        "pod_security_context": {},
        **changes,
    }


def namespace(level: str | None) -> dict[str, Any]:
    labels = {PSA_ENFORCE: level} if level else {}
    return {"metadata": {"name": "serving", "labels": labels}}


# -- Pod Security ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [None, "privileged"])
def test_a_privileged_or_unlabelled_namespace_accepts_host_paths_and_root(level):
    check_pod_security(namespace(level), options(pod_security_context={"runAsUser": 0}))


def test_a_namespace_that_does_not_exist_yet_has_no_level():
    check_pod_security(None, options())


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_baseline_and_restricted_refuse_a_host_path_repository_naming_the_label_and_the_way_out(level):
    with pytest.raises(PreflightError) as failure:
        check_pod_security(namespace(level), options())
    assert failure.value.option == "model_repository_type"
    assert str(failure.value) == (
        f"model_repository_type: namespace 'serving' enforces Pod Security level '{level}' "
        f"({PSA_ENFORCE}={level}), which forbids hostPath volumes (/model-repository); use model_repository_type pvc "
        f"or object_storage, or deploy to a namespace labelled {PSA_ENFORCE}=privileged"
    )


@pytest.mark.parametrize(
    ("changes", "option", "named"),
    [
        (
            {"model_repository_type": "pvc", "conda_pack_source": "host_path", "conda_pack_path": "/srv/conda"},
            "conda_pack_source",
            "/srv/conda",
        ),
        (
            {"model_repository_type": "pvc", "extra_volumes": [{"name": "cache", "hostPath": {"path": "/var/cache"}}]},
            "extra_volumes",
            "cache",
        ),
        # The model repository is named first when there are several.
        ({"conda_pack_source": "host_path"}, "model_repository_type", "/model-repository"),
    ],
)
def test_any_host_path_volume_is_refused_and_named(changes, option, named):
    with pytest.raises(PreflightError, match=f"hostPath volumes \\({named}\\)") as failure:
        check_pod_security(namespace("baseline"), options(**changes))
    assert failure.value.option == option


def test_volumes_that_are_not_host_paths_pass_baseline():
    extra = [{"name": "scratch", "emptyDir": {}}]
    check_pod_security(namespace("baseline"), options(model_repository_type="pvc", extra_volumes=extra))


@pytest.mark.parametrize("context", [{"runAsNonRoot": False}, {"runAsUser": 0}])
def test_restricted_refuses_root_and_baseline_does_not(context):
    pvc = options(model_repository_type="pvc", pod_security_context=context)
    check_pod_security(namespace("baseline"), pvc)
    with pytest.raises(PreflightError) as failure:
        check_pod_security(namespace("restricted"), pvc)
    assert failure.value.option == "pod_security_context"
    assert (
        str(failure.value)
        == "pod_security_context: namespace 'serving' enforces 'restricted', which forbids running as root"
    )


def test_restricted_accepts_the_default_non_root_context():
    check_pod_security(
        namespace("restricted"), options(model_repository_type="pvc", pod_security_context={"runAsUser": 1000})
    )


# -- which nodes the scheduler would consider --------------------------------------------------------------------------


def node(
    name: str = "gpu-node-0", gpus: int = 8, labels=None, taints=None, ready="True", **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true", **(labels or {})}},
        "spec": {"taints": taints or [], **spec},
        "status": {"allocatable": {GPU: str(gpus)}, "conditions": [{"type": "Ready", "status": ready}]},
    }


def required(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    """A required node affinity: the node must match one of the terms, all of a term's expressions."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": term} for term in terms]
            }
        }
    }


def expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


GPU_TAINT = {"key": GPU, "value": "present", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("candidate", "selector", "affinity", "tolerations", "eligible", "why"),
    [
        (node(), {}, {}, [], True, "a ready node with no constraints"),
        (node(ready="False"), {}, {}, [], False, "not Ready"),
        ({**node(), "status": {"allocatable": {GPU: "8"}}}, {}, {}, [], False, "no Ready condition at all"),
        (node(unschedulable=True), {}, {}, [], False, "cordoned"),
        (node(labels={"zone": "a"}), {"zone": "a"}, {}, [], True, "nodeSelector matches"),
        (node(labels={"zone": "b"}), {"zone": "a"}, {}, [], False, "nodeSelector differs"),
        (node(), {"zone": "a"}, {}, [], False, "nodeSelector label missing"),
        (node(labels={"zone": "a"}), {}, required([expression("zone", "In", "a", "b")]), [], True, "In"),
        (node(labels={"zone": "c"}), {}, required([expression("zone", "In", "a", "b")]), [], False, "not In"),
        (node(labels={"zone": "c"}), {}, required([expression("zone", "NotIn", "a")]), [], True, "NotIn"),
        (node(), {}, required([expression("zone", "NotIn", "a")]), [], True, "NotIn holds for a missing label"),
        (node(), {}, required([expression("nvidia.com/gpu.present", "Exists")]), [], True, "Exists"),
        (node(), {}, required([expression("nvidia.com/gpu.present", "DoesNotExist")]), [], False, "DoesNotExist"),
        (node(labels={"gen": "9"}), {}, required([expression("gen", "Gt", "8")]), [], True, "Gt compares numbers"),
        (node(labels={"gen": "10"}), {}, required([expression("gen", "Lt", "9")]), [], False, "10 is not < 9"),
        (node(labels={"gen": "new"}), {}, required([expression("gen", "Gt", "8")]), [], False, "Gt needs a number"),
        (
            node(labels={"zone": "b"}),
            {},
            required([expression("zone", "In", "a")], [expression("zone", "In", "b")]),
            [],
            True,
            "terms are alternatives: one matching term is enough",
        ),
        (
            node(labels={"zone": "a"}),
            {},
            required([expression("zone", "In", "a"), expression("gen", "Exists")]),
            [],
            False,
            "a term's expressions must all hold",
        ),
        (node(taints=[GPU_TAINT]), {}, {}, [], False, "a NoSchedule taint without toleration"),
        (node(taints=[{**GPU_TAINT, "effect": "NoExecute"}]), {}, {}, [], False, "a NoExecute taint too"),
        (node(taints=[{**GPU_TAINT, "effect": "PreferNoSchedule"}]), {}, {}, [], True, "a preference is no refusal"),
        (node(taints=[GPU_TAINT]), {}, {}, [{"key": GPU, "operator": "Exists"}], True, "tolerated by key"),
        (
            node(taints=[GPU_TAINT]),
            {},
            {},
            [{"key": GPU, "operator": "Equal", "value": "present"}],
            True,
            "tolerated by key and value",
        ),
        (node(taints=[GPU_TAINT]), {}, {}, [{"key": GPU, "value": "other"}], False, "Equal needs the same value"),
        (
            node(taints=[GPU_TAINT]),
            {},
            {},
            [{"key": GPU, "operator": "Exists", "effect": "NoExecute"}],
            False,
            "a toleration of another effect",
        ),
        (node(taints=[GPU_TAINT]), {}, {}, [{"operator": "Exists"}], True, "an empty key with Exists tolerates all"),
    ],
)
def test_node_eligible(candidate, selector, affinity, tolerations, eligible, why):
    assert node_eligible(candidate, selector, affinity, tolerations) is eligible, why


# -- how many GPU pods fit ---------------------------------------------------------------------------------------------


def gpu_pod(node_name: str | None, gpus: int, phase: str = "Running", release: str = "other", containers: int = 1):
    return {
        "metadata": {"name": f"{release}-{node_name}", "labels": {"app.kubernetes.io/instance": release}},
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"limits": {GPU: str(gpus)}}} for _index in range(containers)],
        },
        "status": {"phase": phase},
    }


OURS = {"app.kubernetes.io/instance": "triton"}


def slots(nodes, pods, num_gpus=1, selector=None, own=None):
    return gpu_slots(nodes, pods, num_gpus, selector or {}, {}, [], own or {})


def test_free_gpus_per_node_divided_by_the_gpus_per_pod_and_summed():
    nodes = [node("gpu-node-0", 8), node("gpu-node-1", 8)]
    pods = [gpu_pod("gpu-node-0", 3), gpu_pod("gpu-node-1", 1, containers=2)]
    assert slots(nodes, pods, num_gpus=2) == (
        2 + 3,
        ["gpu-node-0: 8 allocatable, 5 free", "gpu-node-1: 8 allocatable, 6 free"],
    )


def test_a_pod_never_spans_nodes():
    # 3 + 3 free GPUs make no pod of 4.
    nodes = [node("gpu-node-0", 4), node("gpu-node-1", 4)]
    assert slots(nodes, [gpu_pod("gpu-node-0", 1), gpu_pod("gpu-node-1", 1)], num_gpus=4)[0] == 0


def test_the_releases_own_pods_give_their_gpus_back():
    nodes = [node("gpu-node-0", 8)]
    pods = [gpu_pod("gpu-node-0", 8, release="triton")]
    assert slots(nodes, pods, own=OURS) == (8, ["gpu-node-0: 8 allocatable, 8 free"])
    # gpu_headroom asks the same question without own pods: what fits beside everything that runs now.
    assert slots(nodes, pods) == (0, ["gpu-node-0: 8 allocatable, 0 free"])


@pytest.mark.parametrize(
    ("pod", "why"),
    [
        (gpu_pod("gpu-node-0", 8, phase="Succeeded"), "a finished pod holds nothing"),
        (gpu_pod("gpu-node-0", 8, phase="Failed"), "a failed pod holds nothing"),
        (gpu_pod(None, 8, phase="Pending"), "an unscheduled pod holds nothing yet"),
        (gpu_pod("cpu-node-0", 8), "a pod on another node"),
    ],
)
def test_pods_that_hold_no_gpu_here(pod, why):
    assert slots([node("gpu-node-0", 8)], [pod])[0] == 8, why


def test_more_gpus_in_use_than_allocatable_leave_none_free():
    assert slots([node("gpu-node-0", 2)], [gpu_pod("gpu-node-0", 3)]) == (0, ["gpu-node-0: 2 allocatable, 0 free"])


def test_nodes_without_gpus_or_out_of_reach_are_not_listed():
    nodes = [node("cpu-node-0", 0), node("gpu-node-0", 8, ready="False"), node("gpu-node-1", 8, labels={"zone": "b"})]
    assert slots(nodes, [], selector={"zone": "a"}) == (0, [])
    assert slots(nodes, [], selector={"zone": "b"}) == (8, ["gpu-node-1: 8 allocatable, 8 free"])
