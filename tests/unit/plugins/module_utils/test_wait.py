"""_wait: crash-loop detection, the log lines and hints quoted in failure reasons, secrets kept out of them; when a
Deployment's or a DaemonSet's rollout is complete, when waiting longer cannot help, and what the failure says."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils._wait import (
    GPU_STALL_TEXT,
    LOG_LINE_WIDTH,
    RolloutWatcher,
    container_exits,
    crash_looping,
    daemonset_progress,
    deployment_progress,
    last_termination,
    log_excerpt,
    log_hint,
    pod_problems,
    progress_text,
    redact,
    rollout_failure,
    rollout_report,
    rollout_stopped,
    serving_failure,
    termination_text,
)

ERROR_1 = {"exitCode": 1, "reason": "Error", "containerID": "containerd://b"}
KILLED = {"exitCode": 137, "reason": "Error", "containerID": "containerd://a"}
DONE = {"exitCode": 0, "reason": "Completed", "containerID": "containerd://c"}

# What tritonserver 2.51 prints when its model repository cannot be opened (shortened), then exits 1.
UNREADABLE_LOG = """\
W1130 04:38:21.957479 1 pinned_memory_manager.cc:273] "Unable to allocate pinned system memory"
I1130 04:38:21.957788 1 cuda_memory_manager.cc:117] "CUDA memory pool disabled"
E1130 04:38:21.958238 1 model_repository_manager.cc:1303] "failed to poll model repository '/models': \
failed to open directory /models"
I1130 04:38:21.958338 1 server.cc:604]
+------------------+------+
| Repository Agent | Path |
+------------------+------+
+------------------+------+

