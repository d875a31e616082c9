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


def run_verify(url: str, timeout: int = 2, refused_wait: int = 0) -> tuple[int, str, float]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    argv = [str(BIN / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,"]
    argv += ["-e", f"triton_verify_base_url={url}", "-e", f"triton_verify_timeout={timeout}"]
    argv += ["-e", f"triton_verify_refused_wait={refused_wait}"]
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
    assert "Connection refused" in out and "RETRYING" not in out, out[-3000:]


def test_a_refusal_is_tried_again_for_the_refused_wait_then_explained():
    # A nodePort that kube-proxy has not synced yet refuses: tried once a second, then explained like any refusal.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    rc, out, seconds = run_verify(url, refused_wait=3)
    assert rc != 0, out[-3000:]
    assert_explained(out, url)
    assert out.count("FAILED - RETRYING: [localhost]: http | Check that the server is live") == 3, out[-3000:]
    assert "refused for 3s of triton_verify_refused_wait" in out, out[-3000:]
    live_check = out.split("Fail explaining an endpoint", maxsplit=1)[0]
    assert "[ERROR]" not in live_check, live_check[-3000:]  # the retries end without an error of their own
    assert seconds >= 3, seconds


def test_a_server_that_starts_listening_during_the_refused_wait_is_verified_as_live():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    late = subprocess.Popen(  # a stand-in that starts answering 3 s late (its /v2/health/live says 200)
        [sys.executable, "-c", LATE_SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _rc, out, _seconds = run_verify(url, refused_wait=30)
    finally:
        late.kill()
        late.wait()
    assert "FAILED - RETRYING: [localhost]: http | Check that the server is live" in out, out[-3000:]
    assert "cannot reach" not in out, out[-3000:]
    assert "http | Read the server metadata" in out, out[-3000:]


LATE_SERVER = """
import http.server, sys, time
time.sleep(3)
class Live(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/v2/health/live" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Live).serve_forever()
"""


def test_a_server_that_never_answers_is_explained_after_the_timeout():
    # Listening but never accepting: the kernel completes the TCP handshake, and no HTTP answer ever comes.
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        rc, out, seconds = run_verify(url, timeout=2, refused_wait=30)
    assert rc != 0, out[-3000:]
    assert_explained(out, url)
    assert "timed out" in out and "(triton_verify_timeout 2s)" in out, out[-3000:]
    assert "RETRYING" not in out, out[-3000:]  # only a refusal is tried again
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
