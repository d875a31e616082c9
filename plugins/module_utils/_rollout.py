# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""The GPU-aware rollout strategy (option ``gpu_rollout``): whether a rolling update of GPU pods can start its
surge pods, and what to do when it cannot.

A rolling update with ``maxUnavailable`` 0 removes an old pod only once a new one is available. When no node the
pods may run on has ``num_gpus`` free GPUs beside the old pods, the first surge pod stays Pending on
``Insufficient nvidia.com/gpu`` and the rollout never moves: a deadlock until the progress deadline. ``auto``
replaces the pods one at a time for that rollout instead (``maxSurge: 0, maxUnavailable: 1``); ``surge`` keeps the
strategy and fails before writing. The arithmetic is here, in pure functions; _release.py applies it, with the
GPU counts of _preflight.py."""

from __future__ import annotations

import json
import math
from typing import Any

GPU_ROLLOUT_CHOICES = ("auto", "surge")
# What auto switches a stalled rollout to: one old pod stops, its GPUs go to its successor, and so on.
ONE_AT_A_TIME: dict[str, Any] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
# On the Deployment while auto's strategy is in place: the strategy the options asked for, so that runs that do not
# roll the pods keep auto's choice (no flip back and forth), and a changed update_strategy is applied.
MARKER = "inference.triton/gpu-rollout"
# Kubernetes' defaults for a RollingUpdate Deployment.
DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"


def scaled(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent of ``total`` as Kubernetes resolves it (intstr.GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(strategy: dict[str, Any] | None, replicas: int) -> tuple[int, int] | None:
    """(maxSurge, maxUnavailable) in pods, as the Deployment controller resolves them; None for ``Recreate``.

    maxSurge rounds up, maxUnavailable down; both 0 makes maxUnavailable 1 (deployment util ResolveFenceposts).
    """
    strategy = strategy or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled(rolling.get("maxSurge", DEFAULT_SURGE), replicas, True)
    unavailable = scaled(rolling.get("maxUnavailable", DEFAULT_UNAVAILABLE), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def pdb_allowed_unavailable(
    enabled: bool, min_available: Any, max_unavailable: Any, replicas: int
) -> tuple[int, str] | None:
    """How many pods the release's PodDisruptionBudget lets be unavailable, and the option that says so.

    Percentages round up for both fields, as the disruption controller does. None without a PDB.
    """
    if not enabled:
        return None
    if min_available is not None:
        allowed = replicas - scaled(min_available, replicas, True)
        return max(allowed, 0), f"pdb_min_available={min_available}"
    if max_unavailable is not None:
        return scaled(max_unavailable, replicas, True), f"pdb_max_unavailable={max_unavailable}"
    return None


def stalls(surge: int, unavailable: int, spare_pods: int) -> bool:
    """Whether a rolling update cannot start: it needs a surge pod first (maxUnavailable 0), and none fits.

    With maxUnavailable >= 1 old pods go first and free their GPUs; with at least one spare slot a new pod starts,
    becomes available and lets an old one go. Either way the rollout completes, only more slowly.
    """
    return surge >= 1 and unavailable == 0 and spare_pods < 1


def decide(
    mode: str,
    strategy: dict[str, Any] | None,
    replicas: int,
    num_gpus: int,
    spare_pods: int,
    pods_fit_in_place: int,
    pdb: tuple[int, str] | None,
    where: str,
) -> tuple[str, str, str | None]:
    """What to do with a rollout of ``replicas`` pods of ``num_gpus`` GPUs each.

    ``spare_pods``: how many more such pods fit now, beside every running pod; ``pods_fit_in_place``: how many fit
    once the release's own pods are gone; ``strategy``: the Deployment's strategy as the server resolves it.
    Returns (verdict, message, option): ``keep`` (the strategy as asked), ``one_at_a_time`` (maxSurge 0,
    maxUnavailable 1 for this rollout) or ``fail`` (nothing may be written; ``option`` is at fault).
    """
    resolved = surge_and_unavailable(strategy, replicas)
    if resolved is None or not replicas:
        return "keep", "", None
    surge, unavailable = resolved
    if not stalls(surge, unavailable, spare_pods):
        return "keep", "", None
    if pods_fit_in_place < replicas:
        # Not even in place of the old pods: replacing them would stop pods for nothing (preflight says why).
        return "keep", "", None
    rolling = (strategy or {}).get("rollingUpdate") or {}
    facts = (
        f"replicas={replicas} x num_gpus={num_gpus}, rolling update with maxSurge "
        f"{rolling.get('maxSurge', DEFAULT_SURGE)} ({surge} pod(s)) and maxUnavailable "
        f"{rolling.get('maxUnavailable', DEFAULT_UNAVAILABLE)} ({unavailable}): a surge pod needs {num_gpus} free "
        f"GPU(s) on one eligible node beside the running pods, and none has them ({where})"
    )
    if mode == "surge":
        return (
            "fail",
            f"{facts}; the rollout would wait on Insufficient nvidia.com/gpu until its deadline. Set gpu_rollout: auto "
            f"to replace the pods one at a time (maxSurge 0, maxUnavailable 1), update_strategy {{type: Recreate}}, "
            f"or free {num_gpus} GPU(s) on an eligible node",
            "gpu_rollout",
        )
    if pdb is not None and pdb[0] < 1:
        allowed, option = pdb
        return (
            "fail",
            f"{facts}; gpu_rollout auto would replace the pods one at a time, but the PodDisruptionBudget "
            f"({option} with replicas={replicas}) allows {allowed} unavailable pod(s). Allow one (pdb_min_available "
            f"at most {replicas - 1}, or pdb_max_unavailable at least 1), free {num_gpus} GPU(s) on an eligible node, "
            "or set pdb_enabled: false for this update",
            option.split("=", 1)[0],
        )
    downtime = "; the only replica stops before its successor starts" if replicas == 1 else ""
    return (
        "one_at_a_time",
        f"gpu_rollout auto: {facts}; this rollout replaces the pods one at a time (maxSurge 0, maxUnavailable 1), "
        f"{replicas - 1} of {replicas} serving meanwhile{downtime}",
        None,
    )


def marker_value(requested: dict[str, Any] | None) -> str:
    """The MARKER annotation's value: the strategy the options asked for, as compact JSON."""
    return json.dumps(requested or {}, sort_keys=True, separators=(",", ":"))


