# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Following a Deployment's rollout by watching it, and explaining why it does not complete."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any, Callable

from ._apply import to_dict
from ._client import Cluster, WatchBackoff
from ._rollout import surge_and_unavailable

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

# A container of the rollout's new pods that has exited this many times, and is not running, is crash-looping:
# waiting does not fix that (a wrong flag, an unreadable model repository, a model that fails to load), so the
# wait stops there instead of at its timeout.
CRASH_LOOP_EXITS = 2
# A Deployment's status does not change while its pods crash: while new pods exist and are not all available,
# the wait looks at them this often (seconds), between watches of the Deployment.
CRASH_CHECK_INTERVAL = 5
# A rollout whose new pods wait for GPUs that no old pod may free (maxUnavailable 0) is stuck: the wait stops
# once it has looked the same for this long (seconds; above the scheduler's 10 s maximum retry backoff, so that a
# pod about to be scheduled on GPUs an old pod just freed is not taken for stuck).
GPU_STALL_SECONDS = 10
GPU_SHORTAGE = "Insufficient nvidia.com/gpu"
GPU_STALL_TEXT = (
    "the new pods wait for GPUs (Insufficient nvidia.com/gpu) that no old pod may free, as the strategy keeps every "
    "old pod until a new one is ready (maxUnavailable 0), which does not resolve by itself; free GPUs on an eligible "
    "node, or run again with gpu_rollout: auto (the default) and preflight fail or warn, which replaces the pods one "
    "at a time"
)
# What a failure reason quotes from a container's log: the lines that look like errors, else the last lines.
LOG_TAIL_LINES = 10
LOG_ERROR_LINES = 6
LOG_LINE_WIDTH = 240
# How much log is read to find those lines (tritonserver prints an unknown flag first, then 400 lines of usage).
LOG_READ_LINES = 500
LOG_READ_BYTES = 64 * 1024
# At most this many pods have their log read for one explanation.
LOG_PODS = 2
# Seconds one log read may take (the kubelet answers it, not the API server).
LOG_READ_TIMEOUT = 10.0

# Lines of a log that carry the error: glog's E and F severities, or unindented text naming a failure (a usage
# text's indented option descriptions are not errors).
_GLOG = re.compile(r"^([IWEF])\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)? +\d+ ")
_ERROR_WORDS = re.compile(
    r"\b(error|errors|failed|failure|fatal|unrecognized|unknown option|invalid|denied|cannot|can't|unable|"
    r"not found|no such|exception|traceback|panic)\b",
    re.IGNORECASE,
)
# Hints for the failures a Triton container's log shows most often.
_LOG_HINTS = [
    (
        re.compile(r"unrecognized option"),
        "tritonserver does not accept a flag of its command line (server_args?)",
    ),
    (
        re.compile(r"failed to open directory|failed to poll model repository|Permission denied", re.IGNORECASE),
        "the server cannot read the model repository: on a hostPath, the folder and its files must belong to, or be "
        "readable by, the pod's user (runAsUser, 1000 by default)",
    ),
    (re.compile(r"failed to load", re.IGNORECASE), "a model failed to load (its config.pbtxt or model files?)"),
]
# Values that must never reach a message: URL credentials, bearer tokens, key=value pairs naming a secret.
_URL_CREDENTIALS = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"(\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|credentials?|authorization)[\w.-]*"
    r"[\"']?\s*[=:]\s*)((?:Bearer|Basic)\s+\S+|\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
    re.IGNORECASE,
)


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