W1130 04:38:21.959809 1 metrics.cc:798] "DCGM unable to start: DCGM initialization error"
I1130 04:38:21.960980 1 server.cc:345] "Timeout 30: Found 0 live models and 0 in-flight non-inference requests"
error: creating server: Internal - failed to load all models
"""
# An unknown flag: one line of error, then the whole usage text (about 400 lines).
UNKNOWN_FLAG_LOG = (
    "tritonserver: unrecognized option '--no-such-flag=1'\nUsage: tritonserver [options]\n  --help\n\tPrint usage\n"
    + "".join(
        f"  --option-{i} <boolean>\n\tExit the inference server if an error occurs during initialization.\n"
        for i in range(200)
    )
    + "\tDefault is 0.\n\n"
)


def container(name: str = "triton", ready: bool = False, restarts: int = 0, **fields: Any) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, **fields}


def pod(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None, **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"containerStatuses": containers}
    if init is not None:
        status["initContainerStatuses"] = init
    return {"metadata": {"name": "p-1", **meta}, "status": status}


# -- how often a container exited, and whether that is a crash loop ----------------------------------------------------


@pytest.mark.parametrize(
    "status, exits",
    [
        (container(state={"running": {}}), 0),
        (container(state={"terminated": ERROR_1}), 1),
        # The kubelet shows the exited container itself while it waits to restart it: restartCount + 1 exits.
        (container(restarts=1, state={"terminated": ERROR_1}, lastState={"terminated": ERROR_1}), 2),
        (
            container(restarts=2, state={"waiting": {"reason": "CrashLoopBackOff"}}, lastState={"terminated": ERROR_1}),
            3,
        ),
        (container(restarts=2, state={"running": {}}, lastState={"terminated": KILLED}), 2),
        (container(state={"waiting": {"reason": "ContainerCreating"}}), 0),
    ],
)
def test_container_exits(status, exits):
    assert container_exits(status) == exits


@pytest.mark.parametrize(
    "status, looping",
    [
        # Healthy, or starting for the first time.
        (pod([container(ready=True, state={"running": {}})]), []),
        (pod([container(state={"running": {}})]), []),
        (pod([container(state={"waiting": {"reason": "ContainerCreating"}})]), []),
        # One exit is not yet a loop.
        (pod([container(state={"terminated": ERROR_1})]), []),
        (pod([container(restarts=1, state={"running": {}}, lastState={"terminated": ERROR_1})]), []),
        # Two exits: between two runs, whichever way the kubelet shows it.
        (pod([container(restarts=1, state={"terminated": ERROR_1}, lastState={"terminated": ERROR_1})]), ["triton"]),
        (
            pod(
                [
                    container(
                        restarts=1, state={"waiting": {"reason": "CrashLoopBackOff"}}, lastState={"terminated": ERROR_1}
                    )
                ]
            ),
            ["triton"],
        ),
        # Killed twice by a probe, running a third time (a probe kill restarts at once).
        (pod([container(restarts=2, state={"running": {}}, lastState={"terminated": KILLED})]), ["triton"]),
        # Restarted twice long ago, ready now: fine.
        (pod([container(ready=True, restarts=2, state={"running": {}}, lastState={"terminated": KILLED})]), []),
        # An init container that completed is not a failure; one that keeps failing is.
        (pod([container()], init=[container("conda-pack", ready=True, state={"terminated": DONE})]), []),
        (
            pod(
                [container(state={"waiting": {"reason": "PodInitializing"}})],
                init=[
                    container(
                        "conda-pack", restarts=1, state={"terminated": ERROR_1}, lastState={"terminated": ERROR_1}
                    )
                ],
            ),
            ["conda-pack"],
        ),
        # A pod being deleted is no crash loop of the rollout.
        (
            pod(
                [container(restarts=1, state={"terminated": ERROR_1}, lastState={"terminated": ERROR_1})],
                deletionTimestamp="2026-01-01T00:00:00Z",
            ),
            [],
        ),
    ],
)
def test_crash_looping(status, looping):
    assert crash_looping(status) == looping


def test_last_termination_prefers_the_current_state():
    assert last_termination(container(state={"terminated": ERROR_1}, lastState={"terminated": KILLED})) == ERROR_1
    assert last_termination(container(state={"running": {}}, lastState={"terminated": KILLED})) == KILLED
    assert last_termination(container(state={"running": {}})) is None


# -- what a failure reason quotes --------------------------------------------------------------------------------------


def test_log_excerpt_quotes_the_error_lines_of_an_unreadable_repository():
    lines = log_excerpt(UNREADABLE_LOG)
    assert lines == [
        """E model_repository_manager.cc:1303] "failed to poll model repository '/models': failed to open """
        'directory /models"',
        "error: creating server: Internal - failed to load all models",
    ]


def test_log_excerpt_finds_an_unknown_flag_before_the_usage_text():
    assert log_excerpt(UNKNOWN_FLAG_LOG) == ["tritonserver: unrecognized option '--no-such-flag=1'"]


def test_log_excerpt_without_errors_is_the_tail_without_blank_lines_and_table_borders():
    text = "\n".join(f"I0101 00:00:00.000000 1 server.cc:1] line {i}" for i in range(30)) + "\n+----+\n\n"
    assert log_excerpt(text) == [f"I server.cc:1] line {i}" for i in range(20, 30)]
    assert log_excerpt(text, tail=3) == [f"I server.cc:1] line {i}" for i in range(27, 30)]
    assert log_excerpt("") == []


def test_a_long_log_line_keeps_its_end_where_triton_puts_the_cause():
    path = "/tmp/pytest-of-root/pytest-63/popen-gw0/test_unreadable_repository_fai0/models"
    line = f"E1130 04:33:21.157757 1 model_repository_manager.cc:1460] \"Poll failed for model directory '{path}'"
    (quoted,) = log_excerpt(f'{line}: failed to open directory {path}"')
    assert len(quoted) == LOG_LINE_WIDTH
    assert quoted.startswith('E model_repository_manager.cc:1460] "Poll failed')
    assert quoted.endswith(f'failed to open directory {path}"')


