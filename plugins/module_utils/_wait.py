# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Following a Deployment's rollout by watching it, and explaining why it does not complete."""

from __future__ import annotations

import time
from typing import Any

from ._apply import to_dict
from ._client import Cluster, WatchBackoff

# Container states that will not fix themselves, with a hint for the user.
_WAITING_HINTS = {
    "ErrImagePull": "the image cannot be pulled (name, tag, registry credentials in image_pull_secrets?)",
    "ImagePullBackOff": "the image cannot be pulled (name, tag, registry credentials in image_pull_secrets?)",
    "InvalidImageName": "the image reference is invalid",
    "CrashLoopBackOff": "the container keeps exiting (see its logs)",
    "CreateContainerConfigError": "a referenced Secret or ConfigMap key is missing",
    "CreateContainerError": "the runtime cannot create the container",
    "RunContainerError": "the runtime cannot start the container (runtimeClassName, GPU runtime?)",
}


def deployment_progress(deployment: dict[str, Any]) -> dict[str, Any]:
    """A summary of a Deployment's rollout and whether it is complete (kubectl rollout status's rules)."""
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    meta = deployment.get("metadata") or {}
    desired = spec.get("replicas", 1)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    observed = (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
    updated = status.get("updatedReplicas") or 0
    available = status.get("availableReplicas") or 0
    ready = status.get("readyReplicas") or 0
    total = status.get("replicas") or 0
    complete = observed and updated == desired and total == desired and available == desired
    if desired and complete:
        complete = (conditions.get("Available") or {}).get("status") == "True"
    progressing = conditions.get("Progressing") or {}
    return {
        "complete": bool(complete),
        "desired": desired,
        "updated": updated,
        "ready": ready,
        "available": available,
        "total": total,
        "observed_generation": observed,
        "revision": (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision"),
        "deadline_exceeded": progressing.get("reason") == "ProgressDeadlineExceeded",
        "replica_failure": (conditions.get("ReplicaFailure") or {}).get("message"),
    }


def progress_text(progress: dict[str, Any]) -> str:
    return (
        f"{progress['updated']}/{progress['desired']} updated, {progress['ready']} ready, "
        f"{progress['available']} available, {progress['total']} total"
    )


def pod_problems(pod: dict[str, Any]) -> list[str]:
    """Why one pod is not ready, from its status alone."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    problems = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            problems.append(f"pod {name} cannot be scheduled: {condition.get('message') or condition.get('reason')}")
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _WAITING_HINTS:
            detail = waiting.get("message") or ""
            problems.append(
                f"pod {name} container {container['name']}: {reason}: {_WAITING_HINTS[reason]} {detail}".strip()
            )
        terminated = (container.get("lastState") or {}).get("terminated")
        if terminated and reason == "CrashLoopBackOff":
            problems.append(
                f"pod {name} container {container['name']} last exited with code {terminated.get('exitCode')} "
                f"({terminated.get('reason')}), restarts: {container.get('restartCount')}"
            )
    return problems


class RolloutWatcher:
    """Watches one Deployment until its rollout completes or the timeout passes."""

    def __init__(self, cluster: Cluster, namespace: str, name: str):
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.deployments = cluster.resource("apps/v1", "Deployment")

    def get(self) -> dict[str, Any] | None:
        try:
            return to_dict(
                self.cluster.call(
                    lambda: self.deployments.get(
                        name=self.name, namespace=self.namespace, **self.cluster.request_kwargs()
                    ),
                    f"reading Deployment {self.name}",
                )
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def wait(self, timeout: float) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Block until complete or ``timeout`` seconds; returns (deployment, progress). Watches, never sleeps."""
        deadline = time.monotonic() + timeout
        backoff = WatchBackoff(self.cluster)
        deployment = self.get()
        while True:
            if deployment is None:
                return None, {"complete": False, "missing": True}
            progress = deployment_progress(deployment)
            if progress["complete"] or progress["deadline_exceeded"]:
                return deployment, progress
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return deployment, progress
            version = deployment["metadata"]["resourceVersion"]
            try:
                stream = self.cluster.dynamic.watch(
                    self.deployments,
                    namespace=self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=version,
                    timeout=max(1, int(min(remaining, 30))),
                )
                for event in stream:
                    backoff.reset()
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        deployment = to_dict(event["object"])
                        progress = deployment_progress(deployment)
                        if progress["complete"] or progress["deadline_exceeded"]:
                            return deployment, progress
                    elif event.get("type") == "DELETED":
                        return None, {"complete": False, "missing": True}
                    if time.monotonic() >= deadline:
                        break
            except Exception as exc:  # noqa: BLE001 - WatchBackoff re-raises what is not transient
                backoff.failed(exc, deadline)
            deployment = self.get()

    def _list_pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"].get("matchLabels", {}).items())
        pods_api = self.cluster.resource("v1", "Pod")
        listing = self.cluster.call(
            lambda: pods_api.get(namespace=self.namespace, label_selector=selector, **self.cluster.request_kwargs()),
            "listing pods",
        )
        return [to_dict(p) for p in listing.items]

    def pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """Name, node, host IP, phase and readiness of the Deployment's pods, for endpoints and summaries."""
        return [
            {
                "name": pod["metadata"]["name"],
                "node": (pod.get("spec") or {}).get("nodeName"),
                "host_ip": (pod.get("status") or {}).get("hostIP"),
                "phase": (pod.get("status") or {}).get("phase"),
                "ready": _pod_ready(pod),
            }
            for pod in self._list_pods(deployment)
        ]

    def explain(self, deployment: dict[str, Any] | None, limit: int = 5) -> list[str]:
        """Reasons the rollout is stuck: deployment conditions, pod states, then recent warning events."""
        if deployment is None:
            return [f"Deployment {self.namespace}/{self.name} does not exist"]
        reasons: list[str] = []
        progress = deployment_progress(deployment)
        if progress["replica_failure"]:
            reasons.append(f"ReplicaSet cannot create pods: {progress['replica_failure']}")
        if progress["deadline_exceeded"]:
            reasons.append("the Deployment exceeded its progress deadline (ProgressDeadlineExceeded)")
        events_api = self.cluster.resource("v1", "Event")
        pods = self._list_pods(deployment)
        unready = [p for p in pods if not _pod_ready(p) and not (p["metadata"].get("deletionTimestamp"))]
        for pod in unready[:limit]:
            found = pod_problems(pod)
            if not found:
                events = self.cluster.call(
                    lambda pod=pod: events_api.get(
                        namespace=self.namespace,
                        field_selector=f"involvedObject.name={pod['metadata']['name']},type=Warning",
                        **self.cluster.request_kwargs(),
                    ),
                    "listing events",
                ).items
                for event in sorted((to_dict(e) for e in events), key=_event_time)[-2:]:
                    found.append(f"pod {pod['metadata']['name']}: {event.get('reason')}: {event.get('message')}")
            reasons.extend(found)
        if len(unready) > limit:
            reasons.append(f"... and {len(unready) - limit} more pods not ready")
        if not pods and not reasons:
            # No pods at all: the ReplicaSet's FailedCreate events say why (quota, Pod Security, ...).
            rs_events = self.cluster.call(
                lambda: events_api.get(
                    namespace=self.namespace, field_selector="reason=FailedCreate", **self.cluster.request_kwargs()
                ),
                "listing events",
            ).items
            for event in sorted((to_dict(e) for e in rs_events), key=_event_time)[-2:]:
                if str(event.get("involvedObject", {}).get("name", "")).startswith(self.name):
                    reasons.append(
                        f"{event['involvedObject']['kind']} {event['involvedObject']['name']}: {event.get('message')}"
                    )
        return _dedupe(reasons) or [f"rollout not complete: {progress_text(progress)}"]


def _pod_ready(pod: dict[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or "")


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for item in items:
        # Several pods failing the same way say it once, with the first pod named.
        generic = item.split(":", 1)[-1]
        if generic not in seen:
            seen.add(generic)
            result.append(item)
    return result


def daemonset_progress(daemonset: dict[str, Any]) -> dict[str, Any]:
    """Ready when every node it targets runs an updated, ready pod (0 targeted nodes counts as ready)."""
    status = daemonset.get("status") or {}
    meta = daemonset.get("metadata") or {}
    desired = status.get("desiredNumberScheduled") or 0
    updated = status.get("updatedNumberScheduled") or 0
    ready = status.get("numberReady") or 0
    available = status.get("numberAvailable") or 0
    observed = (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
    return {
        "complete": observed and updated == desired and ready == desired and available == desired,
        "desired": desired,
        "updated": updated,
        "ready": ready,
        "available": available,
    }


def wait_ready(cluster: Cluster, manifest: dict[str, Any], timeout: float, gone: bool = False) -> tuple[bool, str]:
    """Watch a Deployment or DaemonSet until ready (or deleted, with ``gone``). Returns (ok, summary)."""
    resource = cluster.resource(manifest["apiVersion"], manifest["kind"])
    name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
    judge = deployment_progress if manifest["kind"] == "Deployment" else daemonset_progress
    deadline = time.monotonic() + timeout
    backoff = WatchBackoff(cluster)
    while True:
        try:
            live = to_dict(cluster.call(lambda: resource.get(name=name, namespace=namespace), f"reading {name}"))
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise
            live = None
        if gone:
            if live is None:
                return True, "deleted"
        elif live is not None:
            progress = judge(live)
            if progress["complete"]:
                return True, f"{progress['ready']}/{progress['desired']} ready"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if live is None:
                return gone, "absent"
            progress = judge(live)
            return False, f"{progress['updated']}/{progress['desired']} updated, {progress['ready']} ready"
        try:
            version = live["metadata"]["resourceVersion"] if live else None
            for event in cluster.dynamic.watch(
                resource,
                namespace=namespace,
                field_selector=f"metadata.name={name}",
                resource_version=version,
                timeout=max(1, int(min(remaining, 30))),
            ):
                backoff.reset()
                if event.get("type") == "DELETED" and gone:
                    return True, "deleted"
                if event.get("type") in ("ADDED", "MODIFIED") and not gone:
                    if judge(to_dict(event["object"]))["complete"]:
                        break
        except Exception as exc:  # noqa: BLE001 - WatchBackoff re-raises what is not transient
            backoff.failed(exc, deadline)