def redact(text: str) -> str:
    """``text`` with URL credentials, bearer tokens and values of secret-looking keys replaced by ``***``."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1***", text)
    return _SECRET_PAIR.sub(_masked_pair, text)


def _masked_pair(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}***{quote}"


def _one_line(text: str, width: int = LOG_LINE_WIDTH) -> str:
    """A log line fit for a message: no control characters, secrets masked, at most ``width`` characters.

    A glog line keeps its severity and source but not its date, time and thread (room for the message). A longer
    line loses its middle, not its end: Triton puts the cause last ("... failed to open directory <path>").
    """
    glog = _GLOG.match(text)
    if glog:
        text = f"{glog.group(1)} {text[glog.end() :]}"
    text = redact("".join(ch if ch.isprintable() else " " for ch in text.rstrip()))
    if len(text) <= width:
        return text
    head = (width - 5) // 2
    return f"{text[:head]} ... {text[-(width - 5 - head) :]}"


def _is_error_line(line: str) -> bool:
    glog = _GLOG.match(line)
    if glog:
        return glog.group(1) in "EF"
    return not line[:1].isspace() and bool(_ERROR_WORDS.search(line))


def log_excerpt(
    text: str, tail: int = LOG_TAIL_LINES, errors: int = LOG_ERROR_LINES, width: int = LOG_LINE_WIDTH
) -> list[str]:
    """The lines of a container's log worth quoting in a failure reason, each on one line, secrets masked.

    The lines that look like errors (glog E/F lines, unindented lines naming a failure) when there are any, at
    most ``errors`` of them (the first and the last ones: the cause and the outcome); else the last ``tail`` lines.
    Blank lines and table borders are left out.
    """
    lines = [line for line in text.splitlines() if line.strip() and not set(line.strip()) <= set("+-=|")]
    chosen = [line for line in lines if _is_error_line(line)]
    if not chosen:
        chosen = lines[-tail:]
    elif len(chosen) > errors:
        chosen = chosen[: errors // 2] + chosen[-(errors - errors // 2) :]
    return [_one_line(line, width) for line in chosen]


def log_hint(lines: list[str]) -> str | None:
    """A plain-words cause for the most common Triton start failures, from the quoted log lines."""
    for pattern, hint in _LOG_HINTS:
        if any(pattern.search(line) for line in lines):
            return hint
    return None


def termination_text(terminated: dict[str, Any]) -> str:
    """``code 1 (Error)``, with the container's termination message when it wrote one."""
    text = f"code {terminated.get('exitCode')} ({terminated.get('reason') or 'no reason given'})"
    message = " | ".join(log_excerpt(str(terminated.get("message") or ""), tail=3))
    return f"{text}: {message}" if message else text


def container_exits(container: dict[str, Any]) -> int:
    """How many times a container of a pod has exited, from its status (restartCount counts the restarts)."""
    state = container.get("state") or {}
    restarts = int(container.get("restartCount") or 0)
    if "terminated" in state:
        return restarts + 1
    if "waiting" in state and (container.get("lastState") or {}).get("terminated"):
        return restarts + 1
    return restarts


def last_termination(container: dict[str, Any]) -> dict[str, Any] | None:
    """The container's latest exit: its current state when it is terminated, else its last state."""
    state = container.get("state") or {}
    return state.get("terminated") or (container.get("lastState") or {}).get("terminated") or None


