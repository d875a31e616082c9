"""docs/rbac-device-plugin.yml is enough, and every rule of it is needed: the nvidia_device_plugin role and the node
label of model_repository run with a ServiceAccount token bound to exactly that file's objects.

The roles run from deploy.yml on inventories/simulated (`--tags nvidia_device_plugin,model_repository_label`),
with the device plugin in the test's namespace (the file's kube-system Role is bound there instead), with a
time-slicing ConfigMap and a RuntimeClass, and under node labels of the test's own, so that nothing the shared
cluster's other releases rely on is touched. The role also looks for other device plugins; the shared cluster has
its own in kube-system, so the install is forced (nvidia_device_plugin_install_if_present).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from kubernetes import client
from rbac_docs import allowed, create_rbac, rbac_objects, token_kubeconfig
from test_roles import Playbooks

from tools.localcluster.pytest_fixture import wait_for

# Labels the GPU nodes and creates a RuntimeClass: make test runs this beside no other cluster-wide test.
pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]

GPU_NODES = ("gpu-node-0", "gpu-node-1")
PLUGIN = "it-plugin"


def without(role: dict[str, Any], group: str, resource: str, verb: str) -> dict[str, Any]:
    """The role with one verb taken from the rule on group/resource (and the rule gone when it was its only verb)."""
    changed = copy.deepcopy(role)
    rule = next(r for r in changed["rules"] if r["apiGroups"] == [group] and resource in r["resources"])
    rule["verbs"].remove(verb)
    changed["rules"] = [r for r in changed["rules"] if r["verbs"]]
    return changed


def node_labels(k8s) -> dict[str, dict[str, str]]:
    core = client.CoreV1Api(k8s)
    return {node: core.read_node(node).metadata.labels or {} for node in GPU_NODES}


def plugin_objects(k8s, namespace: str, runtime_class: str) -> set[str]:
    """Which of the role's objects exist."""
    found = set()
    for kind, read in (
        ("DaemonSet", lambda: client.AppsV1Api(k8s).read_namespaced_daemon_set(PLUGIN, namespace)),
        ("ConfigMap", lambda: client.CoreV1Api(k8s).read_namespaced_config_map(f"{PLUGIN}-config", namespace)),
        ("RuntimeClass", lambda: client.NodeV1Api(k8s).read_runtime_class(runtime_class)),
    ):
        try:
            read()
            found.add(kind)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    return found


