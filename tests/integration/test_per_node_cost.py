"""What a GPU node costs a deploy.yml run that has nothing to change, counted, not timed: the module processes it
starts (ansible-playbook -vvv names each one), with one GPU node and with two, with the example repository and with
a repository of many more files. And the node read that serves every GPU node of a cluster still fails each node on
its own name.

The model_repository role runs on the simulated GPU nodes of inventories/simulated (their folders in a temp dir).
"""

from __future__ import annotations

import collections
import re
import shutil
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from test_roles import REPO, Playbooks

# The role labels nodes: beside no other test that does.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]
EXAMPLES = REPO / "playbooks" / "files" / "example-models"
PREPARED = "inference.triton/model-repository"
# A module run in -vvv output: "<host> EXEC /bin/sh -c '<python> [<AnsiballZ file>] && sleep 0'" (piped or not).
MODULE_EXEC = re.compile(r"^<([^>]+)> EXEC /bin/sh -c '\S*python[0-9.]*(?: \S*AnsiballZ_(\S+)\.py)? && sleep 0'$", re.M)


def modules(out: str) -> collections.Counter:
    """(connection host, module) -> module processes started."""
    return collections.Counter(MODULE_EXEC.findall(out))


@pytest.fixture
def books(kube_cluster, tmp_path):
    return Playbooks(kube_cluster.kubeconfig, "it-cost-unused", tmp_path / "nodes")


def repository_run(books: Playbooks, source: Path, *limit: str):
    args = ("--tags", "model_repository", "-e", f"model_repository_source={source}", *limit)
    first = books.run("deploy.yml", *args)
    assert first.rc == 0, first
    again = books.run("deploy.yml", *args, "-vvv")
    assert again.rc == 0 and again.changed() == 0, again
    return again


def test_an_added_gpu_node_costs_two_module_processes_whatever_the_repository_size(books, tmp_path):
    one = repository_run(books, EXAMPLES, "--limit", "localcluster,gpu-node-0")
    two = repository_run(books, EXAMPLES)
    one_count, two_count = modules(one.out), modules(two.out)
    assert sum(one_count.values()) > 0, one  # the pattern sees module processes at all
    added = sum(two_count.values()) - sum(one_count.values())
    # model_repository_sync (which also creates the directory) and repository_permissions
    assert 0 < added <= 2, (one_count, two_count)
    # the cluster side runs once per cluster, not per node: the same module processes on the cluster host
    assert {k: v for k, v in two_count.items() if k[0] == "localcluster"} == {
        k: v for k, v in one_count.items() if k[0] == "localcluster"
    }
    assert "[gpu-node-0 -> localcluster]" in two.out and "[gpu-node-1 -> localcluster]" not in two.out
    # the content is one module process per node, whatever the number of files
    assert two_count[("gpu-node-1", "model_repository_sync")] == 1, two_count
    assert not {("gpu-node-1", name) for name in ("stat", "copy", "file")} & set(two_count), two_count

    bigger = tmp_path / "bigger"
    shutil.copytree(EXAMPLES, bigger)
    for index in range(40):
        (bigger / "add_sub" / "1" / f"data-{index}.bin").write_bytes(bytes(index) * 100)
    large = repository_run(books, bigger)
    assert sum(modules(large.out).values()) == sum(two_count.values()), (modules(large.out), two_count)
    assert (books.model_dir("gpu-node-1") / "add_sub" / "1" / "data-39.bin").stat().st_size == 3900


def test_the_one_node_read_fails_each_node_on_its_own_name(kube_cluster, k8s, tmp_path):
    """gpu-node-1 names a Node the cluster does not have: it fails, named, with nothing written for it; gpu-node-0,
    read in the same request, is prepared and labelled."""
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventories" / "simulated", inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["gpu_nodes"]["hosts"]["gpu-node-1"] = {"k8s_node_name": "no-such-gpu-node"}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    books = Playbooks(kube_cluster.kubeconfig, "it-cost-unused", tmp_path / "nodes")
    run = books.run(
        "deploy.yml",
        "--tags",
        "model_repository",
        "-e",
        f"localcluster_state_dir={REPO / '.localcluster'}",
        "-e",
        f"model_repository_source={EXAMPLES}",
        inventory=str(inventory / "hosts.yml"),
    )
    assert run.rc != 0, run
    assert run.recap["gpu-node-1"]["failed"] == 1 and run.recap["gpu-node-0"]["failed"] == 0, run
    assert "the cluster has no Node named no-such-gpu-node (host gpu-node-1)" in run.out
    assert not (tmp_path / "nodes" / "gpu-node-1").exists()
    assert (books.model_dir("gpu-node-0") / "add_sub" / "config.pbtxt").is_file()
    labels = client.CoreV1Api(k8s).read_node("gpu-node-0").metadata.labels
    assert labels[PREPARED] == "ready"
