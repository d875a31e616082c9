"""Build etcd, the Kubernetes binaries and kwok from the pinned Go modules; helm and kube-score only on demand.

Each target builds inside its wrapper module under ``gomod/`` into a versioned folder of the user cache. A stamp
file is written only after a build succeeded, and a target with a stamp is skipped. helm and kube-score are no part
of the cluster: ``build`` and ``up`` never build them; ``build_tool`` (``localcluster.py tool-path NAME``, the pytest
fixtures ``helm_binary`` and ``kube_score_binary``) does, for the tests and benchmarks that run them.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import _versions as v
from ._errors import LocalClusterError, with_log

STAMP = ".stamp"
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Target:
    """One wrapper module and what it produces."""

    name: str
    version: str
    gomod: Path
    outdir: Path
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    tags: str = ""
    ldflags: str = "-s -w"


def kube_ldflags(version: str, build_date: str) -> str:
    """Return the -ldflags that make the Kubernetes binaries report their real version on /version."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", build_date),
        ):
            flags.append(f"-X {pkg}.{key}={value}")
    return " ".join(flags)


def build_date() -> str:
    """Return the build date: SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def targets() -> list[Target]:
    """Return the three build targets, quickest first so that a broken toolchain shows early."""
    return [
        Target("etcd", v.ETCD_VERSION, v.GOMOD_DIR / "etcd", v.etcd_dir(), ("go.etcd.io/etcd/server/v3",), ("etcd",)),
        Target("kwok", v.KWOK_VERSION, v.GOMOD_DIR / "kwok", v.kwok_dir(), ("sigs.k8s.io/kwok/cmd/kwok",), ("kwok",)),
        Target(
            "kubernetes",
            v.KUBERNETES_VERSION,
            v.GOMOD_DIR / "k8s",
            v.kube_dir(),
            tuple(f"k8s.io/kubernetes/cmd/{name}" for name in v.KUBE_BINARIES),
            v.KUBE_BINARIES,
            tags="selinux,notest",
            ldflags=kube_ldflags(v.KUBERNETES_VERSION, build_date()),
        ),
    ]


def helm_ldflags(version: str, client_go: str) -> str:
    """Return the -ldflags of helm's own Makefile: its version, and the Kubernetes version of its client-go.

    ``client_go`` is the client-go module version helm builds with (v0.36.2 -> Kubernetes 1.36): helm reports it as
    ``.Capabilities.KubeVersion`` to ``helm template`` when no cluster is asked.
    """
    minor = client_go.lstrip("v").split(".")[1]
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={version}"]
    flags.append("-X helm.sh/helm/v3/internal/version.gitTreeState=clean")
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {pkg}.k8sVersionMajor=1", f"-X {pkg}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def helm_target() -> Target:
    """The on-demand helm target (not in ``targets()``, so neither ``build`` nor ``up`` builds it)."""
    gomod = v.GOMOD_DIR / "helm"
    client_go = gomod_pin(gomod / "go.mod", "k8s.io/client-go") or "v0.0.0"
    return Target(
        "helm",
        v.HELM_VERSION,
        gomod,
        v.helm_dir(),
        ("helm.sh/helm/v3/cmd/helm",),
        ("helm",),
        ldflags=helm_ldflags(v.HELM_VERSION, client_go),
    )


def kube_score_target() -> Target:
    """The on-demand kube-score target: the manifest checker of the hardening tests."""
    return Target(
        "kube-score",
        v.KUBE_SCORE_VERSION,
        v.GOMOD_DIR / "kube-score",
        v.kube_score_dir(),
        ("github.com/zegl/kube-score/cmd/kube-score",),
        ("kube-score",),
        ldflags=f"-s -w -X main.version={v.KUBE_SCORE_VERSION.lstrip('v')}",
    )


# Tools for tests and benchmarks, built on demand: name -> (target, module whose pin _versions.py holds).
ON_DEMAND = {
    "helm": (helm_target, "helm.sh/helm/v3"),
    "kube-score": (kube_score_target, "github.com/zegl/kube-score"),
}


def is_built(target: Target) -> bool:
    """Tell whether a target's stamp and every one of its binaries are present."""
    if not (target.outdir / STAMP).is_file():
        return False
    return all(os.access(target.outdir / name, os.X_OK) for name in target.binaries)