def test_device_plugin_and_node_label_with_the_documented_rbac_only(kube_cluster, k8s, namespace, tmp_path):
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    documents = {d["kind"]: d for d in rbac_objects("docs/rbac-device-plugin.yml", namespace)}
    user = f"system:serviceaccount:{namespace}:triton-deployer"
    plugin_label = f"inference.triton/it-gpu-{namespace}"
    model_label = f"inference.triton/it-models-{namespace}"
    runtime_class = f"it-rbac-{namespace}"
    options = {
        "nvidia_device_plugin_namespace": namespace,
        "nvidia_device_plugin_name": PLUGIN,
        "nvidia_device_plugin_node_label": plugin_label,
        "nvidia_device_plugin_time_slicing_replicas": 2,
        "nvidia_device_plugin_runtime_class_name": runtime_class,
        "nvidia_device_plugin_install_if_present": True,
        "nvidia_device_plugin_wait_timeout": 120,
        "model_repository_node_label": model_label,
    }
    tags = ("--tags", "nvidia_device_plugin,model_repository_label")
    absent = {"nvidia_device_plugin_state": "absent", "model_repository_state": "absent"}
    cluster_role = documents["ClusterRole"]["metadata"]["name"]

    create_rbac(k8s, documents, namespace)
    try:
        wait_for("the Role to apply", lambda: allowed(k8s, user, namespace, "create", "apps", "daemonsets"), timeout=30)
        wait_for("the ClusterRole to apply", lambda: allowed(k8s, user, "", "patch", "", "nodes"), timeout=30)
        assert not allowed(k8s, user, namespace, "list", "", "pods")  # not more than documented
        assert not allowed(k8s, user, "kube-system", "create", "apps", "daemonsets")
        token = core.create_namespaced_service_account_token(
            "triton-deployer", namespace, {"spec": {"expirationSeconds": 900}}
        ).status.token
        deployer = Playbooks(
            token_kubeconfig(kube_cluster.kubeconfig, token, tmp_path / "deployer"), namespace, tmp_path
        )

        def run(*extra: str, **overrides: Any):
            return deployer.run("deploy.yml", *tags, "-e", json.dumps({**options, **overrides}), *extra)

        installed = run()
        assert installed.rc == 0, installed
        assert "forbidden" not in installed.out.lower(), installed
        assert plugin_objects(k8s, namespace, runtime_class) == {"DaemonSet", "ConfigMap", "RuntimeClass"}
        daemonset = client.AppsV1Api(k8s).read_namespaced_daemon_set(PLUGIN, namespace)
        assert daemonset.status.number_ready == daemonset.status.desired_number_scheduled == len(GPU_NODES)
        for node, labels in node_labels(k8s).items():
            assert labels.get(plugin_label) == "true" and labels.get(model_label) == "ready", node

        again = run()
        assert again.rc == 0 and again.changed() == 0, again

        removed = run(**absent)
        assert removed.rc == 0, removed
        assert plugin_objects(k8s, namespace, runtime_class) == set()
        for node, labels in node_labels(k8s).items():
            assert plugin_label not in labels and model_label not in labels, node

        # One verb less: the run fails naming the verb and the resource, before the object it is needed for.
        for kind, group, resource, verb, scope, written in (
            ("ClusterRole", "", "nodes", "patch", "at the cluster scope", set()),
            ("ClusterRole", "apps", "daemonsets", "list", "at the cluster scope", set()),
            ("Role", "apps", "daemonsets", "create", f'in the namespace "{namespace}"', {"ConfigMap", "RuntimeClass"}),
        ):
            narrower = without(documents[kind], group, resource, verb)
            if kind == "Role":
                rbac.replace_namespaced_role(narrower["metadata"]["name"], namespace, narrower)
                where = namespace
            else:
                rbac.replace_cluster_role(cluster_role, narrower)
                where = ""
            wait_for(f"{verb} to go", lambda: not allowed(k8s, user, where, verb, group, resource), timeout=30)  # noqa: B023
            refused = run()
            assert refused.rc != 0, refused
            named = f'cannot {verb} resource "{resource}" in API group "{group}" {scope}'
            assert named in refused.out, refused
            assert plugin_objects(k8s, namespace, runtime_class) == written, refused
            # the documented objects again, and what the failed run wrote removed
            if kind == "Role":
                rbac.replace_namespaced_role(narrower["metadata"]["name"], namespace, documents["Role"])
            else:
                rbac.replace_cluster_role(cluster_role, documents["ClusterRole"])
            wait_for(f"{verb} back", lambda: allowed(k8s, user, where, verb, group, resource), timeout=30)  # noqa: B023
            assert run(**absent).rc == 0
    finally:
        rbac.delete_cluster_role_binding(documents["ClusterRoleBinding"]["metadata"]["name"])
        rbac.delete_cluster_role(cluster_role)
        # Whatever a failed assertion left behind: the RuntimeClass and the test's node labels.
        try:
            client.NodeV1Api(k8s).delete_runtime_class(runtime_class)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        for node in GPU_NODES:
            core.patch_node(node, {"metadata": {"labels": {plugin_label: None, model_label: None}}})


def test_documented_rbac_is_one_list_of_the_same_service_account():
    """Both files bind the one identity that runs deploy.yml; applying both gives it what the roles need."""
    triton = yaml.safe_load(Path(REPO / "docs/rbac.yml").read_text())
    plugin = yaml.safe_load(Path(REPO / "docs/rbac-device-plugin.yml").read_text())
    for doc in (triton, plugin):
        assert doc["kind"] == "List"
        subjects = {(s["kind"], s["namespace"], s["name"]) for item in doc["items"] for s in item.get("subjects", [])}
        assert subjects == {("ServiceAccount", "triton", "triton-deployer")}
