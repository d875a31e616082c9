"""The documented RBAC files applied for one test, and the two things a least-privilege test needs besides.

Shared by the tests that run the collection under docs/rbac.yml or docs/rbac-device-plugin.yml alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]


def rbac_objects(path: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of one documented RBAC file (a v1 List) for ``namespace``.

    Namespaced objects move into ``namespace``; cluster-scoped ones (and the ClusterRoleBinding's roleRef) get the
    namespace as a suffix of their name, so that tests side by side do not collide.
    """
    documents = yaml.safe_load((REPO / path).read_text())["items"]
    for doc in documents:
        meta = doc["metadata"]
        if "namespace" in meta:
            meta["namespace"] = namespace
        else:
            meta["name"] = f"{meta['name']}-{namespace}"
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{namespace}"
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
    return documents


def create_rbac(k8s, documents: dict[str, dict[str, Any]], namespace: str) -> None:
    """Create the ServiceAccount, Role, RoleBinding, ClusterRole and ClusterRoleBinding of one RBAC file."""
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    core.create_namespaced_service_account(namespace, documents["ServiceAccount"])
    rbac.create_namespaced_role(namespace, documents["Role"])
    rbac.create_namespaced_role_binding(namespace, documents["RoleBinding"])
    rbac.create_cluster_role(documents["ClusterRole"])
    rbac.create_cluster_role_binding(documents["ClusterRoleBinding"])


def allowed(k8s, user: str, namespace: str, verb: str, group: str, resource: str) -> bool:
    review = client.AuthorizationV1Api(k8s).create_subject_access_review(
        {
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource},
            }
        }
    )
    return bool(review.status.allowed)


def token_kubeconfig(real: str, token: str, target: Path) -> str:
    """A kubeconfig for the real API server that authenticates with ``token`` only (no client certificate)."""
    config = yaml.safe_load(Path(real).read_text())
    cluster = config["clusters"][0]["cluster"]
    target.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "deployer", "user": {"token": token}}],
                "contexts": [{"name": "deployer", "context": {"cluster": "c", "user": "deployer"}}],
                "current-context": "deployer",
            }
        )
    )
    target.chmod(0o600)
    return str(target)
