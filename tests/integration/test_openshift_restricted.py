"""openshift: true, the pod OpenShift's restricted-v2 SCC runs, admitted by the local control plane under Pod Security
'restricted' (the Kubernetes admission closest to restricted-v2; what differs is in docs/openshift.md).

On the simulated nodes: the Deployment's pods are created by their ReplicaSet in a namespace enforcing 'restricted'
(no FailedCreate), and a Pod built from the pod template passes a server-side dry run there; the same Pod with a
hostPath volume is refused, so the check can fail. The real Triton in such a pod: test_openshift_real_node.py.
"""

from __future__ import annotations

import copy
import json

from kubernetes import client

SIMULATED = {"type": "kwok", "nvidia.com/gpu.present": "true"}
RESTRICTED = {  # enforced, and warned about: a warning would name any field that 'restricted' frowns upon
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
OBJECT_STORAGE = dict(model_repository_type="object_storage", model_repository_url="s3://models/triton")


def restrict(k8s, namespace: str) -> None:
    client.CoreV1Api(k8s).patch_namespace(namespace, {"metadata": {"labels": RESTRICTED}})


def dry_run_pod(k8s, namespace: str, spec: dict) -> tuple[int, str]:
    """Create a Pod of ``spec`` as a server-side dry run: (HTTP status, the API server's answer and warnings)."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "dry-"}, "spec": spec}
    try:
        answer = client.CoreV1Api(k8s).create_namespaced_pod(namespace, body, dry_run="All", _preload_content=False)
        return answer.status, answer.headers.get("Warning") or ""
    except client.ApiException as exc:
        return exc.status, json.loads(exc.body)["message"]


def test_openshift_pods_are_admitted_under_pod_security_restricted(runner, k8s, namespace):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    restrict(k8s, namespace)
    result = runner.triton(
        name="ocp", namespace=namespace, use_cpu=True, node_selector=SIMULATED, openshift=True, **OBJECT_STORAGE
    )
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True
    assert not [w for w in result.get("warnings", []) if "PodSecurity" in w or "violate" in w], result["warnings"]

    template = apps.read_namespaced_deployment("ocp-triton", namespace).spec.template.spec
    security = template.security_context
    assert (security.run_as_user, security.run_as_group, security.fs_group) == (None, None, None)
    assert security.run_as_non_root is True and security.seccomp_profile.type == "RuntimeDefault"
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/instance=ocp").items
    assert pods and all(p.status.phase == "Running" for p in pods), [(p.metadata.name, p.status.phase) for p in pods]
    failed = [e.message for e in core.list_namespaced_event(namespace).items if e.reason == "FailedCreate"]
    assert not failed, failed

    # The template as a Pod, through admission again (a dry run): admitted, without a warning.
    spec = client.ApiClient().sanitize_for_serialization(template)
    status, answer = dry_run_pod(k8s, namespace, spec)
    assert status == 201 and "restricted" not in answer, (status, answer)
    # The same Pod with the hostPath volume openshift refuses: Pod Security refuses it too.
    with_host_path = copy.deepcopy(spec)
    with_host_path["volumes"].append({"name": "models", "hostPath": {"path": "/srv/models", "type": "Directory"}})
    status, answer = dry_run_pod(k8s, namespace, with_host_path)
    assert status == 403 and 'violates PodSecurity "restricted:latest"' in answer and "hostPath" in answer, answer


def test_openshift_refuses_a_host_path_repository_before_writing(runner, k8s, namespace):
    result = runner.triton(name="hp", namespace=namespace, use_cpu=True, openshift=True)
    assert result.get("failed")
    assert "model_repository_type" in result["msg"] and "restricted-v2" in result["msg"], result["msg"]
    assert not client.AppsV1Api(k8s).list_namespaced_deployment(namespace).items