def test_log_excerpt_keeps_the_first_and_last_errors_and_bounds_every_line():
    text = "\n".join(f"error: number {i} " + "x" * 500 for i in range(10))
    lines = log_excerpt(text, errors=4)
    assert [line.split()[2] for line in lines] == ["0", "1", "8", "9"]
    assert all(len(line) == LOG_LINE_WIDTH and " ... " in line and line.endswith("x") for line in lines)
    assert log_excerpt("error: bell \x07 and \x1b[31mcolour") == ["error: bell   and  [31mcolour"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket.example/models", "s3://***@bucket.example/models"),
        ("Authorization: Bearer eyJhbGciOi.abc-def", "Authorization: ***"),
        ("sent Bearer eyJhbGciOi.abc-def to", "sent Bearer *** to"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI region=us", "AWS_SECRET_ACCESS_KEY=*** region=us"),
        ('{"password": "hunter 2", "user": "me"}', '{"password": "***", "user": "me"}'),
        ("api_key: abc123, token=xyz&next=1", "api_key: ***, token=***&next=1"),
        ("failed to open directory /models", "failed to open directory /models"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_log_lines_are_redacted():
    assert log_excerpt("error: cannot reach s3://id:key@host/b with token=abc") == [
        "error: cannot reach s3://***@host/b with token=***"
    ]


@pytest.mark.parametrize(
    "lines, words",
    [
        (["tritonserver: unrecognized option '--no-such-flag=1'"], "does not accept a flag"),
        (["E x.cc:1] \"failed to poll model repository '/m': failed to open directory /m\""], "cannot read the model"),
        (["error: creating server: Internal - failed to load all models"], "a model failed to load"),
        (["something else"], None),
    ],
)
def test_log_hint(lines, words):
    hint = log_hint(lines)
    assert (hint is None) if words is None else (words in hint)


def test_termination_text():
    assert termination_text(ERROR_1) == "code 1 (Error)"
    assert termination_text({"exitCode": 2, "message": "bad flag\n\nsecret=abc\n"}) == (
        "code 2 (no reason given): bad flag | secret=***"
    )


# -- pod_problems: the existing lines unchanged, the new ones added ----------------------------------------------------


def test_pod_problems_crash_loop_back_off_lines_are_unchanged():
    status = pod(
        [
            container(
                restarts=3,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                lastState={"terminated": ERROR_1},
            )
        ]
    )
    assert pod_problems(status) == [
        "pod p-1 container triton: CrashLoopBackOff: the container keeps exiting (see its logs) back-off 40s",
        "pod p-1 container triton last exited with code 1 (Error), restarts: 3",
    ]


def test_pod_problems_quote_a_termination_message():
    status = pod(
        [
            container(
                restarts=1,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={"terminated": {**ERROR_1, "message": "cannot open /models\n"}},
            )
        ]
    )
    assert pod_problems(status)[1] == (
        "pod p-1 container triton last exited with code 1 (Error), restarts: 1: cannot open /models"
    )


def test_pod_problems_name_an_exited_container_and_one_running_again():
    assert pod_problems(pod([container(restarts=1, state={"terminated": ERROR_1})])) == [
        "pod p-1 container triton exited with code 1 (Error), restarts: 1"
    ]
    assert pod_problems(pod([container(restarts=2, state={"running": {}}, lastState={"terminated": KILLED})])) == [
        "pod p-1 container triton runs again after exiting with code 137 (Error), restarts: 2"
    ]
    completed_init = pod([container(state={"running": {}})], init=[container("init", state={"terminated": DONE})])
    assert pod_problems(completed_init) == []


# -- RolloutWatcher.crash_loops: only the pods of the current revision count -------------------------------------------


class FakeResource:
    def __init__(self, items: list[dict[str, Any]]):
        self.items = items

    def get(self, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(items=self.items)


class FakeCluster:
    def __init__(self, pods: list[dict[str, Any]], replicasets: list[dict[str, Any]]):
        self.resources = {"Pod": FakeResource(pods), "ReplicaSet": FakeResource(replicasets)}

    def resource(self, api_version: str, kind: str) -> FakeResource:
        return self.resources[kind]

    def call(self, fn, what, retry_conflicts=True):
        return fn()

    def request_kwargs(self) -> dict[str, Any]:
        return {}


DEPLOYMENT = {
    "metadata": {"name": "d", "uid": "dep-uid", "annotations": {"deployment.kubernetes.io/revision": "2"}},
    "spec": {"selector": {"matchLabels": {"app": "x"}}},
}


def replicaset(name: str, revision: str, owner: str = "dep-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"uid": owner, "name": "d"}],
        }
    }


def crashing_pod(name: str, replicaset_name: str) -> dict[str, Any]:
    status = pod([container(restarts=1, state={"terminated": ERROR_1}, lastState={"terminated": ERROR_1})])
    status["metadata"] = {"name": name, "ownerReferences": [{"name": replicaset_name}]}
    return status


@pytest.mark.parametrize(
    "pods, replicasets, found",
    [
        # The new revision's pod crash-loops: give up.
        ([crashing_pod("new-1", "d-new")], [replicaset("d-old", "1"), replicaset("d-new", "2")], ["new-1/triton"]),
        # An old revision's pod crash-loops while the new one comes up: not this rollout's problem.
        ([crashing_pod("old-1", "d-old")], [replicaset("d-old", "1"), replicaset("d-new", "2")], []),
        # The controller has not made the new ReplicaSet yet (or another Deployment owns it): cannot tell, go on.
        ([crashing_pod("new-1", "d-new")], [replicaset("d-new", "2", owner="other")], []),
        ([], [replicaset("d-new", "2")], []),
    ],
)
def test_crash_loops_counts_only_the_current_revision(pods, replicasets, found):
    watcher = RolloutWatcher.__new__(RolloutWatcher)
    watcher.cluster = FakeCluster(pods, replicasets)  # type: ignore[assignment]
    watcher.namespace, watcher.name = "ns", "d"
    assert watcher.crash_loops(DEPLOYMENT) == found


# A pod still pulling its image -----------------------------------------------------------------------------------

NOW = "2026-12-04T12:10:00Z"
IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"


def now() -> Any:
    from datetime import datetime

    return datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def pulling_pod(reason: str = "ContainerCreating", init: bool = False) -> dict[str, Any]:
    status = {"state": {"waiting": {"reason": reason}}, "name": "triton-server", "ready": False, "restartCount": 0}
    return {
        "metadata": {"name": "triton-abc"},
        "spec": {"nodeName": "dgx-e01", "containers": [{"name": "triton-server", "image": IMAGE}]},
        "status": {"phase": "Pending", ("initContainerStatuses" if init else "containerStatuses"): [status]},
    }


def kubelet_event(reason: str, at: str, message: str = "", field: str = "spec.containers{triton-server}") -> dict:
    return {
        "reason": reason,
        "type": "Normal",
        "message": message or f'{reason} image "{IMAGE}"',
        "involvedObject": {"kind": "Pod", "name": "triton-abc", "fieldPath": field},
        "lastTimestamp": at,
        "metadata": {"creationTimestamp": at},
    }


PULLING = kubelet_event("Pulling", "2026-12-04T12:05:48Z", f'Pulling image "{IMAGE}"')


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45.9, "45s"), (60, "1m00s"), (252, "4m12s"), (3720, "1h02m"), (-3, "0s")]
)
def test_duration_text(seconds, text):
    from ansible_collections.inference.triton.plugins.module_utils._wait import duration_text

    assert duration_text(seconds) == text


