"""The triton_server role hands the module its Triton options as one dict: the variables that are not null.

Templated by Ansible itself, no cluster needed: the options the role builds (vars/main.yml), and one run of its
release task whose options reach the action plugin's validation through module_defaults, which fails before the
module or the API server is reached.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ROLE = REPO / "roles" / "triton_server"
INVENTORY = {
    "all": {
        "children": {
            "k8s_clusters": {"hosts": {"cluster-a": {"ansible_connection": "local"}}},
            "gpu_nodes": {
                "hosts": {
                    "gpu-0": {"k8s_cluster": "cluster-a", "model_repository_revision": "fingerprint-0"},
                    "gpu-9": {"k8s_cluster": "cluster-b", "model_repository_revision": "other-cluster"},
                }
            },
        }
    }
}


def play(tmp_path: Path, tasks: list[dict[str, Any]], extra_vars: dict[str, Any], result: str) -> Any:
    """Run tasks on cluster-a with the role's defaults and vars loaded and the extra vars over them; return the
    value of the variable ``result`` afterwards."""
    out = tmp_path / "result.json"
    save = {
        "name": "Save the result",
        "ansible.builtin.copy": {"content": "{{ " + result + " | to_json }}", "dest": str(out), "mode": "0600"},
    }
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "cluster-a",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": sys.executable},
                    "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
                    "tasks": [*tasks, save],
                }
            ]
        )
    )
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("KUBECONFIG", None)
    env.pop("K8S_AUTH_KUBECONFIG", None)
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(extra_vars)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, check=False, timeout=120)
    assert out.exists(), proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(out.read_text())


def module_options(tmp_path: Path, **variables: Any) -> dict[str, Any]:
    return play(tmp_path, [], variables, "__triton_server_module_options")


def test_only_the_options_that_are_set_are_passed_with_their_types(tmp_path):
    options = module_options(
        tmp_path,
        triton_server_replicas=2,
        triton_server_use_cpu=True,
        triton_server_node_selector={"pool": "gpu"},
        triton_server_pdb_min_available="50%",
        triton_server_server_args=["--log-verbose=1"],
        triton_server_image_tag=None,
        triton_server_model_repository_revision="v7",
    )
    assert options == {
        "replicas": 2,
        "use_cpu": True,
        "node_selector": {"pool": "gpu"},
        "pdb_min_available": "50%",
        "server_args": ["--log-verbose=1"],
        "model_repository_revision": "v7",
    }


def test_an_unset_revision_is_the_fingerprint_of_this_cluster_s_gpu_nodes(tmp_path):
    options = module_options(tmp_path)
    assert options == {"model_repository_revision": hashlib.sha256(b"fingerprint-0").hexdigest()[:16]}
    assert module_options(tmp_path, triton_server_model_repository_type="pvc") == {"model_repository_type": "pvc"}


def test_the_release_task_hands_the_options_to_the_module(tmp_path):
    """A bad option set as a role variable fails in the action plugin's validation, naming it: the dict arrived
    (without it, the module's default of 1 replica would pass, and the task fail on the missing cluster instead)."""
    release = {
        "name": "Run the release task",
        "ansible.builtin.import_role": {"name": "inference.triton.triton_server", "tasks_from": "release"},
        "ignore_errors": True,
    }
    variables = {"triton_server_replicas": -1, "triton_server_image_tag": None}
    result = play(tmp_path, [release], variables, "triton_server_result")
    assert result["failed"] is True
    assert result["msg"] == "replicas: must be a non-negative integer, got -1", result
    assert result["option"] == "replicas" and result["changed"] is False
