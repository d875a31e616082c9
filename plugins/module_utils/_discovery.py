# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Which URL serves a kind: the built-in kinds the collection uses from a table, every other kind from one request
for its group version, remembered for the life of the process.

The kubernetes library's own discovery reads the whole API (``/api``, ``/apis`` and then each group version it is
asked for, 21 requests for a release here) or a cache file it keeps in the temporary directory under a name made from
the server's address alone. The collection needs a handful of kinds; the built-in ones among them have had the same
resource names and scopes since they became GA (apps/v1 in 1.9, policy/v1 and networking.k8s.io/v1 in 1.21 at the
latest), so they need no request at all. A kind outside the table (a CRD such as ServiceMonitor, or whatever
``k8s_apply`` is given) costs one ``GET`` of its group version, and a group version the server does not serve
answers 404, which means the kind is not served (as the library's discovery would say).
"""

from __future__ import annotations

from typing import Any

# (apiVersion, kind) -> (resource name, namespaced). Only kinds served unchanged by every Kubernetes release the
# collection supports.
BUILTIN_KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Endpoints"): ("endpoints", True),
    ("v1", "Event"): ("events", True),
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("node.k8s.io/v1", "RuntimeClass"): ("runtimeclasses", False),
}

# Group versions read from a server, per server address: {host: {apiVersion: {kind: (name, namespaced)} or None}}.
# A process serves one task; the action plugins run the modules in the controller's task process, so a task that
# calls several modules (triton_server and its rollout slices) reads a group version once.
_SERVED: dict[str, dict[str, dict[str, tuple[str, bool]] | None]] = {}


def group_version_path(api_version: str) -> str:
    """``v1`` -> ``/api/v1``; ``apps/v1`` -> ``/apis/apps/v1``."""
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def kinds_of(resource_list: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """kind -> (resource name, namespaced) from an APIResourceList, subresources (``pods/log``) left out."""
    kinds: dict[str, tuple[str, bool]] = {}
    for entry in resource_list.get("resources") or []:
        name = entry.get("name") or ""
        if "/" in name or not entry.get("kind"):
            continue
        kinds.setdefault(entry["kind"], (name, bool(entry.get("namespaced"))))
    return kinds


def lookup(host: str, api_version: str, kind: str, read_group_version: Any) -> tuple[str, bool] | None:
    """(resource name, namespaced) of a kind, or None when the server does not serve it.

    ``read_group_version(path)`` returns the APIResourceList at ``path`` as a dict, or None on 404.
    """
    known = BUILTIN_KINDS.get((api_version, kind))
    if known is not None:
        return known
    served = _SERVED.setdefault(host, {})
    if api_version not in served:
        listing = read_group_version(group_version_path(api_version))
        served[api_version] = kinds_of(listing) if listing is not None else None
    kinds = served[api_version]
    return None if kinds is None else kinds.get(kind)
