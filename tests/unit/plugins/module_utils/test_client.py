"""Cluster.call: which answers are retried, how often, and what the final message says."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiException

from ansible_collections.inference.triton.plugins.module_utils import _client
from ansible_collections.inference.triton.plugins.module_utils._client import (
    RETRY_ATTEMPTS,
    Cluster,
    ClusterError,
    api_error_message,
)


def bare_cluster() -> Cluster:
    cluster = Cluster.__new__(Cluster)
    cluster.retries = 0
    cluster.config = type("Config", (), {"host": "https://api.example:6443"})()
    return cluster


def failing(status: int, calls: list[int]):
    def fn():
        calls.append(1)
        exc = ApiException(status=status, reason="x")
        exc.body = json.dumps({"kind": "Status", "message": f"server says {status}"})
        raise exc

    return fn


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(_client.time, "sleep", lambda seconds: None)


@pytest.mark.parametrize("status", [429, 500, 503, 409])
def test_retryable_answer_is_retried_up_to_the_budget_and_says_so(status):
    cluster, calls = bare_cluster(), []
    with pytest.raises(ApiException) as raised:
        cluster.call(failing(status, calls), "reading")
    assert len(calls) == RETRY_ATTEMPTS and cluster.retries == RETRY_ATTEMPTS - 1
    assert api_error_message(raised.value) == f"server says {status} (gave up after {RETRY_ATTEMPTS} attempts)"


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_final_answer_is_not_retried_and_not_decorated(status):
    cluster, calls = bare_cluster(), []
    with pytest.raises(ApiException) as raised:
        cluster.call(failing(status, calls), "reading")
    assert len(calls) == 1 and cluster.retries == 0
    assert api_error_message(raised.value) == f"server says {status}"


def test_apply_conflict_is_not_retried():
    cluster, calls = bare_cluster(), []
    with pytest.raises(ApiException):
        cluster.call(failing(409, calls), "applying", retry_conflicts=False)
    assert len(calls) == 1


def test_unreachable_server_names_it_and_the_attempts():
    cluster, calls = bare_cluster(), []

    def refused():
        calls.append(1)
        raise ConnectionRefusedError("Connection refused")

    with pytest.raises(
        ClusterError,
        match=r"reading: cannot reach the API server at https://api.example:6443: .*"
        r"\(gave up after 5 attempts\)",
    ):
        cluster.call(refused, "reading")
    assert len(calls) == RETRY_ATTEMPTS


def status_error(status: int, retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return exc


def test_watch_backoff_waits_more_after_each_transient_failure_and_resets(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    cluster = bare_cluster()
    backoff = _client.WatchBackoff(cluster)
    far = _client.time.monotonic() + 100
    for _attempt in range(6):
        backoff.failed(status_error(503), far)
    assert cluster.retries == 6
    assert all(b >= a / 2 for a, b in zip(slept, slept[1:]))  # growing, up to the jitter
    assert 0.2 <= slept[0] <= 0.4 and all(s <= 6.0 for s in slept)
    backoff.reset()
    backoff.failed(ConnectionResetError(), far)  # no status: a dropped connection, also transient
    assert slept[-1] <= 0.4


def test_watch_backoff_takes_retry_after_0_as_a_minimum_not_as_no_wait(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    _client.WatchBackoff(bare_cluster()).failed(status_error(429, "0"), _client.time.monotonic() + 100)
    assert slept[0] >= 0.2


def test_watch_backoff_never_sleeps_past_the_deadline(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    _client.WatchBackoff(bare_cluster()).failed(status_error(503, "30"), _client.time.monotonic() + 0.05)
    assert slept[0] <= 0.05


def test_watch_backoff_expired_version_is_no_failure_and_others_are_raised(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    cluster = bare_cluster()
    backoff = _client.WatchBackoff(cluster)
    backoff.failed(status_error(410), _client.time.monotonic() + 100)
    assert slept == [] and cluster.retries == 0
    with pytest.raises(ApiException):
        backoff.failed(status_error(403), _client.time.monotonic() + 100)


def test_unhandled_api_error_names_the_request_and_the_server_reason_without_a_dump():
    cluster = bare_cluster()
    with pytest.raises(ApiException) as raised:
        cluster.call(failing(503, []), "reading Node")
    message = _client.unexpected_failure_message(raised.value)
    assert message == "reading Node: the API server answered 503: server says 503 (gave up after 5 attempts)"
    assert _client.unexpected_failure_message(ValueError("boom")) == "unexpected error talking to the cluster: boom"