def test_a_container_waiting_after_a_pulling_event_is_pulling_since_that_event():
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls, pull_reason, pulls_text

    pulls = image_pulls(pulling_pod(), [PULLING], now())
    assert pulls == [
        {"pod": "triton-abc", "container": "triton-server", "image": IMAGE, "node": "dgx-e01", "seconds": 252.0}
    ]
    assert pulls_text(pulls) == f"pod triton-abc still pulling {IMAGE} (4m12s on node dgx-e01)"
    reason = pull_reason(pulls[0])
    assert reason.startswith(f"pod triton-abc container triton-server is still pulling its image {IMAGE} on node ")
    assert "for 4m12s" in reason and "raise wait_timeout (triton_server_wait_timeout in the role)" in reason


@pytest.mark.parametrize(
    "later",
    [
        kubelet_event("Pulled", "2026-12-04T12:09:00Z", f'Successfully pulled image "{IMAGE}" in 3m12s'),
        kubelet_event("Failed", "2026-12-04T12:09:00Z", f'Failed to pull image "{IMAGE}": not found'),
        kubelet_event("BackOff", "2026-12-04T12:09:30Z", f'Back-off pulling image "{IMAGE}"'),
    ],
    ids=["pulled", "failed", "backoff"],
)
def test_a_later_pulled_or_failed_event_ends_the_pull(later):
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls

    assert image_pulls(pulling_pod(), [later, PULLING], now()) == []