def all_built() -> bool:
    return all(is_built(t) for t in targets())


def read_stamp(outdir: Path) -> dict[str, str]:
    try:
        return json.loads((outdir / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def parse_go_version(text: str) -> tuple[int, int]:
    """Parse `go version` output (``go version go1.26.8 linux/amd64``) into (major, minor)."""
    match = re.search(r"\bgo(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"cannot read a Go version from {text!r}")
    return int(match.group(1)), int(match.group(2))


def check_go() -> str:
    """Return the path of a usable `go`, or raise an error saying what to install."""
    want = ".".join(map(str, v.GO_MIN_VERSION))
    go = shutil.which("go")
    if not go:
        raise LocalClusterError(
            f"`go` is not on PATH. Building the local cluster needs Go {want} or newer: install the official Go "
            "tarball (for example into /usr/local/go), add its bin/ folder to PATH, and run `make cluster-build` "
            "again. The Go module proxy must be reachable (GOPROXY) for the first build."
        )
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=False).stdout
    try:
        found = parse_go_version(out)
    except ValueError as exc:
        raise LocalClusterError(f"`{go} version` printed something unexpected: {out!r}") from exc
    if found < v.GO_MIN_VERSION:
        raise LocalClusterError(
            f"{out.strip()} is too old: kwok {v.KWOK_VERSION} and Kubernetes {v.KUBERNETES_VERSION} need Go {want} "
            "or newer. Install a newer Go and put it first on PATH."
        )
    return go


def gomod_pin(gomod: Path, module: str) -> str | None:
    """Return the version a go.mod requires for a module, or None."""
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", re.MULTILINE)
    match = pattern.search(gomod.read_text())
    return match.group(1) if match else None


def check_tool_pin(name: str) -> None:
    """Refuse to build an on-demand tool when its wrapper go.mod and _versions.py disagree."""
    make, module = ON_DEMAND[name]
    target = make()
    found = gomod_pin(target.gomod / "go.mod", module)
    if found != target.version:
        raise LocalClusterError(
            f"{target.gomod / 'go.mod'} pins {module} {found} but _versions.py says {target.version}; bring them in "
            f"line (go get {module}@{target.version} && go mod tidy in {target.gomod})."
        )


def check_pins() -> None:
    """Refuse to build when a wrapper go.mod and _versions.py disagree (a half-done version bump)."""
    regenerate = "tools/localcluster/gen-k8s-gomod.sh {want}"
    expected = {
        v.GOMOD_DIR / "k8s" / "go.mod": ("k8s.io/kubernetes", v.KUBERNETES_VERSION, regenerate),
        v.GOMOD_DIR / "etcd" / "go.mod": ("go.etcd.io/etcd/server/v3", v.ETCD_VERSION, "go get {module}@{want}"),
        v.GOMOD_DIR / "kwok" / "go.mod": ("sigs.k8s.io/kwok", v.KWOK_VERSION, "go get {module}@{want}"),
    }
    for gomod, (module, want, fix) in expected.items():
        found = gomod_pin(gomod, module)
        if found != want:
            hint = fix.format(module=module, want=want)
            raise LocalClusterError(
                f"{gomod} pins {module} {found} but _versions.py says {want}; bring them in line ({hint})."
            )
    gomod = v.GOMOD_DIR / "k8s" / "go.mod"
    staging = v.staging_version()
    replaces = re.findall(r"=> (k8s\.io/\S+) (v\S+)", gomod.read_text())
    wrong = [f"{mod} {ver}" for mod, ver in replaces if ver != staging]
    if wrong:
        raise LocalClusterError(
            f"{gomod} replaces staging modules with versions other than {staging}: {', '.join(wrong)}; "
            f"regenerate it with tools/localcluster/gen-k8s-gomod.sh {v.KUBERNETES_VERSION}."
        )


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def run_step(step: str, argv: list[str], cwd: Path, log: Path, env: dict[str, str]) -> float:
    """Run one build step with its output appended to ``log``; print a heartbeat every 30 s to stderr."""
    print(f"[build] {step}", file=sys.stderr, flush=True)
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        next_beat = start + HEARTBEAT_SECONDS
        while True:
            try:
                code = proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now >= next_beat:
                    print(f"[build]   ... still {step}: {_elapsed(now - start)} elapsed, log: {log}", file=sys.stderr)
                    next_beat = now + HEARTBEAT_SECONDS
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait()
                raise
    took = time.monotonic() - start
    if code != 0:
        raise with_log(f"build step failed: {step} (exit status {code}, after {_elapsed(took)})", log)
    print(f"[build]   done in {_elapsed(took)}", file=sys.stderr, flush=True)
    return took


def output_path(target: Target) -> str:
    """Name the binary explicitly for one package (etcd's package path ends in /server/v3), else a folder."""
    if len(target.packages) == 1:
        return str(target.outdir / target.binaries[0])
    return f"{target.outdir}/"


def build_target(go: str, target: Target) -> None:
    """Download the modules of one target, compile it, and stamp its folder."""
    target.outdir.mkdir(parents=True, exist_ok=True)
    (target.outdir / STAMP).unlink(missing_ok=True)
    log = target.outdir / "build.log"
    log.write_bytes(b"")
    env = dict(os.environ, CGO_ENABLED="0")
    tags = ["-tags", target.tags] if target.tags else []
    label = f"{target.name} {target.version}"
    run_step(
        f"download Go modules for {label}",
        [go, "list", "-deps", *tags, *target.packages],
        target.gomod,
        log,
        env,
    )
    took = run_step(
        f"compile {label} ({', '.join(target.binaries)})",
        [go, "build", "-trimpath", *tags, "-ldflags", target.ldflags, "-o", output_path(target), *target.packages],
        target.gomod,
        log,
        env,
    )
    stamp = {"version": target.version, "seconds": f"{took:.0f}", "built": build_date()}
    if target.name == "kwok":
        stamp["module_dir"] = module_dir(go, target.gomod, "sigs.k8s.io/kwok")
    (target.outdir / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")


def module_dir(go: str, gomod: Path, module: str) -> str:
    """Return the folder of a module in the Go module cache."""
    out = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", module], cwd=gomod, capture_output=True, text=True, check=False
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise LocalClusterError(f"cannot locate {module} in the Go module cache: {out.stderr.strip()}")
    return out.stdout.strip()


def build(force: bool = False) -> None:
    """Build every target that has no stamp yet (or all of them with ``force``)."""
    todo = [t for t in targets() if force or not is_built(t)]
    if not todo:
        print(f"[build] binaries present in {v.cache_root()}, nothing to do", file=sys.stderr)
        return
    check_pins()
    go = check_go()
    for target in todo:
        build_target(go, target)
    print(f"[build] binaries ready in {v.cache_root()}", file=sys.stderr)


def build_tool(name: str, force: bool = False) -> Path:
    """Build an on-demand tool unless its stamp is there (or always with ``force``) and return the binary's path.

    A lock file beside the output folder serialises concurrent callers (two pytest workers, a benchmark), so the
    second one waits for the first build and then finds the stamp.
    """
    target = ON_DEMAND[name][0]()
    target.outdir.parent.mkdir(parents=True, exist_ok=True)
    with open(target.outdir.parent / f".{target.outdir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not is_built(target):
            check_tool_pin(name)
            build_target(check_go(), target)
    return target.outdir / target.binaries[0]


def kwok_stage_dir() -> Path:
    """Return the kwok module folder recorded at build time (holds the stage YAMLs)."""
    recorded = read_stamp(v.kwok_dir()).get("module_dir")
    if not recorded or not Path(recorded).is_dir():
        raise LocalClusterError(
            f"the kwok module source is not in the Go module cache (recorded: {recorded!r}); "
            f"remove {v.kwok_dir()} and run `make cluster-build` again."
        )
    return Path(recorded)
