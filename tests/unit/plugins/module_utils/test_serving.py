"""After a rollout: the decisions about the new pods (restarts, declared models), from status and Triton's answers."""

from __future__ import annotations

import json

import pytest

from ansible_collections.inference.triton.plugins.module_utils._serving import (
    check_pods,
    model_problem,
    new_revision_pods,
    restart_problem,
)


def pod(name, restarts=0, last=None, owner="demo-triton-abc", deleting=False):
    container = {"name": "triton", "restartCount": restarts}
    if last:
        container["lastState"] = {"terminated": last}
    meta = {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": owner}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"metadata": meta, "status": {"containerStatuses": [container]}}


def test_a_restart_during_the_rollout_is_a_problem_with_its_last_exit():
    assert restart_problem(pod("p1")) is None
    text = restart_problem(pod("p1", 1, {"exitCode": 137, "reason": "OOMKilled"}))
    assert text == "pod p1: Triton restarted 1 time(s): last exit code 137 (OOMKilled)"


def test_only_the_new_revision_pods_that_stay_are_checked():
    pods = [pod("new"), pod("old", owner="demo-triton-old"), pod("going", deleting=True)]
    assert [p["metadata"]["name"] for p in new_revision_pods(pods, "demo-triton-abc")] == ["new"]


def test_model_problem_quotes_the_repository_index():
    index = [{"name": "add_sub", "version": "1", "state": "UNAVAILABLE", "reason": "failed to load 'add_sub'"}]
    assert model_problem("p1", "add_sub", index) == "pod p1: model add_sub is UNAVAILABLE: failed to load 'add_sub'"
    assert model_problem("p1", "nope", index) == "pod p1: model nope is not in the model repository"


class Triton:
    """Answers of one Triton per pod: the models it has READY, and its repository index."""

    def __init__(self, ready, index, answers=True):
        self.ready, self.index, self.answers, self.calls = ready, index, answers, []

    def __call__(self, method, pod_name, path):
        self.calls.append((method, pod_name, path))
        if not self.answers:
            raise OSError("connection refused")
        if path == "v2/repository/index":
            return json.dumps(self.index)
        model = path.split("/")[2]
        if model not in self.ready.get(pod_name, ()):
            raise RuntimeError("400")
        return ""


def test_every_pod_is_asked_for_every_model():
    triton = Triton({"a": {"m1", "m2"}, "b": {"m1", "m2"}}, [])
    assert check_pods([pod("a"), pod("b")], ["m1", "m2"], triton) == []
    assert [c[1:] for c in triton.calls] == [
        ("a", "v2/models/m1/ready"),
        ("a", "v2/models/m2/ready"),
        ("b", "v2/models/m1/ready"),
        ("b", "v2/models/m2/ready"),
    ]


def test_a_pod_missing_a_model_is_named_with_the_reason():
    index = [{"name": "m2", "state": "UNAVAILABLE", "reason": "unexpected shape"}]
    triton = Triton({"a": {"m1", "m2"}, "b": {"m1"}}, index)
    assert check_pods([pod("a"), pod("b")], ["m1", "m2"], triton) == [
        "pod b: model m2 is UNAVAILABLE: unexpected shape"
    ]


@pytest.mark.parametrize("models", [[], ["m1"]])
def test_a_silent_triton_and_restarts_are_problems(models):
    problems = check_pods([pod("a", 2, {"exitCode": 1, "reason": "Error"})], models, Triton({}, [], answers=False))
    assert problems[0] == "pod a: Triton restarted 2 time(s): last exit code 1 (Error)"
    assert len(problems) == (2 if models else 1)