def test_a_new_pull_after_an_earlier_one_counts_from_the_new_one():
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls

    earlier = kubelet_event("Failed", "2026-12-04T12:01:00Z")
    again = kubelet_event("Pulling", "2026-12-04T12:09:15Z")
    assert [p["seconds"] for p in image_pulls(pulling_pod(), [earlier, again], now())] == [45.0]


@pytest.mark.parametrize(
    ("pod", "events"),
    [
        (pulling_pod("CrashLoopBackOff"), [PULLING]),  # not waiting to be created: something else holds it
        (pulling_pod(), []),  # no event: the kubelet has not started a pull (or pulls nothing)
        (pulling_pod(), [kubelet_event("Pulling", "2026-12-04T12:05:48Z", field="spec.containers{sidecar}")]),
        (
            pulling_pod(),
            [{**PULLING, "involvedObject": {"kind": "Pod", "name": "triton-other", "fieldPath": "spec.containers{x}"}}],
        ),
        ({**pulling_pod(), "metadata": {"name": "triton-abc", "deletionTimestamp": NOW}}, [PULLING]),
    ],
    ids=["other-reason", "no-event", "other-container", "other-pod", "deleted"],
)
def test_no_pull_is_reported_without_a_matching_pulling_event(pod, events):
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls

    assert image_pulls(pod, events, now()) == []


def test_an_init_container_pulling_is_matched_by_its_field_path():
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls

    pod = pulling_pod("PodInitializing", init=True)
    event = kubelet_event("Pulling", "2026-12-04T12:09:00Z", field="spec.initContainers{triton-server}")
    assert [p["seconds"] for p in image_pulls(pod, [event], now())] == [60.0]


def test_the_event_time_falls_back_to_event_time_and_creation():
    from ansible_collections.inference.triton.plugins.module_utils._wait import image_pulls

    event = {**PULLING, "lastTimestamp": None, "eventTime": "2026-12-04T12:09:50.123456Z"}
    assert [round(p["seconds"]) for p in image_pulls(pulling_pod(), [event], now())] == [10]
    event = {**PULLING, "lastTimestamp": None, "metadata": {"creationTimestamp": "2026-12-04T12:09:40Z"}}
    assert [p["seconds"] for p in image_pulls(pulling_pod(), [event], now())] == [20.0]


def test_many_pulls_name_the_longest_two():
    from ansible_collections.inference.triton.plugins.module_utils._wait import pulls_text

    pulls = [{"pod": f"p{i}", "container": "c", "image": "i", "node": None, "seconds": 10.0 * i} for i in range(4)]
    assert pulls_text(pulls) == "pod p3 still pulling i (30s), pod p2 still pulling i (20s), 2 more pulling"


