"""API faults end in a bounded, clear failure: a hung API server, and one that is not there at all."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import yaml


def _kubeconfig_for(real: str, server: str, target: Path) -> str:
    """A copy of the real kubeconfig whose cluster server is ``server`` (same credentials)."""
    config = yaml.safe_load(Path(real).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = server
    target.write_text(yaml.safe_dump(config))
    return str(target)


def test_hung_api_server_fails_within_the_request_timeout(runner, kube_cluster, tmp_path):
    # Accepts connections and never answers: what a wedged API server or a black-holed proxy looks like.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        config = _kubeconfig_for(kube_cluster.kubeconfig, f"https://127.0.0.1:{port}", tmp_path / "hung")
        started = time.monotonic()
        result = runner.triton(name="hung", namespace="default", kubeconfig=config, request_timeout=1)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert result.get("failed")
    assert "cannot reach the API server" in result["msg"], result["msg"]
    # 5 attempts of 1 s plus bounded backoff, plus the playbook's own start: far from a hang.
    assert elapsed < 30, elapsed


def test_absent_api_server_fails_with_a_clear_message(runner, kube_cluster, tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    config = _kubeconfig_for(kube_cluster.kubeconfig, f"https://127.0.0.1:{port}", tmp_path / "absent")
    result = runner.triton(name="absent", namespace="default", kubeconfig=config)
    assert result.get("failed")
    assert f"cannot reach the API server at https://127.0.0.1:{port}" in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
