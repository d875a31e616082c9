"""What the shipped inventories resolve to, templated by Ansible itself (no cluster needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def host_var(inventory: str, host: str, expression: str, env: dict[str, str] | None = None) -> object:
    """The value of a Jinja2 expression for one host of an inventory, as a play would see it."""
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    full_env.update(env or {})
    proc = subprocess.run(
        [
            str(BIN / "ansible"),
            host,
            "-i",
            inventory,
            "-m",
            "ansible.builtin.debug",
            "-a",
            f"msg={{{{ {expression} }}}}",
        ],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ad-hoc output: "<host> | SUCCESS => {json}"
    return json.loads(proc.stdout.split(" => ", 1)[1])["msg"]


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/simulated"])
def test_local_inventories_never_take_a_kubeconfig_from_the_environment(inventory, tmp_path):
    elsewhere = str(tmp_path / "real-cluster.kubeconfig")
    env = {"KUBECONFIG": elsewhere, "K8S_AUTH_KUBECONFIG": elsewhere}
    state = (REPO / ".localcluster").resolve()
    assert host_var(inventory, "localcluster", "k8s_auth", env) == {"kubeconfig": f"{state}/kubeconfig"}
    expect = host_var(inventory, "localcluster", "k8s_auth_expect", env)
    assert isinstance(expect, dict)
    assert expect["ca_file"] == f"{state}/pki/ca.crt" and expect["loopback_only"] is True


def test_the_gpu_inventory_ships_the_example_models_and_checks_them_with_an_inference():
    source = Path(str(host_var("inventories/gpu", "gpu-east", "model_repository_source")))
    models = sorted(p.parent.name for p in source.glob("*/config.pbtxt"))
    assert models == ["add_sub", "identity"]
    assert sorted(p.parent.parent.name for p in source.glob("*/1/model.py")) == models
    assert host_var("inventories/gpu", "gpu-east", "triton_verify_expected_models") == models
    inference = host_var("inventories/gpu", "gpu-east", "triton_verify_inference")
    assert isinstance(inference, dict) and inference["model"] in models and inference["expected_outputs"]


def test_the_gpu_inventory_names_every_cluster_hosts_api_access():
    for host in ("gpu-east", "gpu-west"):
        auth = host_var("inventories/gpu", host, "k8s_auth")
        assert isinstance(auth, dict) and auth["kubeconfig"] and auth["context"], (host, auth)