def test_explain_says_which_pod_is_still_pulling_and_for_how_long():
    """explain() lists every event of a pod that has no other problem, and turns a pull under way into a reason."""
    from ansible_collections.inference.triton.plugins.module_utils import _wait

    pod = pulling_pod()
    fresh = kubelet_event("Pulling", "2026-12-04T12:09:00Z")
    fresh["lastTimestamp"] = None
    fresh["metadata"] = {"creationTimestamp": _wait.datetime.now(_wait.timezone.utc).isoformat()}
    watcher = RolloutWatcher.__new__(RolloutWatcher)
    watcher.namespace, watcher.name = "triton", "triton"
    listing = {"Pod": [pod], "Event": [fresh]}
    resources = {
        kind: SimpleNamespace(get=lambda kind=kind, **kw: SimpleNamespace(items=listing[kind]))
        for kind in ("Pod", "Event")
    }
    watcher.cluster = SimpleNamespace(
        resource=lambda api_version, kind: resources[kind],
        call=lambda fn, what, **kw: fn(),
        request_kwargs=lambda: {},
    )
    deployment = {
        "metadata": {"name": "triton", "generation": 1, "annotations": {}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "triton"}}},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1},
    }
    reasons = watcher.explain(deployment)
    assert len(reasons) == 1 and reasons[0].startswith(
        f"pod triton-abc container triton-server is still pulling its image {IMAGE} on node dgx-e01, for 0s"
    ), reasons
    assert [p["pod"] for p in watcher.image_pulls(deployment)] == ["triton-abc"]


# -- deployment_progress: is the rollout complete? (kubectl rollout status's rules) ------------------------------------


def live_deployment(desired: Any = 2, generation: int = 3, observed: int = 3, **status: Any) -> dict[str, Any]:
    """A Deployment whose status is made of ``status`` (counts and conditions), every count at 0 unless given."""
    spec = {} if desired is None else {"replicas": desired}
    available = "True" if status.pop("available_condition", True) else "False"
    return {
        "metadata": {
            "name": "triton",
            "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": "4"},
        },
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "conditions": [{"type": "Available", "status": available}, *status.pop("conditions", [])],
            **status,
        },
    }


DONE_2 = {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}


def test_deployment_progress_of_a_complete_rollout():
    assert deployment_progress(live_deployment(**DONE_2)) == {
        "complete": True,
        "desired": 2,
        "updated": 2,
        "ready": 2,
        "available": 2,
        "total": 2,
        "observed_generation": True,
        "revision": "4",
        "deadline_exceeded": False,
        "replica_failure": None,
    }
    assert progress_text(deployment_progress(live_deployment(**DONE_2))) == "2/2 updated, 2 ready, 2 available, 2 total"


@pytest.mark.parametrize(
    ("deployment", "why"),
    [
        (live_deployment(observed=2, **DONE_2), "the controller has not seen the latest spec: the counts are old"),
        (live_deployment(**{**DONE_2, "updatedReplicas": 1}), "a pod of the old template is left"),
        (live_deployment(**{**DONE_2, "replicas": 3}), "an old pod is still there beside the new ones (surge)"),
        (live_deployment(**{**DONE_2, "availableReplicas": 1}), "a new pod is ready but not yet available"),
        (live_deployment(available_condition=False, **DONE_2), "the counts agree but Available is False"),
        (live_deployment(desired=None), "spec.replicas left out means 1, and nothing runs yet"),
        ({}, "a Deployment with no status at all"),
    ],
)
def test_deployment_progress_is_not_complete(deployment, why):
    assert deployment_progress(deployment)["complete"] is False, why


