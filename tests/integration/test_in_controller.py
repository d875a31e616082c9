"""The Kubernetes modules run in the controller's task process when the task runs on the controller, and as module
processes otherwise; the results are the same either way (plugins/plugin_utils/_in_controller.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from faultproxy import FaultProxy
from kubernetes import client

from ansible_collections.inference.triton.plugins.module_utils._discovery import BUILTIN_KINDS, group_version_path

# Server bookkeeping and allocations that differ between two releases made one after the other.
VOLATILE = {
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "clusterIP",
    "clusterIPs",
    "nodePort",
    "cluster_ip",
    "node_port",
    "rollout",
    "retries",
    "deployment.kubernetes.io/revision",
    "kubeconfig",
    "status",  # controllers fill it in at their own pace
}


def normalised(value: Any, namespace: str) -> Any:
    if isinstance(value, dict):
        kept = {k: normalised(v, namespace) for k, v in value.items() if k not in VOLATILE}
        if isinstance(kept.get("pods"), list):
            # Pods are listed by name; their random suffixes are normalised away, so order them by what is left.
            kept["pods"] = sorted(kept["pods"], key=lambda pod: json.dumps(pod, sort_keys=True))
        return kept
    if isinstance(value, list):
        return [normalised(v, namespace) for v in value]
    if isinstance(value, str):
        value = re.sub(r"\bit-[0-9a-f]{8}\b", "NS", value.replace(namespace, "NS"))
        return re.sub(r"-[0-9a-f]{8,10}-[a-z0-9]{5}$", "-POD", value)  # pod names
    return value


def release_args(namespace: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "ctl",
        "namespace": namespace,
        "replicas": 2,
        "pdb_enabled": True,
        "api_key": "not-a-real-token-0123456789",  # no_log: masked the same way wherever the module runs
        "service_node_port_http": 0,
        "service_node_port_grpc": 0,
        "service_node_port_metrics": 0,
        **extra,
    }


def scenario(runner, namespace: str, connection: str) -> dict[str, Any]:
    """Create, re-run, check-mode change with diff, refused input, absent in check mode: every result."""
    # api_key is given but a client certificate from the kubeconfig authenticates: the key only has to be masked.
    tasks = [
        {"name": "create", "inference.triton.triton_server": release_args(namespace)},
        {"name": "rerun", "inference.triton.triton_server": release_args(namespace)},
        {
            "name": "check",
            "inference.triton.triton_server": release_args(namespace, replicas=3),
            "check_mode": True,
            "diff": True,
        },
        {
            "name": "bad choice",
            "inference.triton.triton_server": release_args(namespace, image_pull_policy="Sometimes"),
        },
        {"name": "bad value", "inference.triton.triton_server": release_args(namespace, replicas=-1)},
        {"name": "unknown", "inference.triton.triton_server": {**release_args(namespace), "replica": 2}},
        {
            "name": "apply a ConfigMap",
            "inference.triton.k8s_apply": {
                "namespace": namespace,
                "definitions": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
                ],
            },
        },
        {
            "name": "status",
            "inference.triton.rollout_status": {"name": "ctl-triton", "namespace": namespace, "timeout": 30},
        },
        {
            "name": "absent",
            "inference.triton.triton_server": {"name": "ctl", "namespace": namespace, "state": "absent"},
        },
    ]
    tasks[-1]["check_mode"] = True
    report = runner.play(tasks, connection=connection, verbosity=3)
    return report


def test_same_results_in_the_controller_and_as_module_processes(runner, k8s, namespace):
    core = client.CoreV1Api(k8s)
    other = f"{namespace}-m"
    core.create_namespace({"metadata": {"name": other}})
    try:
        here = scenario(runner, namespace, "local")
        there = scenario(runner, other, "not_local")
    finally:
        core.delete_namespace(other)

    # Where the modules ran: Ansible packs and starts a module process only for the connection that is not local.
    for module in ("triton_server", "k8s_apply", "rollout_status"):
        assert f"AnsiballZ_{module}.py" not in here["_stdout"]
        assert f"AnsiballZ_{module}.py" in there["_stdout"]

    assert here["results"]["create"]["changed"] is True and not here["results"]["create"].get("failed")
    assert here["results"]["rerun"]["changed"] is False
    assert here["results"]["check"]["changed"] is True and here["results"]["check"]["diff"]
    assert "Sometimes" in here["results"]["bad choice"]["msg"]
    assert here["results"]["bad value"]["failed"] and here["results"]["bad value"]["option"] == "replicas"
    assert here["results"]["unknown"]["msg"] == "Invalid options for inference.triton.triton_server: replica"
    assert "not-a-real-token" not in here["_stdout"] + str(here["results"])
    assert "invocation" not in here["results"]["create"] and "invocation" not in there["results"]["create"]

    for task, result in here["results"].items():
        expected = normalised(there["results"][task], other)
        mine = normalised(result, namespace)
        if mine != expected:
            import difflib

            print(
                "\n".join(
                    difflib.unified_diff(
                        json.dumps(expected, indent=1, sort_keys=True).splitlines(),
                        json.dumps(mine, indent=1, sort_keys=True).splitlines(),
                        lineterm="",
                    )
                )
            )
        assert mine == expected, task


def test_kubernetes_client_imported_once_per_run(runner, namespace):
    """Three tasks, three modules: the client is imported once, by ansible-playbook, before the workers fork (an
    import in a worker would show in the output: Ansible reports what a worker writes to stderr)."""
    tasks = [
        {"name": "create", "inference.triton.triton_server": release_args(namespace, replicas=1, pdb_enabled=False)},
        {"name": "again", "inference.triton.triton_server": release_args(namespace, replicas=1, pdb_enabled=False)},
        {
            "name": "status",
            "inference.triton.rollout_status": {"name": "ctl-triton", "namespace": namespace, "timeout": 30},
        },
    ]
    report = runner.play(tasks, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert not any(r.get("failed") for r in report["results"].values()), report["results"]
    output = report["_stdout"] + report["_stderr"]
    imports = [line for line in output.splitlines() if re.search(r"\|\s+kubernetes\.client$", line)]
    assert len(imports) == 1, imports
    assert "errantly sent data directly to stderr" not in output


def test_no_change_run_reads_only_the_discovery_of_custom_kinds(runner, namespace, tmp_path, kube_cluster):
    """Built-in kinds need no discovery request; a kind of a CRD (ServiceMonitor, looked up to prune it) costs one
    request for its group version, and nothing reads the whole API (/api, /apis)."""
    args = release_args(namespace, replicas=1, pdb_enabled=True)
    assert not runner.triton(**args).get("failed")
    with FaultProxy(kube_cluster.kubeconfig, tmp_path) as proxy:
        report = runner.play(
            [{"name": "again", "inference.triton.triton_server": args}], env={"K8S_AUTH_KUBECONFIG": proxy.kubeconfig}
        )
    result = report["results"]["again"]
    assert result["changed"] is False, result
    requests = [r for r, _outcome in proxy.state.log]
    print(f"{len(requests)} requests:", *requests, sep="\n  ")
    discovery = [r for r in requests if re.fullmatch(r"GET /(api|apis)(/[^/?]+)?(/v[0-9][a-z0-9]*)?(\?.*)?", r)]
    builtin_paths = {f"GET {group_version_path(v)}" for v, _kind in BUILTIN_KINDS}
    assert not set(discovery) & (builtin_paths | {"GET /api", "GET /apis"}), discovery
    assert "GET /apis/monitoring.coreos.com/v1" in discovery
    assert len(discovery) == len(set(discovery)), discovery


@pytest.fixture(scope="module")
def served_kinds(k8s, tmp_path_factory) -> dict[tuple[str, str], tuple[str, bool]]:
    """What the library's full discovery says of the table's kinds (its cache file kept in a temporary folder)."""
    from kubernetes.dynamic import DynamicClient

    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    dynamic = DynamicClient(k8s, cache_file=str(cache))
    served = {}
    for api_version, kind in BUILTIN_KINDS:
        resource = dynamic.resources.get(api_version=api_version, kind=kind)
        served[(api_version, kind)] = (resource.name, resource.namespaced)
    return served


@pytest.mark.parametrize("api_version,kind", sorted(BUILTIN_KINDS))
def test_builtin_kinds_table_matches_the_server(served_kinds, api_version, kind):
    assert served_kinds[(api_version, kind)] == BUILTIN_KINDS[(api_version, kind)]
