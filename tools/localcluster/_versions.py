"""Pinned versions and the places derived from them: the one file to edit for a version bump.

Bumping Kubernetes: change KUBERNETES_VERSION here, then run ``tools/localcluster/gen-k8s-gomod.sh <version>``
to regenerate ``gomod/k8s/go.mod``. etcd, kwok, helm and kube-score: change the variable, then
``go get <module>@<version>`` and ``go mod tidy`` inside their ``gomod/`` folder. ``build`` refuses to run while a
go.mod disagrees.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES_VERSION = "v1.35.4"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# helm is no part of the cluster: it is built only on demand, for the tests and benchmarks that compare the
# collection with the triton-backend chart (`localcluster.py tool-path helm`). Helm 3: that chart's apiVersion v2.
HELM_VERSION = "v3.21.4"
# kube-score, the manifest checker of the hardening tests: built on demand too (`localcluster.py tool-path kube-score`).
KUBE_SCORE_VERSION = "v1.20.0"

# kwok v0.8.0 declares `go 1.26.0`; k8s v1.35 declares `go 1.25.0`.
GO_MIN_VERSION = (1, 26)

PROJECT = "inference-triton"
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
GOMOD_DIR = HERE / "gomod"
DEFAULT_STATE_DIR = REPO_ROOT / ".localcluster"

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")

# Stage definitions shipped in the kwok module (read from the module cache at start-up, never copied here).
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def cache_root() -> Path:
    """Return the per-user cache folder holding the built binaries (outside the clone)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / PROJECT


def kube_dir() -> Path:
    return cache_root() / f"k8s-{KUBERNETES_VERSION}"


def etcd_dir() -> Path:
    return cache_root() / f"etcd-{ETCD_VERSION}"


def kwok_dir() -> Path:
    return cache_root() / f"kwok-{KWOK_VERSION}"


def helm_dir() -> Path:
    return cache_root() / f"helm-{HELM_VERSION}"


def kube_score_dir() -> Path:
    return cache_root() / f"kube-score-{KUBE_SCORE_VERSION}"


def staging_version(kube_version: str = KUBERNETES_VERSION) -> str:
    """Map a Kubernetes release to the version of its published staging modules (v1.35.4 -> v0.35.4)."""
    major, rest = kube_version.lstrip("v").split(".", 1)
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kube_version!r}")
    return f"v0.{rest}"


def binary_paths() -> dict[str, Path]:
    """Return the path of every binary the cluster runs, keyed by component name."""
    paths = {name: kube_dir() / name for name in KUBE_BINARIES}
    paths["etcd"] = etcd_dir() / "etcd"
    paths["kwok"] = kwok_dir() / "kwok"
    return paths