def test_a_deployment_scaled_to_zero_is_complete_once_observed_without_an_available_condition():
    zero = live_deployment(desired=0, available_condition=False)
    assert deployment_progress(zero)["complete"] is True
    assert deployment_progress(live_deployment(desired=0, observed=2))["complete"] is False


def test_deployment_progress_reports_a_passed_deadline_and_a_replicaset_that_cannot_create_pods():
    stuck = live_deployment(
        desired=1,
        conditions=[
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
            {"type": "ReplicaFailure", "status": "True", "message": 'pods "triton-1" is forbidden: exceeded quota'},
        ],
    )
    progress = deployment_progress(stuck)
    assert progress["deadline_exceeded"] is True
    assert progress["replica_failure"] == 'pods "triton-1" is forbidden: exceeded quota'
    assert progress["complete"] is False


# -- daemonset_progress: every targeted node runs an updated, ready pod ------------------------------------------------


def daemonset(generation: int = 1, observed: int = 1, **counts: int) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "status": {"observedGeneration": observed, **counts}}


READY_3 = {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3}


@pytest.mark.parametrize(
    ("status", "complete", "why"),
    [
        (daemonset(**READY_3), True, "every node runs an updated, ready, available pod"),
        (daemonset(), True, "no node is targeted (no GPU node yet): nothing to wait for"),
        (daemonset(generation=2, **READY_3), False, "the controller has not seen the latest spec"),
        (daemonset(**{**READY_3, "updatedNumberScheduled": 2}), False, "one node still runs the old template"),
        (daemonset(**{**READY_3, "numberReady": 2}), False, "one pod is not ready"),
        (daemonset(**{**READY_3, "numberAvailable": 2}), False, "one pod is ready but not yet available"),
    ],
)
def test_daemonset_progress(status, complete, why):
    assert daemonset_progress(status)["complete"] is complete, why


def test_daemonset_progress_counts():
    assert daemonset_progress(daemonset(**{**READY_3, "numberReady": 2})) == {
        "complete": False,
        "desired": 3,
        "updated": 3,
        "ready": 2,
        "available": 3,
    }


# -- when to stop waiting, and what the failure says -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "stopped"),
    [
        ({"complete": False}, False),
        ({"deadline_exceeded": True}, True),
        ({"crash_loop": ["triton-1/triton"]}, True),
        ({"gpu_stall": ["pod triton-2: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."]}, True),
        ({"models_unavailable": ["model broken is UNAVAILABLE"]}, True),
        ({"crash_loop": [], "gpu_stall": []}, False),
    ],
)
def test_rollout_stopped_when_waiting_longer_cannot_help(progress, stopped):
    assert rollout_stopped({"progress": progress}) is stopped


def failed_report(**progress: Any) -> dict[str, Any]:
    return {
        "progress": {"complete": False, **progress},
        "summary": "1/2 updated, 0 ready, 1 available, 2 total",
        "reasons": ["pod triton-1 container triton: first reason", "second reason"],
    }


def test_a_rollout_out_of_time_says_so_with_the_summary_and_every_reason():
    assert rollout_failure("serving", "triton", failed_report(), 600) == (
        "rollout of Deployment serving/triton did not complete within 600s (1/2 updated, 0 ready, 1 available, "
        "2 total): pod triton-1 container triton: first reason; second reason"
    )


def test_a_passed_progress_deadline_is_worded_as_a_timeout_its_reason_says_which():
    message = rollout_failure("serving", "triton", failed_report(deadline_exceeded=True), 600, elapsed=42.7)
    assert message.startswith("rollout of Deployment serving/triton did not complete within 600s (")


