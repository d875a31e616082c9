"""_wait: crash-loop detection, the log lines and hints quoted in failure reasons, secrets kept out of them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ansible_collections.inference.triton.plugins.module_utils._wait import (
    LOG_LINE_WIDTH,
    RolloutWatcher,
    container_exits,
    crash_looping,
    last_termination,
    log_excerpt,
    log_hint,
    pod_problems,
    redact,
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


# -- how often a container exited, and whether that is a crash loop ------------------------------------------------


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


# -- what a failure reason quotes ------------------------------------------------------------------------------------


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


# -- pod_problems: the existing lines unchanged, the new ones added ------------------------------------------------


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


# -- RolloutWatcher.crash_loops: only the pods of the current revision count -----------------------------------


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
