"""triton_verify explains an endpoint it cannot reach: the address and port it tried, from where, and what to set.

Three ways of not answering, each with a short triton_verify_timeout: nothing listens (refused), a server that
accepts and never answers (timed out), and an address the machine has no route to (198.18.0.200, in the local
cluster's 198.18.0.0/15, which the cluster routes to `unreachable`: that one needs the cluster running, and is not
sent at all otherwise).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

BIN = Path(sys.executable).parent
PLAYBOOK = REPO / "tests" / "integration" / "roles" / "verify_standin.yml"


def run_verify(url: str, timeout: int = 2) -> tuple[int, str, float]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    argv = [str(BIN / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,"]
    argv += ["-e", f"triton_verify_base_url={url}", "-e", f"triton_verify_timeout={timeout}"]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=120)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split()), time.monotonic() - started


def assert_explained(out: str, url: str) -> None:
    assert f"triton_verify: cannot reach {url}/v2/health/live from localhost (the Ansible controller" in out, out[
        -3000:
    ]
    assert "The address is triton_verify_base_url." in out, out[-3000:]
    assert "set triton_verify_base_url and triton_verify_metrics_url to addresses it can reach" in out, out[-3000:]
    assert "--skip-tags triton_verify" in out, out[-3000:]
    assert "Status code was -1" not in out, out[-3000:]


def test_nothing_listening_is_explained():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    rc, out, _err = run_verify(url)
    assert rc != 0, out[-3000:]
    assert_explained(out, url)
    assert "Connection refused" in out, out[-3000:]


def test_a_server_that_never_answers_is_explained_after_the_timeout():
    # Listening but never accepting: the kernel completes the TCP handshake, and no HTTP answer ever comes.
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        rc, out, seconds = run_verify(url, timeout=2)
    assert rc != 0, out[-3000:]
    assert_explained(out, url)
    assert "timed out" in out and "(triton_verify_timeout 2s)" in out, out[-3000:]
    assert seconds < 60, seconds


def test_an_unroutable_node_address_is_explained(kube_cluster):
    address = "198.18.0.200"  # in the cluster's block, assigned to nothing
    route = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True, check=False)
    if route.returncode == 0 and "unreachable" not in route.stdout:
        pytest.skip(f"{address} is routed off this machine ({route.stdout.strip()}): the cluster's route is missing")
    url = f"http://{address}:31000"
    rc, out, _err = run_verify(url)
    assert rc != 0, out[-3000:]
    assert_explained(out, url)
    assert "No route to host" in out or "Network is unreachable" in out, out[-3000:]
