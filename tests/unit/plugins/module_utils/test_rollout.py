"""The GPU-aware rollout's arithmetic: surge and unavailable pods as Kubernetes resolves them, the PDB's allowance,
when a rolling update of GPU pods stalls, and what gpu_rollout does then; and how the rollout wait tells a surge pod
stuck on GPUs (_wait.gpu_stall)."""

from __future__ import annotations

import pytest

from ansible_collections.inference.triton.plugins.module_utils._rollout import (
    MARKER,
    ONE_AT_A_TIME,
    decide,
    is_one_at_a_time,
    keeps_auto_choice,
    marker_value,
    pdb_allowed_unavailable,
    rolls_pods,
    scaled,
    stalls,
    surge_and_unavailable,
    with_one_at_a_time,
)
from ansible_collections.inference.triton.plugins.module_utils._wait import gpu_stall

ROLLING = {"type": "RollingUpdate"}


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [("25%", 2, True, 1), ("25%", 2, False, 0), ("25%", 4, False, 1), ("50%", 3, True, 2), (2, 10, False, 2)],
)
def test_scaled_rounds_as_kubernetes(value, total, up, expected):
    assert scaled(value, total, up) == expected


@pytest.mark.parametrize(
    ("strategy", "replicas", "expected"),
    [
        ({}, 1, (1, 0)),  # the default 25%: surge rounds up, unavailable down
        ({}, 2, (1, 0)),
        ({}, 3, (1, 0)),
        ({}, 4, (1, 1)),
        ({}, 8, (2, 2)),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}, 2, (0, 1)),  # fencepost
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}}, 3, (3, 0)),
        (ONE_AT_A_TIME, 5, (0, 1)),
        ({"type": "Recreate"}, 2, None),
    ],
)
def test_surge_and_unavailable(strategy, replicas, expected):
    assert surge_and_unavailable(strategy, replicas) == expected


@pytest.mark.parametrize(
    ("enabled", "min_available", "max_unavailable", "replicas", "expected"),
    [
        (False, 1, None, 2, None),
        (True, 1, None, 2, (1, "pdb_min_available=1")),
        (True, 2, None, 2, (0, "pdb_min_available=2")),
        (True, "50%", None, 3, (1, "pdb_min_available=50%")),  # 1.5 rounds up to 2 available: 1 may go
        (True, "100%", None, 3, (0, "pdb_min_available=100%")),
        (True, 3, None, 2, (0, "pdb_min_available=3")),
        (True, None, 0, 2, (0, "pdb_max_unavailable=0")),
        (True, None, "10%", 2, (1, "pdb_max_unavailable=10%")),  # rounds up
    ],
)
def test_pdb_allowed_unavailable(enabled, min_available, max_unavailable, replicas, expected):
    assert pdb_allowed_unavailable(enabled, min_available, max_unavailable, replicas) == expected


@pytest.mark.parametrize(
    ("surge", "unavailable", "spare", "expected"),
    [
        (1, 0, 0, True),  # the deadlock: a surge pod first, and none fits
        (1, 0, 1, False),  # one fits: it starts, an old pod goes, its GPUs go to the next
        (2, 0, 1, False),  # fewer than maxSurge fit: slower, not stuck
        (1, 1, 0, False),  # an old pod goes first
        (0, 1, 0, False),
    ],
)
def test_stalls(surge, unavailable, spare, expected):
    assert stalls(surge, unavailable, spare) is expected


def _decide(mode="auto", strategy=None, replicas=2, num_gpus=1, spare=0, in_place=2, pdb=None):
    strategy = ROLLING if strategy is None else strategy
    return decide(mode, strategy, replicas, num_gpus, spare, in_place, pdb, "gpu-x: 2 allocatable, 0 free")


def test_auto_replaces_one_at_a_time_when_no_surge_pod_fits():
    verdict, message, option = _decide()
    assert verdict == "one_at_a_time" and option is None
    assert "replicas=2 x num_gpus=1" in message and "maxSurge 25% (1 pod(s))" in message
    assert "maxUnavailable 25% (0)" in message and "gpu-x: 2 allocatable, 0 free" in message
    assert "1 of 2 serving meanwhile" in message and "only replica" not in message


def test_auto_with_one_replica_says_the_pod_stops_first():
    verdict, message, _strategy = _decide(replicas=1, in_place=1)
    assert verdict == "one_at_a_time" and "the only replica stops before its successor starts" in message


@pytest.mark.parametrize(
    "case",
    [
        {"spare": 1},  # a surge pod fits
        {"replicas": 4, "in_place": 4},  # 25% of 4 lets one old pod go first
        {"strategy": {"type": "Recreate"}},
        {"strategy": ONE_AT_A_TIME},
        {"in_place": 1},  # not even in place of the old pods: preflight's GPU check reports it, nothing is switched
        {"replicas": 0},
    ],
)
def test_auto_keeps_the_strategy_when_the_rollout_can_complete_or_a_switch_cannot_help(case):
    assert _decide(**case) == ("keep", "", None)