@pytest.mark.parametrize(
    ("progress", "ended"),
    [
        (
            {"crash_loop": ["triton-1/triton", "triton-2/triton"]},
            "new pods keep crashing (triton-1/triton, triton-2/triton), which does not recover without a change",
        ),
        (
            {"models_unavailable": ["model broken is UNAVAILABLE"]},
            "declared models cannot load, which Triton does not retry in explicit mode",
        ),
        ({"gpu_stall": ["pod triton-2: Insufficient nvidia.com/gpu"]}, GPU_STALL_TEXT),
        # One cause is named: a crash loop before models that cannot load, before a GPU stall.
        (
            {"crash_loop": ["triton-1/triton"], "models_unavailable": ["m"], "gpu_stall": ["s"]},
            "new pods keep crashing (triton-1/triton)",
        ),
        ({"models_unavailable": ["m"], "gpu_stall": ["s"]}, "declared models cannot load"),
    ],
)
def test_a_rollout_that_stopped_early_names_its_cause_and_when(progress, ended):
    report = failed_report(**progress)
    assert rollout_failure("serving", "triton", report, 600, elapsed=42.7).startswith(
        f"rollout of Deployment serving/triton stopped after 42s of 600s: {ended}"
    )
    # Without the elapsed time (rollout_status, which does not time its caller's wait), just "stopped".
    assert rollout_failure("serving", "triton", report, 600).startswith(
        f"rollout of Deployment serving/triton stopped: {ended}"
    )
    assert rollout_failure("serving", "triton", report, 600).endswith(
        "(1/2 updated, 0 ready, 1 available, 2 total): pod triton-1 container triton: first reason; second reason"
    )


def test_gpu_stall_text_says_why_it_does_not_resolve_and_what_to_do():
    assert "maxUnavailable 0" in GPU_STALL_TEXT and "gpu_rollout: auto" in GPU_STALL_TEXT


def test_serving_failure_lists_what_the_new_pods_do_not_serve():
    report = {"serving_problems": ["pod triton-1: model add_sub is not READY", "pod triton-2: /v2/health/ready 503"]}
    assert serving_failure("serving", "triton", report) == (
        "rollout of Deployment serving/triton completed, but its new pods do not serve as declared: "
        "pod triton-1: model add_sub is not READY; pod triton-2: /v2/health/ready 503"
    )


# -- rollout_report: what a wait saw, for the task's result ------------------------------------------------------------


class SeenWatcher:
    """A watcher whose findings are given: rollout_report's assembly is what is tested, not how they are found."""

    cluster = None

    def __init__(self, pulls: list[dict[str, Any]], reasons: list[str]):
        self.pulls, self.reasons = pulls, reasons

    def pods(self, deployment):
        return [{"name": "triton-1", "node": "real-node-0", "host_ip": "198.18.0.2", "phase": "Running", "ready": True}]

    def image_pulls(self, deployment):
        return self.pulls

    def explain(self, deployment):
        return self.reasons


def test_a_complete_rollout_reports_progress_and_pods_and_no_reasons():
    deployment = live_deployment(**DONE_2)
    progress = deployment_progress(deployment)
    report = rollout_report(SeenWatcher([], ["never asked"]), deployment, progress, False, [])  # type: ignore[arg-type]
    assert report == {
        "complete": True,
        "progress": progress,
        "summary": "2/2 updated, 2 ready, 2 available, 2 total",
        "pods": SeenWatcher([], []).pods(deployment),
    }


def test_an_incomplete_rollout_reports_the_pulls_in_its_summary_and_the_reasons():
    deployment = live_deployment(**{**DONE_2, "updatedReplicas": 1})
    pull = {"pod": "triton-2", "container": "triton", "image": IMAGE, "node": "dgx-e01", "seconds": 75.0}
    report = rollout_report(SeenWatcher([pull], ["r1"]), deployment, deployment_progress(deployment), False, [])  # type: ignore[arg-type]
    assert report["complete"] is False
    assert (
        report["summary"]
        == f"1/2 updated, 2 ready, 2 available, 2 total; pod triton-2 still pulling {IMAGE} (1m15s on node dgx-e01)"
    )
    assert report["image_pulls"] == [pull]
    assert report["reasons"] == ["r1"]
