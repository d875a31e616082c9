"""The hardened defaults on the real local control plane: spread over nodes, no service-account token, the optional
ServiceAccount and NetworkPolicy (admitted, selecting exactly the release's pods, pruned when turned off).

The simulated nodes run no container, so these releases run in CPU mode (no GPU to compete for with the tests beside
them) pinned to the two simulated GPU nodes. The read-only root filesystem is proven where Triton really runs:
tests/integration/test_real_triton.py.
"""

from __future__ import annotations

import pytest
from kubernetes import client

SIMULATED_GPU_NODES = {"type": "kwok", "nvidia.com/gpu.present": "true"}


def pods_of(k8s, namespace: str, release: str) -> list:
    selector = f"app.kubernetes.io/instance={release}"
    return client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector=selector).items


def release(runner, namespace: str, name: str, **options):
    result = runner.triton(
        **{"name": name, "namespace": namespace, "use_cpu": True, "node_selector": SIMULATED_GPU_NODES, **options}
    )
    assert not result.get("failed"), result.get("msg")
    return result


def test_two_replicas_land_on_two_nodes(runner, k8s, namespace):
    release(runner, namespace, "spread", replicas=2)
    nodes = sorted(pod.spec.node_name for pod in pods_of(k8s, namespace, "spread"))
    assert nodes == ["gpu-node-0", "gpu-node-1"], nodes


def test_more_replicas_than_nodes_still_schedule(runner, k8s, namespace):
    # One node for three replicas: a required anti-affinity would leave two Pending; ScheduleAnyway runs all three.
    result = release(runner, namespace, "crowd", replicas=3, node_selector={"kubernetes.io/hostname": "gpu-node-0"})
    assert result["rollout"]["complete"] is True
    pods = pods_of(k8s, namespace, "crowd")
    assert len(pods) == 3 and {pod.spec.node_name for pod in pods} == {"gpu-node-0"}
    assert all(pod.status.phase == "Running" for pod in pods)


def test_pods_get_no_token_and_the_release_account_carries_its_identity(runner, k8s, namespace):
    core = client.CoreV1Api(k8s)
    release(runner, namespace, "plain")
    (pod,) = pods_of(k8s, namespace, "plain")
    assert pod.spec.automount_service_account_token is False
    # The ServiceAccount admission plugin adds a kube-api-access-* token volume unless automount is off.
    assert not [v for v in pod.spec.volumes if v.name.startswith("kube-api-access")], pod.spec.volumes

    irsa = {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/triton-models"}
    first = release(runner, namespace, "ident", service_account_create=True, service_account_annotations=irsa)
    assert first["actions"]["service_account"] == "created"
    account = core.read_namespaced_service_account("ident-triton", namespace)
    assert account.metadata.annotations == irsa
    assert account.automount_service_account_token is False
    (pod,) = pods_of(k8s, namespace, "ident")
    assert pod.spec.service_account_name == "ident-triton"

    again = release(runner, namespace, "ident", service_account_create=True, service_account_annotations=irsa)
    assert again["changed"] is False, again["actions"]

    # Turned off: the release's account is removed; the pods go back to the namespace's default account.
    off = release(runner, namespace, "ident")
    assert off["actions"]["service_account"] == "deleted"
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_service_account("ident-triton", namespace)
    assert gone.value.status == 404
    (pod,) = pods_of(k8s, namespace, "ident")
    assert pod.spec.service_account_name == "default"


def test_network_policy_selects_exactly_the_release_pods_and_goes_when_turned_off(runner, k8s, namespace):
    networking = client.NetworkingV1Api(k8s)
    release(runner, namespace, "other")
    clients = [{"ipBlock": {"cidr": "198.18.0.0/24"}}]
    first = release(runner, namespace, "guarded", replicas=2, network_policy_enabled=True, network_policy_from=clients)
    assert first["actions"]["network_policy"] == "created"
    policy = networking.read_namespaced_network_policy("guarded-triton", namespace)
    selector = ",".join(f"{k}={v}" for k, v in policy.spec.pod_selector.match_labels.items())
    selected = {
        p.metadata.name for p in client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector=selector).items
    }
    assert selected == {p.metadata.name for p in pods_of(k8s, namespace, "guarded")} and len(selected) == 2
    assert not selected & {p.metadata.name for p in pods_of(k8s, namespace, "other")}
    inference, metrics = policy.spec.ingress
    assert [p.port for p in inference.ports] == [8000, 8001]
    assert inference._from[0].ip_block.cidr == "198.18.0.0/24"
    assert [p.port for p in metrics.ports] == [8002]
    assert metrics._from[0].namespace_selector.match_labels == {"kubernetes.io/metadata.name": "monitoring"}

    again = release(runner, namespace, "guarded", replicas=2, network_policy_enabled=True, network_policy_from=clients)
    assert again["changed"] is False, again["actions"]

    off = release(runner, namespace, "guarded", replicas=2)
    assert off["actions"]["network_policy"] == "deleted"
    assert networking.list_namespaced_network_policy(namespace).items == []