def test_surge_forced_fails_naming_numbers_and_options():
    verdict, message, option = _decide(mode="surge", num_gpus=2)
    assert verdict == "fail" and option == "gpu_rollout"
    assert "replicas=2 x num_gpus=2" in message and "needs 2 free GPU(s)" in message
    assert "gpu_rollout: auto" in message and "Recreate" in message


def test_surge_forced_is_fine_while_a_surge_pod_fits():
    assert _decide(mode="surge", spare=1)[0] == "keep"


@pytest.mark.parametrize(
    ("pdb", "option"),
    [((0, "pdb_min_available=2"), "pdb_min_available"), ((0, "pdb_max_unavailable=0"), "pdb_max_unavailable")],
)
def test_auto_fails_when_the_pdb_allows_no_unavailable_pod(pdb, option):
    verdict, message, failed_option = _decide(pdb=pdb)
    assert verdict == "fail" and failed_option == option
    assert f"({pdb[1]} with replicas=2) allows 0 unavailable pod(s)" in message


def test_auto_switches_when_the_pdb_allows_one():
    assert _decide(pdb=(1, "pdb_min_available=1"))[0] == "one_at_a_time"


def test_the_marker_keeps_auto_choice_only_for_the_same_requested_strategy():
    manifest = {"metadata": {"name": "d", "annotations": {"a": "b"}}, "spec": {"replicas": 2}}
    switched = with_one_at_a_time(manifest, None)
    assert switched["spec"]["strategy"] == ONE_AT_A_TIME and switched["metadata"]["annotations"]["a"] == "b"
    assert switched["metadata"]["annotations"][MARKER] == marker_value({}) == "{}"
    assert "strategy" not in manifest["spec"] and MARKER not in manifest["metadata"]["annotations"]  # a copy
    live = {
        **switched,
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}},
    }
    assert keeps_auto_choice(live, None) and keeps_auto_choice(live, {})
    assert not keeps_auto_choice(live, {"type": "Recreate"})  # update_strategy changed since: it applies
    edited = {
        **live,
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
    }
    assert not keeps_auto_choice(edited, None)  # someone changed the strategy: the options' one applies again
    assert not keeps_auto_choice(None, None)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (ONE_AT_A_TIME, True),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0", "maxUnavailable": "1"}}, True),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, False),
        ({"type": "Recreate"}, False),
        (None, False),
    ],
)
def test_is_one_at_a_time(strategy, expected):
    assert is_one_at_a_time(strategy) is expected


def test_rolls_pods_compares_the_pod_templates():
    live = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "a"}]}}}}
    scaled_only = {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "a"}]}}}}
    new_image = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "b"}]}}}}
    assert not rolls_pods(live, scaled_only)
    assert rolls_pods(live, new_image)
    assert not rolls_pods(None, new_image)


SHORT = "0/6 nodes are available: 1 Insufficient nvidia.com/gpu, 5 node(s) didn't match Pod's node affinity/selector."


def _pod(name: str, rs: str, node: str | None = None, ready: bool = False, scheduled: str | None = None, **meta):
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": scheduled})
    elif node:
        conditions.append({"type": "PodScheduled", "status": "True"})
    return {
        "metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": rs}], **meta},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Running" if node else "Pending", "conditions": conditions},
    }


def _deployment(strategy=None, replicas=2, available=2):
    return {"spec": {"replicas": replicas, "strategy": strategy or ROLLING}, "status": {"availableReplicas": available}}


OLD = [_pod("old-a", "rs-1", "n", True), _pod("old-b", "rs-1", "n", True)]


def test_gpu_stall_names_the_pending_surge_pod():
    pods = [*OLD, _pod("new-a", "rs-2", scheduled=SHORT)]
    assert gpu_stall(_deployment(), pods, "rs-2") == [f"pod new-a: {SHORT}"]


@pytest.mark.parametrize(
    ("deployment", "pods"),
    [
        (_deployment({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}), None),
        (_deployment(replicas=4, available=4), None),  # 25% of 4: an old pod may go first
        (_deployment({"type": "Recreate"}), None),
        (_deployment(available=3), None),  # one more available than wanted: an old pod is about to go
        (None, [_pod("new-a", "rs-2", scheduled=SHORT)]),  # no old pod: a shortage, not a surge deadlock
        (None, [*OLD, _pod("new-a", "rs-2", scheduled="0/6 nodes are available: 6 Insufficient cpu.")]),
        (None, [*OLD, _pod("new-a", "rs-2", scheduled=SHORT), _pod("new-b", "rs-2", "n")]),  # one is starting
        (None, [*OLD, _pod("new-a", "rs-2", scheduled=SHORT), _pod("old-c", "rs-1", "n", deletionTimestamp="t")]),
        (None, [*OLD, _pod("new-a", "rs-2", "n", True)]),
    ],
)
def test_gpu_stall_only_when_nothing_can_free_a_gpu(deployment, pods):
    pods = pods if pods is not None else [*OLD, _pod("new-a", "rs-2", scheduled=SHORT)]
    assert gpu_stall(deployment or _deployment(), pods, "rs-2") == []


def test_gpu_stall_needs_the_current_replicaset():
    assert gpu_stall(_deployment(), [*OLD, _pod("new-a", "rs-2", scheduled=SHORT)], None) == []
