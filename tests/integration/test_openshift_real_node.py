"""openshift: true on the real node: the real Triton in the pod OpenShift's restricted-v2 SCC runs.

What restricted-v2 does to the pod is done here by hand, in a namespace enforcing Pod Security 'restricted': a uid
from an OpenShift-like range (1000680000) that the image does not know, no runAsGroup (so the process runs with gid
0), the fsGroup from the same range. The model repository is a PersistentVolumeClaim (a PersistentVolume of a folder
on the real node, bound to the claim alone) whose files belong to root:root and are readable by group 0 only, as
OpenShift images prepare them. The real Triton reads them and answers an inference.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from test_openshift_restricted import restrict
from test_real_triton import (  # noqa: F401  # pylint: disable=unused-import
    REAL,
    REAL_NODE,
    assert_add_sub_infers,
    container_id,
    http_port,
    model_repository,
    pod_namespace,
    real_node,
    the_pod,
    tritonserver_processes,
)

from tools.localcluster.pytest_fixture import wait_for

OPENSHIFT_UID = 1000680000  # what restricted-v2 takes from openshift.io/sa.scc.uid-range, e.g. 1000680000/10000
ON_THE_REAL_NODE = {"key": "kubernetes.io/hostname", "operator": "In", "values": [REAL_NODE]}


@pytest.fixture
def real_ns(k8s):
    yield from pod_namespace(k8s, "it-ocp")


def test_the_real_triton_runs_as_an_arbitrary_uid_with_group_0_on_a_group_0_repository(
    runner,
    k8s,
    real_ns,
    tmp_path,
    real_node,  # noqa: F811
):
    core = client.CoreV1Api(k8s)
    restrict(k8s, real_ns)
    # The repository as an OpenShift image or volume prepares it: owner root, group 0, no access for others.
    repository = model_repository(tmp_path, owner=0)
    for path in [repository, *repository.rglob("*")]:
        path.chmod(0o750 if path.is_dir() else 0o640)
    tmp_path.chmod(0o755)
    volume = f"it-ocp-{uuid.uuid4().hex[:8]}"
    core.create_persistent_volume(
        {
            "metadata": {"name": volume, "labels": {"inference.triton/test": "openshift"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "claimRef": {"namespace": real_ns, "name": "models"},
                "hostPath": {"path": str(repository), "type": "Directory"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [ON_THE_REAL_NODE]}]}},
            },
        }
    )
    try:
        core.create_namespaced_persistent_volume_claim(
            real_ns,
            {
                "metadata": {"name": "models"},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        wait_for(
            "the claim to bind",
            lambda: core.read_namespaced_persistent_volume_claim("models", real_ns).status.phase == "Bound",
            60,
        )
        result = runner.triton(
            name="ocp",
            namespace=real_ns,
            **{**REAL, "wait_timeout": 240},
            openshift=True,
            model_repository_type="pvc",
            model_repository_claim="models",
            # What restricted-v2 adds to the pod on OpenShift (here by hand): a uid and an fsGroup from the range.
            pod_security_context={"runAsUser": OPENSHIFT_UID, "fsGroup": OPENSHIFT_UID},
        )
        assert not result.get("failed"), result.get("msg")
        assert result["rollout"]["complete"] is True

        pod = the_pod(k8s, real_ns, "ocp")
        servers = tritonserver_processes(container_id(pod))
        assert len(servers) == 1, servers
        assert servers[0]["uids"] == [OPENSHIFT_UID] * 4 and servers[0]["gids"] == [0] * 4, servers[0]
        assert repository.stat().st_uid == 0 and repository.stat().st_gid == 0
        assert_add_sub_infers(http_port(result))
    finally:
        runner.triton(name="ocp", namespace=real_ns, state="absent")
        core.delete_persistent_volume(volume)