def _containers(pod: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    status = pod.get("status") or {}
    return [(c, True) for c in status.get("initContainerStatuses") or []] + [
        (c, False) for c in status.get("containerStatuses") or []
    ]


def crash_looping(pod: dict[str, Any], exits: int = CRASH_LOOP_EXITS) -> list[str]:
    """Names of the pod's containers that keep exiting: not ready, and exited at least ``exits`` times.

    Between two runs (terminated, or waiting in CrashLoopBackOff) or running again: a container killed by its
    startup or liveness probe is restarted at once and is running most of the time. A server container is meant to
    run for ever, so any exit counts; an init container's exit counts only when it failed (code other than 0). A
    pod being deleted has no crash loop.
    """
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return []
    names = []
    for container, init in _containers(pod):
        if container.get("ready"):
            continue
        last = last_termination(container)
        if not last or (init and last.get("exitCode") == 0):
            continue
        if container_exits(container) >= exits:
            names.append(str(container.get("name")))
    return names


def gpu_stall(deployment: dict[str, Any], pods: list[dict[str, Any]], current: str | None) -> list[str]:
    """``pod: scheduler message`` for each new pod that waits for GPUs no old pod may free; [] when not stuck so.

    Stuck means: a rolling update that keeps every old pod until a new one is available (maxUnavailable resolves
    to 0) and no more than ``replicas`` available, no pod of the Deployment terminating (its GPUs would come back),
    old pods still there, and every new pod (of ReplicaSet ``current``) that is not ready unscheduled, its
    PodScheduled condition naming Insufficient nvidia.com/gpu.
    """
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1) or 0)
    resolved = surge_and_unavailable(spec.get("strategy"), replicas)
    if current is None or resolved is None or resolved[1] != 0:
        return []
    if int((deployment.get("status") or {}).get("availableReplicas") or 0) > replicas:
        return []  # the controller is about to scale an old pod down
    if any((p.get("metadata") or {}).get("deletionTimestamp") for p in pods):
        return []
    new: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    for pod in pods:
        owners = {o.get("name") for o in (pod.get("metadata") or {}).get("ownerReferences") or []}
        (new if current in owners else old).append(pod)
    if not old:
        return []
    stuck = []
    for pod in new:
        if _pod_ready(pod):
            continue
        scheduled: dict[str, Any] = next(
            (c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"), {}
        )
        message = str(scheduled.get("message") or "")
        if (pod.get("spec") or {}).get("nodeName") or scheduled.get("status") != "False" or GPU_SHORTAGE not in message:
            return []  # a new pod is starting, or waits for something else
        stuck.append(f"pod {pod['metadata']['name']}: {message}")
    return stuck


def _stall_fingerprint(deployment: dict[str, Any], pods: list[dict[str, Any]]) -> tuple[Any, ...]:
    status = deployment.get("status") or {}
    return (
        status.get("replicas"),
        status.get("updatedReplicas"),
        status.get("availableReplicas"),
        tuple(
            sorted(
                (str(p["metadata"]["name"]), str((p.get("spec") or {}).get("nodeName")), _pod_ready(p)) for p in pods
            )
        ),
    )


def _restarted_while_running(pod: dict[str, Any]) -> bool:
    """Whether a container runs again after an exit: its status says how it ended, not why (its events do)."""
    return any(
        "running" in (c.get("state") or {}) and (c.get("lastState") or {}).get("terminated")
        for c, _kind in _containers(pod)
    )


def pod_problems(pod: dict[str, Any]) -> list[str]:
    """Why one pod is not ready, from its status alone."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    problems = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            problems.append(f"pod {name} cannot be scheduled: {condition.get('message') or condition.get('reason')}")
    for container, init in _containers(pod):
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _WAITING_HINTS:
            detail = waiting.get("message") or ""
            problems.append(
                f"pod {name} container {container['name']}: {reason}: {_WAITING_HINTS[reason]} {detail}".strip()
            )
        terminated = (container.get("lastState") or {}).get("terminated")
        if terminated and reason == "CrashLoopBackOff":
            said = " | ".join(log_excerpt(str(terminated.get("message") or ""), tail=3))
            problems.append(
                f"pod {name} container {container['name']} last exited with code {terminated.get('exitCode')} "
                f"({terminated.get('reason')}), restarts: {container.get('restartCount')}"
                + (f": {said}" if said else "")
            )
        # Between two restarts the kubelet may show the exited container itself rather than CrashLoopBackOff.
        exited = state.get("terminated")
        if exited and not (init and exited.get("exitCode") == 0):
            problems.append(
                f"pod {name} container {container['name']} exited with {termination_text(exited)}, "
                f"restarts: {container.get('restartCount')}"
            )
        # Running again after an exit (a probe kills it, then it is restarted at once): how the last run ended.
        if terminated and "running" in state and not container.get("ready"):
            problems.append(
                f"pod {name} container {container['name']} runs again after exiting with "
                f"{termination_text(terminated)}, restarts: {container.get('restartCount')}"
            )
    return problems


# Waiting reasons of a container the kubelet is still preparing (pulling its image among other things).
_PREPARING = {"ContainerCreating", "PodInitializing"}
# The kubelet's events about one container's image, the latest of which says whether a pull is under way.
_PULL_EVENTS = {"Pulling", "Pulled", "Failed", "BackOff", "ErrImageNeverPull"}
_PULLING_IMAGE = re.compile(r'[Pp]ulling image "([^"]+)"')
# At most this many pulls are named in one message.
PULLS_SHOWN = 2


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def event_time(event: dict[str, Any]) -> datetime | None:
    """When an event last happened: lastTimestamp, else eventTime, else its creation (events.k8s.io and core/v1)."""
    for text in (
        event.get("lastTimestamp"),
        (event.get("series") or {}).get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        found = _timestamp(text)
        if found is not None:
            return found
    return None


def duration_text(seconds: float) -> str:
    """``45s``, ``4m12s``, ``1h02m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def image_pulls(pod: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The pod's containers whose image the kubelet is pulling now, with how long it has been at it.

    A container is pulling when it waits to be created (``ContainerCreating``, ``PodInitializing``) and the latest of
    the kubelet's image events for it (``Pulling``, ``Pulled``, ``Failed``, ``BackOff``) is a ``Pulling``; the time
    counts from that event. Events are matched to containers by their ``fieldPath``
    (``spec.containers{name}``, ``spec.initContainers{name}``).
    """
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return []
    name = meta.get("name")
    spec = pod.get("spec") or {}
    images = {
        c.get("name"): c.get("image") for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    }
    pulls = []
    for container, init in _containers(pod):
        waiting = (container.get("state") or {}).get("waiting")
        if waiting is None or waiting.get("reason") not in _PREPARING:
            continue
        field = f"spec.{'initContainers' if init else 'containers'}{{{container.get('name')}}}"
        mine = [
            e
            for e in events
            if (e.get("involvedObject") or {}).get("name") == name
            and (e.get("involvedObject") or {}).get("fieldPath") == field
            and e.get("reason") in _PULL_EVENTS
            and event_time(e) is not None
        ]
        if not mine:
            continue
        latest = max(mine, key=lambda e: event_time(e) or now)
        if latest.get("reason") != "Pulling":
            continue
        started = event_time(latest) or now
        image = _PULLING_IMAGE.search(str(latest.get("message") or ""))
        pulls.append(
            {
                "pod": name,
                "container": container.get("name"),
                "image": image.group(1) if image else images.get(container.get("name")) or container.get("image"),
                "node": spec.get("nodeName"),
                "seconds": max(0.0, (now - started).total_seconds()),
            }
        )
    return pulls


def pulls_text(pulls: list[dict[str, Any]]) -> str:
    """One phrase for the progress line: which pods are still pulling which image, and for how long."""
    shown = sorted(pulls, key=lambda p: -p["seconds"])[:PULLS_SHOWN]
    parts = [
        f"pod {p['pod']} still pulling {p['image']} ({duration_text(p['seconds'])}"
        + (f" on node {p['node']})" if p.get("node") else ")")
        for p in shown
    ]
    if len(pulls) > len(shown):
        parts.append(f"{len(pulls) - len(shown)} more pulling")
    return ", ".join(parts)


def pull_reason(pull: dict[str, Any]) -> str:
    """A failure reason for a rollout that ran out of time while a pod was still pulling its image."""
    where = f" on node {pull['node']}" if pull.get("node") else ""
    return (
        f"pod {pull['pod']} container {pull['container']} is still pulling its image {pull['image']}{where}, for "
        f"{duration_text(pull['seconds'])}: the first pull of a multi-GB image can outlast the wait; raise "
        f"wait_timeout (triton_server_wait_timeout in the role), or pull the image onto the nodes beforehand"
    )


class Waiter:
    """The one list-then-watch loop of the collection: a rollout, a DaemonSet getting ready, an object or a
    release's pods going away are all "watch these objects until a verdict".

    The objects are those of ``resource`` in ``namespace`` with ``name`` (a field selector) or matching
    ``selector`` (a label selector), kept current from the watch's events. ``verdict(objects)`` is asked after the
    list and after every event; the first truthy answer ends the wait. ``recheck(objects)``, when given, is asked at
    most every ``recheck_every`` seconds for what the objects' events do not show (a Deployment's status does not
    change while its pods crash). Watches never sleep: a transient failure waits with :class:`WatchBackoff`.
    """

    def __init__(
        self, cluster: Cluster, resource: Any, namespace: str | None, name: str | None = None, selector: str = ""
    ):
        self.cluster = cluster
        self.resource = resource
        self.namespace = namespace
        self.selectors = {"field_selector": f"metadata.name={name}"} if name else {"label_selector": selector}
        self.what = f"reading {resource.kind} {name}" if name else f"listing {resource.kind} ({selector})"

    def list(self) -> tuple[dict[str, dict[str, Any]], str]:
        """The objects by name, and the list's resourceVersion to watch from."""
        listing = self.cluster.call(
            lambda: self.resource.get(namespace=self.namespace, **self.selectors, **self.cluster.request_kwargs()),
            self.what,
        )
        objects = {item["metadata"]["name"]: item for item in (to_dict(i) or {} for i in listing.items)}
        return objects, listing.metadata.resourceVersion

    def until(
        self,
        verdict: Callable[[dict[str, dict[str, Any]]], Any],
        timeout: float,
        recheck: Callable[[dict[str, dict[str, Any]]], Any] | None = None,
        recheck_every: float = CRASH_CHECK_INTERVAL,
    ) -> tuple[Any, dict[str, dict[str, Any]]]:
        """(the first truthy verdict, or None at the timeout; the objects as last seen)."""
        deadline = time.monotonic() + timeout
        backoff = WatchBackoff(self.cluster)
        next_recheck = time.monotonic()
        objects, version = self.list()
        while True:
            found = verdict(objects)
            if not found and recheck is not None and time.monotonic() >= next_recheck:
                found = recheck(objects)
                next_recheck = time.monotonic() + recheck_every
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found, objects
            watch_for = min(remaining, 30, next_recheck - time.monotonic() if recheck is not None else 30)
            try:
                for event in self.cluster.dynamic.watch(
                    self.resource,
                    namespace=self.namespace,
                    resource_version=version,
                    timeout=max(1, int(watch_for)),
                    **self.selectors,
                ):
                    backoff.reset()
                    item = to_dict(event["object"]) or {}
                    name = (item.get("metadata") or {}).get("name")
                    if event.get("type") in ("ADDED", "MODIFIED") and name:
                        objects[name] = item
                    elif event.get("type") == "DELETED" and name:
                        objects.pop(name, None)
                    if verdict(objects) or time.monotonic() >= min(deadline, next_recheck if recheck else deadline):
                        break
            except Exception as exc:  # noqa: BLE001 - WatchBackoff re-raises what is not transient
                backoff.failed(exc, deadline)
            objects, version = self.list()


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
        """Block until complete or ``timeout`` seconds; returns (deployment, progress). Watches, never sleeps.

        Ends early, with ``progress["crash_loop"]`` naming the pods and containers, when a container of the new
        pods keeps exiting (see :func:`crash_looping`): that does not recover without a change. Likewise with
        ``progress["gpu_stall"]`` when new pods wait for GPUs that no old pod may free (see :func:`gpu_stall`) and
        nothing changed for GPU_STALL_SECONDS.
        """
        missing: dict[str, Any] = {"complete": False, "missing": True}
        stall: tuple[tuple[Any, ...], float, list[str]] | None = None

        def verdict(objects: dict[str, dict[str, Any]]) -> Any:
            deployment = objects.get(self.name)
            if deployment is None:
                return None, missing
            progress = deployment_progress(deployment)
            return (deployment, progress) if progress["complete"] or progress["deadline_exceeded"] else None

        def recheck(objects: dict[str, dict[str, Any]]) -> Any:
            # New pods exist and are not all available: are they crashing, or stuck waiting for GPUs?
            nonlocal stall
            deployment = objects[self.name]
            progress = deployment_progress(deployment)
            if not (progress["updated"] and progress["observed_generation"]):
                return None
            crashed = self.crash_loops(deployment)
            if crashed:
                return deployment, {**progress, "crash_loop": crashed}
            stall = self._gpu_stall(deployment, stall)
            if stall and time.monotonic() - stall[1] >= GPU_STALL_SECONDS:
                return deployment, {**progress, "gpu_stall": stall[2]}
            return None

        waiter = Waiter(self.cluster, self.deployments, self.namespace, name=self.name)
        found, objects = waiter.until(verdict, timeout, recheck, CRASH_CHECK_INTERVAL)
        if found:
            return found
        deployment = objects.get(self.name)
        return deployment, deployment_progress(deployment) if deployment else missing

    def _list_pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"].get("matchLabels", {}).items())
        pods_api = self.cluster.resource("v1", "Pod")
        listing = self.cluster.call(
            lambda: pods_api.get(namespace=self.namespace, label_selector=selector, **self.cluster.request_kwargs()),
            "listing pods",
        )
        return [to_dict(p) for p in listing.items]

    def list_pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """Every pod the Deployment's selector matches, as dicts."""
        return self._list_pods(deployment)

    def current_replicaset(self, deployment: dict[str, Any]) -> str | None:
        return self._current_replicaset(deployment)

    def _current_replicaset(self, deployment: dict[str, Any]) -> str | None:
        """Name of the ReplicaSet of the Deployment's current revision, or None while the controller has none."""
        revision = (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
        if not revision:
            return None
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"].get("matchLabels", {}).items())
        replicasets = self.cluster.resource("apps/v1", "ReplicaSet")
        listing = self.cluster.call(
            lambda: replicasets.get(namespace=self.namespace, label_selector=selector, **self.cluster.request_kwargs()),
            "listing ReplicaSets",
        )
        for item in (to_dict(r) for r in listing.items):
            meta = item["metadata"]
            owned = any(o.get("uid") == deployment["metadata"].get("uid") for o in meta.get("ownerReferences") or [])
            if owned and (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision") == revision:
                return str(meta["name"])
        return None

    def _gpu_stall(
        self, deployment: dict[str, Any], seen: tuple[tuple[Any, ...], float, list[str]] | None
    ) -> tuple[tuple[Any, ...], float, list[str]] | None:
        """(what the rollout looked like, since when, :func:`gpu_stall`'s reasons) while it looks stuck on GPUs."""
        spec = deployment.get("spec") or {}
        resolved = surge_and_unavailable(spec.get("strategy"), int(spec.get("replicas", 1) or 0))
        if resolved is None or resolved[1] != 0:
            return None  # old pods may go first: never stuck on a surge pod (no pod list needed)
        pods = self._list_pods(deployment)
        reasons = gpu_stall(deployment, pods, self._current_replicaset(deployment))
        if not reasons:
            return None
        fingerprint = _stall_fingerprint(deployment, pods)
        if seen and seen[0] == fingerprint:
            return fingerprint, seen[1], reasons
        return fingerprint, time.monotonic(), reasons

    def crash_loops(self, deployment: dict[str, Any]) -> list[str]:
        """``pod/container`` of every crash-looping container in the pods of the Deployment's current revision.

        Pods of older revisions do not count: a rolling update replaces them, their crashes are not this rollout's.
        """
        crashing = {
            pod["metadata"]["name"]: (pod, names)
            for pod in self._list_pods(deployment)
            for names in [crash_looping(pod)]
            if names
        }
        if not crashing:
            return []
        current = self._current_replicaset(deployment)
        found: list[str] = []
        for name, (pod, names) in sorted(crashing.items()):
            owners = {o.get("name") for o in pod["metadata"].get("ownerReferences") or []}
            if current is not None and current in owners:
                found.extend(f"{name}/{container}" for container in names)
        return found

    def container_log(self, pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
        """The quotable lines (:func:`log_excerpt`) of the log of a container's latest exit, or why it cannot be read.

        A container that is running again after a crash has that crash's log as its previous log; one that is
        terminated, or waiting to restart, has it as its current log (the kubelet keeps only the latest exited one).
        """
        previous = "running" in (container.get("state") or {})
        query = [("container", container["name"]), ("previous", str(previous).lower())]
        query += [("tailLines", LOG_READ_LINES), ("limitBytes", LOG_READ_BYTES)]
        url = f"/api/v1/namespaces/{self.namespace}/pods/{pod['metadata']['name']}/log"
        try:
            text = self.cluster.dynamic.request(
                "GET",
                url,
                query_params=query,
                header_params={"Accept": "*/*"},
                serialize=False,
                _request_timeout=min(self.cluster.timeout, LOG_READ_TIMEOUT),
            ).data.decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - a log that cannot be read must not hide the reasons found
            from ._client import api_error_message

            status = getattr(exc, "status", None)
            why = _one_line(api_error_message(exc) if status else str(exc), LOG_LINE_WIDTH)
            if status == 403:
                why += " (reading logs needs get on pods/log, see docs/rbac.yml)"
            return [f"(its log cannot be read: {why})"]
        return log_excerpt(text if isinstance(text, str) else str(text))

    def _log_reasons(self, pod: dict[str, Any]) -> list[str]:
        """For each container of the pod that has exited (not a finished init container): a hint and its log."""
        reasons = []
        name = pod["metadata"]["name"]
        for container, init in _containers(pod):
            last = last_termination(container)
            if not last or (init and last.get("exitCode") == 0):
                continue
            lines = self.container_log(pod, container)
            if not lines:
                continue
            hint = log_hint(lines)
            if hint:
                reasons.append(f"pod {name} container {container['name']}: {hint}")
            previous = " of its previous run" if "running" in (container.get("state") or {}) else ""
            reasons.append(f"pod {name} container {container['name']} log{previous}: " + " | ".join(lines))
        return reasons

    def image_pulls(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """:func:`image_pulls` of every pod of the Deployment that is not ready (one pod list, one event list)."""
        pods = [p for p in self._list_pods(deployment) if not _pod_ready(p)]
        if not pods:
            return []
        events_api = self.cluster.resource("v1", "Event")
        events = [
            to_dict(e)
            for e in self.cluster.call(
                lambda: events_api.get(
                    namespace=self.namespace, field_selector="involvedObject.kind=Pod", **self.cluster.request_kwargs()
                ),
                "listing events",
            ).items
        ]
        now = datetime.now(timezone.utc)
        return [pull for pod in pods for pull in image_pulls(pod, events, now)]

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
        logs_read = 0
        for pod in unready[:limit]:
            found = pod_problems(pod)
            if not found or _restarted_while_running(pod):
                events = [
                    to_dict(e)
                    for e in self.cluster.call(
                        lambda pod=pod: events_api.get(
                            namespace=self.namespace,
                            field_selector=f"involvedObject.name={pod['metadata']['name']}",
                            **self.cluster.request_kwargs(),
                        ),
                        "listing events",
                    ).items
                ]
                pulls = image_pulls(pod, events, datetime.now(timezone.utc))
                found.extend(pull_reason(pull) for pull in pulls)
                warnings = [e for e in events if e.get("type") == "Warning"]
                for event in sorted(warnings, key=_event_time)[-2:]:
                    found.append(f"pod {pod['metadata']['name']}: {event.get('reason')}: {event.get('message')}")
            if logs_read < LOG_PODS and any(last_termination(c) for c, _kind in _containers(pod)):
                # A container that exited says why in its log: Triton prints the error before it exits.
                logs = self._log_reasons(pod)
                logs_read += bool(logs)
                found.extend(logs)
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

    def verdict(objects: dict[str, dict[str, Any]]) -> tuple[bool, str] | None:
        live = objects.get(name)
        if gone:
            return (True, "deleted") if live is None else None
        progress = judge(live) if live is not None else None
        return (True, f"{progress['ready']}/{progress['desired']} ready") if progress and progress["complete"] else None

    found, objects = Waiter(cluster, resource, namespace, name=name).until(verdict, timeout)
    if found:
        return found
    if name not in objects:
        return gone, "absent"
    progress = judge(objects[name])
    return False, f"{progress['updated']}/{progress['desired']} updated, {progress['ready']} ready"


def wait_pods_gone(cluster: Cluster, namespace: str, selector: str, timeout: float) -> list[str]:
    """After a removal: watch until no pod matching ``selector`` is left. Returns the names still there."""
    waiter = Waiter(cluster, cluster.resource("v1", "Pod"), namespace, selector=selector)
    found, objects = waiter.until(lambda objects: not objects, timeout)
    return [] if found else sorted(objects)


def rollout_report(
    watcher: RolloutWatcher,
    deployment: dict[str, Any],
    progress: dict[str, Any],
    verify_pods: bool,
    verify_models: list[str],
) -> dict[str, Any]:
    """What a wait saw, for a task's result: completion, progress line, pods; once complete, with ``verify_pods``, what
    the new pods do not serve; else why the rollout does not complete (image pulls, reasons, models that failed)."""
    from ._serving import unavailable_models, verify_rollout

    report: dict[str, Any] = {
        "complete": progress["complete"],
        "progress": progress,
        "summary": progress_text(progress),
        "pods": watcher.pods(deployment),
    }
    if progress["complete"]:
        if verify_pods:
            report["serving_problems"] = verify_rollout(watcher.cluster, watcher, deployment, verify_models)
        return report
    # The progress line says when pods are still pulling their image, and for how long.
    pulls = watcher.image_pulls(deployment)
    if pulls:
        report["summary"] += f"; {pulls_text(pulls)}"
        report["image_pulls"] = pulls
    report["reasons"] = watcher.explain(deployment)
    if verify_models:
        unavailable = unavailable_models(watcher.cluster, watcher, deployment, verify_models)
        if unavailable:
            progress["models_unavailable"] = unavailable
            report["reasons"] = unavailable + report["reasons"]
    return report


def rollout_stopped(report: dict[str, Any]) -> bool:
    """Whether waiting longer cannot help: the deadline passed, or a cause that does not resolve by itself."""
    progress = report.get("progress") or {}
    return any(progress.get(k) for k in ("deadline_exceeded", "crash_loop", "gpu_stall", "models_unavailable"))


def rollout_failure(
    namespace: str, name: str, report: dict[str, Any], timeout: int, elapsed: float | None = None
) -> str:
    """The message of a rollout that did not complete within ``timeout`` s, or stopped ``elapsed`` s into it."""
    progress = report.get("progress") or {}
    stopped = f"stopped after {int(elapsed)}s of {timeout}s" if elapsed is not None else "stopped"
    if progress.get("crash_loop"):
        crashing = ", ".join(progress["crash_loop"])
        ended = f"{stopped}: new pods keep crashing ({crashing}), which does not recover without a change"
    elif progress.get("models_unavailable"):
        ended = f"{stopped}: declared models cannot load, which Triton does not retry in explicit mode"
    elif progress.get("gpu_stall"):
        ended = f"{stopped}: {GPU_STALL_TEXT}"
    else:
        ended = f"did not complete within {timeout}s"
    reasons = "; ".join(report.get("reasons") or [])
    return f"rollout of Deployment {namespace}/{name} {ended} ({report.get('summary')}): {reasons}"


def serving_failure(namespace: str, name: str, report: dict[str, Any]) -> str:
    """The message of a rollout that completed with new pods that do not serve as declared."""
    return (
        f"rollout of Deployment {namespace}/{name} completed, but its new pods do not serve as declared: "
        + "; ".join(report["serving_problems"])
    )
