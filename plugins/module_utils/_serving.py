# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""After a rollout: every pod of the new revision serves every declared model and has not restarted.

Each pod is asked directly, through the API server's pod proxy (``pods/proxy``), not through the Service: a Service
answers from one pod at a time, and the controller often has no route to pod addresses. Pure functions decide from
the pods' status and Triton's answers; ``check_pods`` does the asking.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ._wait import last_termination, termination_text

TRITON_CONTAINER = "triton"
HTTP_PORT = 8000


def restart_problem(pod: dict[str, Any]) -> str | None:
    """A pod whose Triton container restarted during the rollout: counted as a failure, with its last exit."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") != TRITON_CONTAINER or not container.get("restartCount"):
            continue
        last = last_termination(container)
        exit_text = f": last exit {termination_text(last)}" if last else ""
        return f"pod {pod['metadata']['name']}: Triton restarted {container['restartCount']} time(s){exit_text}"
    return None


def model_problem(pod_name: str, model: str, index: list[dict[str, Any]]) -> str:
    """What Triton's repository index says of a model that is not ready on a pod."""
    entries = [e for e in index if e.get("name") == model]
    if not entries:
        return f"pod {pod_name}: model {model} is not in the model repository"
    entry = entries[-1]
    state = entry.get("state") or "not loaded"
    reason = entry.get("reason") or "no reason given"
    return f"pod {pod_name}: model {model} is {state}: {reason}"


def new_revision_pods(pods: list[dict[str, Any]], replicaset: str | None) -> list[dict[str, Any]]:
    """The pods of the Deployment's current ReplicaSet that are not being deleted."""
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(o.get("name") == replicaset for o in p["metadata"].get("ownerReferences") or [])
    ]


def check_pods(
    pods: list[dict[str, Any]],
    models: list[str],
    proxy: Callable[[str, str, str], str],
) -> list[str]:
    """Problems of the new pods: restarts, and declared models that a pod does not serve (empty when all is well).

    ``proxy(method, pod, path)`` returns the body of Triton's answer on HTTP_PORT, and raises on any other status.
    """
    problems = []
    for pod in pods:
        name = pod["metadata"]["name"]
        restarted = restart_problem(pod)
        if restarted:
            problems.append(restarted)
        index: list[dict[str, Any]] | None = None
        for model in models:
            try:
                proxy("GET", name, f"v2/models/{model}/ready")
                continue
            except Exception:  # noqa: BLE001 - not ready: the repository index says why
                pass
            if index is None:
                try:
                    index = json.loads(proxy("POST", name, "v2/repository/index") or "[]")
                except Exception as exc:  # noqa: BLE001 - Triton itself does not answer
                    if getattr(exc, "status", None) == 403:
                        problems.append(
                            f"pod {name}: cannot ask it which models it serves: get and create on pods/proxy are not "
                            "granted (docs/rbac.yml, the rule for models)"
                        )
                    else:
                        problems.append(f"pod {name}: Triton does not answer its repository index: {exc}")
                    break
            problems.append(model_problem(name, model, index or []))
    return problems


def proxy_caller(cluster: Any, namespace: str) -> Callable[[str, str, str], str]:
    """``proxy(method, pod, path)`` through the API server's pods/proxy, with the cluster's retries.

    Through the dynamic client's raw request: the generated CoreV1Api would cost 0.6 s to import for one URL."""

    def proxy(method: str, pod: str, path: str) -> str:
        url = f"/api/v1/namespaces/{namespace}/pods/{pod}:{HTTP_PORT}/proxy/{path}"
        # The raw body: a JSON answer must stay text, not become the repr of a Python object.
        answer = cluster.call(
            lambda: cluster.dynamic.request(method, url, serialize=False, _request_timeout=cluster.timeout),
            f"asking pod {pod} {path}",
            retry_conflicts=False,
        )
        return str(answer.data.decode())

    return proxy


def verify_rollout(cluster: Any, watcher: Any, deployment: dict[str, Any], models: list[str]) -> list[str]:
    """Problems of the new revision's pods once the rollout completed (see check_pods)."""
    pods = new_revision_pods(watcher.list_pods(deployment), watcher.current_replicaset(deployment))
    return check_pods(pods, models, proxy_caller(cluster, watcher.namespace))


def unavailable_models(cluster: Any, watcher: Any, deployment: dict[str, Any], models: list[str]) -> list[str]:
    """While the rollout is not complete: declared models that a running new pod reports UNAVAILABLE.

    In explicit mode Triton does not retry a model that failed to load, so such a pod never becomes ready: the wait
    can stop at once with Triton's reason instead of a probe's status code. Pods still starting are not asked.
    """
    proxy = proxy_caller(cluster, watcher.namespace)
    problems = []
    for pod in new_revision_pods(watcher.list_pods(deployment), watcher.current_replicaset(deployment)):
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if not any(c.get("name") == TRITON_CONTAINER and "running" in (c.get("state") or {}) for c in statuses):
            continue
        try:
            index = json.loads(proxy("POST", pod["metadata"]["name"], "v2/repository/index") or "[]")
        except Exception:  # noqa: BLE001 - not answering yet: still starting
            continue
        for model in models:
            entries = [e for e in index if e.get("name") == model]
            if entries and entries[-1].get("state") == "UNAVAILABLE":
                problems.append(model_problem(pod["metadata"]["name"], model, index))
    return problems