def is_one_at_a_time(strategy: dict[str, Any] | None) -> bool:
    rolling = (strategy or {}).get("rollingUpdate") or {}
    return (strategy or {}).get("type") == "RollingUpdate" and (
        str(rolling.get("maxSurge")),
        str(rolling.get("maxUnavailable")),
    ) == ("0", "1")


def keeps_auto_choice(live: dict[str, Any] | None, requested: dict[str, Any] | None) -> bool:
    """Whether the live Deployment runs auto's strategy, chosen while the options asked for ``requested``."""
    if not live:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return annotations.get(MARKER) == marker_value(requested) and is_one_at_a_time(
        (live.get("spec") or {}).get("strategy")
    )


def with_one_at_a_time(manifest: dict[str, Any], requested: dict[str, Any] | None) -> dict[str, Any]:
    """The Deployment manifest with auto's strategy and the MARKER annotation."""
    result = json.loads(json.dumps(manifest))
    result["spec"]["strategy"] = json.loads(json.dumps(ONE_AT_A_TIME))
    result["metadata"].setdefault("annotations", {})[MARKER] = marker_value(requested)
    return result


def rolls_pods(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """Whether an apply replaces the pods: the pod template the server returned differs from the live one."""
    if not before or not after:
        return False
    return (before.get("spec") or {}).get("template") != (after.get("spec") or {}).get("template")
