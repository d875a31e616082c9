"""Container images for the real node, built without Docker, cached by the content of their recipe.

Two images, both packed by umoci into an OCI layout and written as a tar for ``ctr images import``:

* ``PAUSE_IMAGE``: the sandbox image of containerd's CRI plugin (``sandbox_image``): the static Go program of
  ``gomod/pause``, which sleeps until SIGTERM or SIGINT.
* ``TRITON_IMAGE``: a CPU-only Triton Inference Server. A Debian minbase root file system made by mmdebstrap from
  the host's apt sources, plus the ``tritonserver`` build that PyPI's ``nvidia-pytriton`` wheel ships. It is a
  local build, not NVIDIA's image: no CUDA runtime and no GPU backends, but the Python backend works.

Each image lands in ``<cache root>/images/<name>-<key12>/image.tar``. The key hashes the image's recipe: the
Debian suite and packages, the wheel's name, version and hash, the Go source of pause, the image config,
``RECIPE_VERSION`` and the text of this file. A stamp is written only after a successful build; an image whose
stamp carries its key is not built again. The apt mirror is not part of the key: it changes what Debian's
packages contain over time, not what the recipe asks for.

Run by hand from the repository root: ``python3 -m tools.localcluster._images build [--force]``, or
``... import --ctr ctr --address /path/to/containerd.sock``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from . import _versions as v
from ._build import run_step
from ._errors import LocalClusterError, with_log

TRITON_VERSION = "2.51.0"
PYTRITON_VERSION = "0.7.0"  # the nvidia-pytriton release that ships Triton TRITON_VERSION
PAUSE_VERSION = "1.0"
RECIPE_VERSION = 1  # bump to rebuild every image when something outside the hashed inputs changes

REPOSITORY_PREFIX = "localhost/inference-triton"
PAUSE_IMAGE = f"{REPOSITORY_PREFIX}/pause:{PAUSE_VERSION}"
TRITON_IMAGE = f"{REPOSITORY_PREFIX}/tritonserver-cpu:{TRITON_VERSION}"

DEBIAN_SUITE = "bookworm"
DEBIAN_PYTHON = "3.11"  # bookworm's python3; picks the Python backend stub built for it
# libpython: the Python backend stub links it (without it no Python model loads); python3-numpy: the backend's
# triton_python_backend_utils imports numpy. libgomp1 (OpenMP) is linked by nothing in the wheel; it is kept, as in
# the manual trial, for model code that expects it. ca-certificates: for models that fetch over HTTPS.
DEBIAN_PACKAGES = ("python3", "python3-numpy", f"libpython{DEBIAN_PYTHON}", "libgomp1", "ca-certificates")
# Left out of the root file system to keep it small; the copyright files stay.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
DPKG_INCLUDES = ("/usr/share/doc/*/copyright",)

WHEEL_NAME = "nvidia-pytriton"
# Machine -> (wheel platform tag, sha256 of the wheel file). The hash is checked by pip (--require-hashes).
WHEELS = {
    "x86_64": ("manylinux_2_35_x86_64", "21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df"),
}

# The wheel keeps tritonserver in pytriton/tritonserver/ and its libraries in nvidia_pytriton.libs/, found through
# RPATH $ORIGIN/../../../nvidia_pytriton.libs: both are copied with that relative layout under WHEEL_ROOT.
# /opt/tritonserver links to the server tree because Triton's default --backend-directory is
# /opt/tritonserver/backends (the Deployment does not pass one).
WHEEL_ROOT = "opt/nvidia-pytriton"
SERVER_TREE = "pytriton/tritonserver"
LIBS_TREE = "nvidia_pytriton.libs"
TRITON_HOME = "opt/tritonserver"
STUB_NAME = "triton_python_backend_stub"
BINARY = f"{SERVER_TREE}/bin/tritonserver"
# The wheel bundles a libpython for its newest stub only; the stub kept here links the image's own libpython.
UNUSED_LIBS = (f"{LIBS_TREE}/libpython3-",)
LAYER_MTIME = 1704067200  # 2024-01-01T00:00:00Z on every entry of the layers written here: reproducible layers

PAUSE_SOURCE = v.GOMOD_DIR / "pause"
PAUSE_CONFIG: dict[str, Sequence[str]] = {
    "entrypoint": ["/pause"],
    "user": ["65535:65535"],
    "label": ["org.opencontainers.image.title=inference-triton pause (local build)"],
}
# No entrypoint: the Deployment sets only `args` (["tritonserver", "--model-repository=...", ...]), which replace
# Cmd, so they must be the whole command line. HOME: uid 1000 has no passwd entry; /tmp is writable for anyone.
TRITON_CONFIG: dict[str, Sequence[str]] = {
    "env": [
        "PATH=/opt/tritonserver/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/tmp",
    ],
    "cmd": ["tritonserver", "--model-repository=/models"],
    "user": ["1000:1000"],
    "workingdir": ["/"],
    "label": [
        f"org.opencontainers.image.title=Triton Inference Server {TRITON_VERSION}, CPU-only local build",
        f"org.opencontainers.image.description=Debian {DEBIAN_SUITE} minbase + tritonserver from "
        f"{WHEEL_NAME} {PYTRITON_VERSION}; not an NVIDIA image, no GPU support",
        f"org.opencontainers.image.version={TRITON_VERSION}",
    ],
}

ARCHIVE = "image.tar"
STAMP = ".stamp"
TOOL_PACKAGES = {"mmdebstrap": "mmdebstrap", "umoci": "umoci", "ctr": "containerd"}
TOOLS = {"pause": ("go", "umoci"), "tritonserver-cpu": ("mmdebstrap", "umoci", "pip")}
APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Image:
    """A built image: its short name, the reference it is imported as, the archive and the recipe key."""

    name: str
    ref: str
    archive: Path
    key: str
    digest: str = ""  # the manifest digest, as `ctr images ls` shows it after the import


@dataclass(frozen=True)
class Recipe:
    """Everything an image is built from; ``inputs`` is what the cache key hashes."""

    name: str
    ref: str
    config: Mapping[str, Sequence[str]]
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return cache_key(self.ref, self.config, self.inputs)


# --- recipes and keys ------------------------------------------------------------------------------------------


def cache_key(ref: str, config: Mapping[str, Sequence[str]], inputs: Mapping[str, Any]) -> str:
    """Return the sha256 of a recipe in a canonical JSON form (key order does not matter)."""
    doc = {"recipe_version": RECIPE_VERSION, "ref": ref, "config": config, "inputs": inputs}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def builder_digest() -> str:
    """Return the sha256 of this file: a change to how images are built rebuilds them."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def go_sources(folder: Path) -> dict[str, str]:
    """Return the Go files and go.mod of a module folder, by name."""
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.suffix == ".go" or p.name == "go.mod"}


def machine() -> str:
    return os.uname().machine


def wheel_for(arch: str) -> tuple[str, str]:
    """Return the wheel platform tag and hash for a machine, or raise for a machine without a pinned wheel."""
    try:
        return WHEELS[arch]
    except KeyError:
        raise LocalClusterError(
            f"no {WHEEL_NAME} {PYTRITON_VERSION} wheel is pinned for {arch}; the Triton image can only be built "
            f"on {', '.join(sorted(WHEELS))}"
        ) from None


def pause_recipe() -> Recipe:
    inputs = {"builder": builder_digest(), "source": go_sources(PAUSE_SOURCE), "arch": machine()}
    return Recipe("pause", PAUSE_IMAGE, PAUSE_CONFIG, inputs)


def triton_recipe() -> Recipe:
    platform, sha256 = wheel_for(machine())
    inputs = {
        "builder": builder_digest(),
        "suite": DEBIAN_SUITE,
        "packages": list(DEBIAN_PACKAGES),
        "dpkg": {"exclude": list(DPKG_EXCLUDES), "include": list(DPKG_INCLUDES)},
        "python": DEBIAN_PYTHON,
        "wheel": {"name": WHEEL_NAME, "version": PYTRITON_VERSION, "platform": platform, "sha256": sha256},
    }
    return Recipe("tritonserver-cpu", TRITON_IMAGE, TRITON_CONFIG, inputs)


def recipes() -> list[Recipe]:
    """Return the recipes, quickest first so that a missing tool shows early."""
    return [pause_recipe(), triton_recipe()]


def split_ref(ref: str) -> tuple[str, str]:
    """Split ``repo/name:tag`` into (``repo/name``, ``tag``); the tag is empty when there is none."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, ""
    return name, tag


# --- cache folder and stamp ------------------------------------------------------------------------------------


def images_root() -> Path:
    return v.cache_root() / "images"


def image_dir(recipe: Recipe, root: Path | None = None) -> Path:
    """Return ``<cache root>/images/<name>-<first 12 hex digits of the key>``."""
    return (root or images_root()) / f"{recipe.name}-{recipe.key[:12]}"


def read_stamp(outdir: Path) -> dict[str, Any]:
    try:
        data = json.loads((outdir / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_stamp(outdir: Path, image: Image, seconds: float) -> None:
    """Write the stamp last, through a rename, so that a present stamp means a complete archive."""
    stamp = {
        "ref": image.ref,
        "key": image.key,
        "digest": image.digest,
        "bytes": image.archive.stat().st_size,
        "seconds": round(seconds),
        "built": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    part = outdir / (STAMP + ".part")
    part.write_text(json.dumps(stamp, indent=2) + "\n")
    os.replace(part, outdir / STAMP)


def cached_image(recipe: Recipe, root: Path | None = None) -> Image | None:
    """Return the image built from this recipe if its stamp and archive are present, else None."""
    outdir = image_dir(recipe, root)
    stamp = read_stamp(outdir)
    archive = outdir / ARCHIVE
    if stamp.get("key") != recipe.key or stamp.get("ref") != recipe.ref or not stamp.get("digest"):
        return None
    if not archive.is_file():
        return None
    return Image(recipe.name, recipe.ref, archive, recipe.key, str(stamp["digest"]))


def stale_dirs(recipe: Recipe, root: Path | None = None) -> list[Path]:
    """Return the cache folders of older builds of the same image (another key)."""
    root = root or images_root()
    keep = image_dir(recipe, root)
    pattern = re.compile(rf"{re.escape(recipe.name)}-[0-9a-f]{{12}}")
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p != keep and pattern.fullmatch(p.name))


# --- host checks -----------------------------------------------------------------------------------------------


def require_tool(name: str) -> str:
    """Return the path of a tool, or raise an error naming the Debian package that provides it."""
    found = shutil.which(name)
    if found:
        return found
    if name == "go":
        raise LocalClusterError(
            "`go` is not on PATH; the pause image is compiled from tools/localcluster/gomod/pause. Install Go "
            "(the same toolchain `make cluster-build` uses) and put its bin/ folder on PATH."
        )
    package = TOOL_PACKAGES.get(Path(name).name, Path(name).name)
    raise LocalClusterError(f"`{name}` is not on PATH; install the Debian package: apt-get install {package}")


def require_pip() -> None:
    if importlib.util.find_spec("pip") is None:
        raise LocalClusterError(
            f"{sys.executable} has no pip, which downloads the {WHEEL_NAME} wheel; install the Debian package "
            "python3-pip or run the tool with the project's .venv/bin/python"
        )


def check_tools(todo: Iterable[Recipe]) -> None:
    """Fail before the first step when a tool that building these images needs is missing."""
    for tool in dict.fromkeys(t for recipe in todo for t in TOOLS[recipe.name]):
        if tool == "pip":
            require_pip()
        else:
            require_tool(tool)


def _has_entries(path: Path) -> bool:
    lines = (line.strip() for line in path.read_text(errors="replace").splitlines())
    return any(line and not line.startswith("#") for line in lines)


def apt_sources(etc: Path = APT_DIR) -> list[Path]:
    """Return the host's apt source files (sources.list, sources.list.d/*.list and *.sources) with entries."""
    candidates = [etc / "sources.list"]
    folder = etc / "sources.list.d"
    if folder.is_dir():
        candidates += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    found = [p for p in candidates if p.is_file() and _has_entries(p)]
    if not found:
        raise LocalClusterError(
            f"no apt sources in {etc}/sources.list or {etc}/sources.list.d/; mmdebstrap builds the Triton image "
            "from the host's Debian mirror"
        )
    return found


def mounts_under(path: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Return the mount points at or below ``path`` (mountinfo's fifth field, octal escapes decoded)."""
    prefix = str(path.resolve())
    found = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def remove_tree(path: Path) -> None:
    """Delete a folder, refusing when something is still mounted below it (rmtree would descend into it)."""
    if not path.exists():
        return
    busy = mounts_under(path)
    if busy:
        raise LocalClusterError(f"refusing to delete {path}: still mounted below it: {', '.join(busy)}")
    shutil.rmtree(path)


# --- layers ----------------------------------------------------------------------------------------------------


class LayerWriter:
    """Write a reproducible layer tar: root-owned entries, fixed time stamps, parent folders added once (0755)."""

    def __init__(self, path: Path) -> None:
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (closed in close())
        self.dirs: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, LAYER_MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def directory(self, name: str) -> None:
        parts = name.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path not in self.dirs:
                self.dirs.add(path)
                self.tar.addfile(self._info(path, tarfile.DIRTYPE, 0o755))

    def file(self, name: str, data: IO[bytes], size: int, executable: bool) -> None:
        name = name.strip("/")
        if "/" in name:
            self.directory(name.rsplit("/", 1)[0])
        info = self._info(name, tarfile.REGTYPE, 0o755 if executable else 0o644)
        info.size = size
        self.tar.addfile(info, data)

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        if "/" in name:
            self.directory(name.rsplit("/", 1)[0])
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def close(self) -> None:
        self.tar.close()


def wheel_layout(names: Iterable[str], python: str = DEBIAN_PYTHON) -> dict[str, str]:
    """Map the wheel members the image needs to their paths in the image.

    The server tree and the bundled libraries keep their relative layout under WHEEL_ROOT (minus UNUSED_LIBS); of
    the Python backend stubs only the one for the image's Python is kept, copied where the Python backend looks
    for it (``backends/python/``, as deep as ``python_backend_stubs/<version>/``, so its RPATH still holds).
    """
    stubs = f"{SERVER_TREE}/python_backend_stubs/"
    wanted_stub = f"{stubs}{python}/{STUB_NAME}"
    layout: dict[str, str] = {}
    for name in names:
        if name.endswith("/"):
            continue
        if name.startswith(stubs):
            if name == wanted_stub:
                layout[name] = f"{WHEEL_ROOT}/{SERVER_TREE}/backends/python/{STUB_NAME}"
        elif name.startswith((f"{SERVER_TREE}/", f"{LIBS_TREE}/")) and not name.startswith(UNUSED_LIBS):
            layout[name] = f"{WHEEL_ROOT}/{name}"
    missing = [n for n in (BINARY, wanted_stub) if n not in layout]
    if missing:
        raise LocalClusterError(f"the {WHEEL_NAME} wheel lacks {', '.join(missing)}")
    return layout


def write_triton_layer(wheel: Path, out: Path) -> None:
    """Write the layer holding Triton: the wheel's server tree and libraries, /opt/tritonserver, a PATH link."""
    writer = LayerWriter(out)
    try:
        with zipfile.ZipFile(wheel) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            for member, target in sorted(wheel_layout(infos).items(), key=lambda item: item[1]):
                info = infos[member]
                executable = bool((info.external_attr >> 16) & 0o111)
                with archive.open(info) as data:
                    writer.file(target, data, info.file_size, executable)
        writer.symlink(TRITON_HOME, f"{WHEEL_ROOT.rsplit('/', 1)[1]}/{SERVER_TREE}")
        writer.symlink("usr/local/bin/tritonserver", f"/{TRITON_HOME}/bin/tritonserver")
    finally:
        writer.close()


def write_pause_layer(binary: Path, out: Path) -> None:
    writer = LayerWriter(out)
    try:
        with binary.open("rb") as data:
            writer.file("pause", data, binary.stat().st_size, executable=True)
    finally:
        writer.close()


# --- build steps -----------------------------------------------------------------------------------------------


def _timed(step: str, func: Callable[..., object], *args: Any) -> None:
    print(f"[images] {step}", file=sys.stderr, flush=True)
    start = time.monotonic()
    func(*args)
    print(f"[images]   done in {time.monotonic() - start:.1f}s", file=sys.stderr, flush=True)


def _quiet(argv: list[str], cwd: Path, log: Path) -> None:
    """Run a quick command with its output appended to ``log`` (no heartbeat)."""
    with log.open("ab") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n".encode())
        out.flush()
        code = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise with_log(f"command failed (exit status {code}): {' '.join(argv)}", log)


def mmdebstrap_argv(tool: str, sources: Sequence[Path], rootfs: Path) -> list[str]:
    """Return the mmdebstrap command line: minbase plus DEBIAN_PACKAGES, the host's sources, no /dev nodes."""
    argv = [tool, "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", "--skip=output/dev"]
    argv += [f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES]
    argv += [f"--dpkgopt=path-include={p}" for p in DPKG_INCLUDES]
    return [*argv, DEBIAN_SUITE, str(rootfs), *map(str, sources)]


def download_wheel(dest: Path, log: Path) -> Path:
    """Fetch the pinned wheel with pip (its cache makes a second download cheap) and return its path."""
    require_pip()
    platform, sha256 = wheel_for(machine())
    requirements = dest / "wheel-requirements.txt"
    requirements.write_text(f"{WHEEL_NAME}=={PYTRITON_VERSION} --hash=sha256:{sha256}\n")
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes"]
    argv += ["--platform", platform, "--python-version", DEBIAN_PYTHON, "--disable-pip-version-check"]
    argv += ["--progress-bar", "off", "-r", str(requirements), "-d", str(dest)]
    run_step(f"download the {WHEEL_NAME} {PYTRITON_VERSION} wheel with pip", argv, dest, log, dict(os.environ))
    wheels = sorted(dest.glob(f"{WHEEL_NAME.replace('-', '_')}-{PYTRITON_VERSION}-*.whl"))
    if not wheels:
        raise with_log(f"pip reported success but left no {WHEEL_NAME} wheel in {dest}", log)
    return wheels[0]


def pause_layers(work: Path, log: Path) -> list[Path]:
    go = require_tool("go")
    binary = work / "pause"
    env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local")
    argv = [go, "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", str(binary), "."]
    run_step("compile the static pause binary", argv, PAUSE_SOURCE, log, env)
    layer = work / "pause-layer.tar"
    write_pause_layer(binary, layer)
    return [layer]


def triton_layers(work: Path, log: Path) -> list[Path]:
    mmdebstrap = require_tool("mmdebstrap")
    rootfs = work / "rootfs.tar"
    tmp = work / "tmp"
    tmp.mkdir()
    step = f"mmdebstrap {DEBIAN_SUITE} minbase + {', '.join(DEBIAN_PACKAGES)}"
    run_step(step, mmdebstrap_argv(mmdebstrap, apt_sources(), rootfs), work, log, dict(os.environ, TMPDIR=str(tmp)))
    wheel = download_wheel(work, log)
    layer = work / "triton-layer.tar"
    _timed(f"write the Triton layer from {wheel.name}", write_triton_layer, wheel, layer)
    return [rootfs, layer]


LAYER_BUILDERS = {"pause": pause_layers, "tritonserver-cpu": triton_layers}


def umoci_config_args(config: Mapping[str, Sequence[str]]) -> list[str]:
    """Turn an image config mapping into ``umoci config`` flags (a list value repeats its flag)."""
    return [f"--config.{key}={value}" for key, values in config.items() for value in values]


def manifest_digest(index: Mapping[str, Any], ref: str) -> str:
    """Return the digest of the manifest an OCI index.json names ``ref``."""
    for desc in index.get("manifests", []):
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
            return str(desc["digest"])
    raise LocalClusterError(f"the OCI layout has no manifest named {ref}")


def pack(recipe: Recipe, layers: Sequence[Path], layout: Path, log: Path) -> str:
    """Pack layers and config into an OCI layout with umoci; return the manifest digest."""
    umoci = require_tool("umoci")
    image = f"{layout}:{recipe.ref}"
    _quiet([umoci, "init", "--layout", str(layout)], layout.parent, log)
    _quiet([umoci, "new", "--image", image], layout.parent, log)
    for layer in layers:
        created_by = f"tools/localcluster/_images.py: {layer.name}"
        argv = [umoci, "raw", "add-layer", "--image", image, "--history.created_by", created_by, str(layer)]
        run_step(
            f"umoci: add {layer.name} ({layer.stat().st_size / 2**20:.0f} MiB) to {recipe.ref}",
            argv,
            layout.parent,
            log,
            dict(os.environ),
        )
    config = [umoci, "config", "--image", image, *umoci_config_args(recipe.config)]
    _quiet([*config, "--history.created_by", "tools/localcluster/_images.py: image config"], layout.parent, log)
    _quiet([umoci, "gc", "--layout", str(layout)], layout.parent, log)
    return manifest_digest(json.loads((layout / "index.json").read_text()), recipe.ref)


def write_archive(layout: Path, archive: Path) -> None:
    """Tar an OCI layout (index.json, oci-layout, blobs/ at the top) for ``ctr images import``."""
    part = archive.with_name(archive.name + ".part")
    with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    os.replace(part, archive)


def build_one(recipe: Recipe) -> Image:
    """Build one image into its cache folder, stamp it, and delete the older builds of the same image."""
    outdir = image_dir(recipe)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / STAMP).unlink(missing_ok=True)
    log = outdir / "build.log"
    log.write_bytes(b"")
    work = outdir / "work"
    remove_tree(work)
    work.mkdir()
    print(f"[images] building {recipe.ref} (key {recipe.key[:12]}) in {outdir}", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        layers = LAYER_BUILDERS[recipe.name](work, log)
        digest = pack(recipe, layers, work / "layout", log)
        _timed(f"write {ARCHIVE}", write_archive, work / "layout", outdir / ARCHIVE)
    except BaseException:
        with contextlib.suppress(LocalClusterError):  # a mount left below work/ shows on the next build
            remove_tree(work)
        raise
    remove_tree(work)
    took = time.monotonic() - start
    image = Image(recipe.name, recipe.ref, outdir / ARCHIVE, recipe.key, digest)
    write_stamp(outdir, image, took)
    for old in stale_dirs(recipe):
        remove_tree(old)
    size = image.archive.stat().st_size / 2**20
    print(f"[images] {recipe.ref} built in {took:.0f}s: {size:.0f} MiB, {digest}", file=sys.stderr, flush=True)
    return image


def build_images(force: bool = False) -> list[Image]:
    """Return the pause and Triton images, building those without a stamp for their key (all with ``force``)."""
    plan = [(recipe, None if force else cached_image(recipe)) for recipe in recipes()]
    check_tools(recipe for recipe, cached in plan if cached is None)
    images = []
    for recipe, image in plan:
        if image is None:
            image = build_one(recipe)
        else:
            print(f"[images] {image.ref} cached: {image.archive}", file=sys.stderr, flush=True)
        images.append(image)
    return images


# --- import into containerd ------------------------------------------------------------------------------------


def parse_image_list(text: str) -> dict[str, str]:
    """Parse ``ctr images ls`` (REF TYPE DIGEST SIZE PLATFORMS LABELS) into {ref: digest}."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            found[fields[0]] = fields[2]
    return found


def _ctr(ctr: str, address: str, namespace: str, *args: str) -> str:
    argv = [ctr, "--address", address, "--namespace", namespace, *args]
    out = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if out.returncode != 0:
        raise LocalClusterError(f"`{' '.join(argv)}` failed (exit status {out.returncode}): {out.stderr.strip()}")
    return out.stdout


def image_digests(ctr: str, address: str, namespace: str = "k8s.io") -> dict[str, str]:
    """Return {ref: manifest digest} of the images a containerd holds in a namespace."""
    return parse_image_list(_ctr(ctr, address, namespace, "images", "ls"))


def import_argv(ctr: str, address: str, namespace: str, image: Image) -> list[str]:
    """Return the import command: --base-name keeps exactly the archive's ref (a full name, not just a tag)."""
    base, _ = split_ref(image.ref)
    return [
        ctr,
        "--address",
        address,
        "--namespace",
        namespace,
        "images",
        "import",
        "--base-name",
        base,
        str(image.archive),
    ]


def refs_to_replace(listing: Mapping[str, str], ref: str) -> list[str]:
    """Return what to delete before importing other content under ``ref``: the name itself, and the
    ``sha256:<image id>`` names the CRI plugin added for the old content unless another name still uses it.

    Deleting first makes the import an image *creation*, for which the CRI plugin records the new image id again.
    """
    old = listing.get(ref)
    if not old:
        return []
    same = [r for r, digest in listing.items() if digest == old and r != ref]
    ids = [r for r in same if r.startswith("sha256:")]
    return [ref] if len(ids) < len(same) else [ref, *ids]


def import_images(ctr: str, address: str, images: list[Image], namespace: str = "k8s.io") -> None:
    """Import images into a running containerd, skipping those already there with the same manifest digest."""
    if not shutil.which(ctr):
        require_tool(ctr)
    present = image_digests(ctr, address, namespace)
    for image in images:
        if image.digest and present.get(image.ref) == image.digest:
            print(f"[images] {image.ref} already in containerd ({namespace})", file=sys.stderr, flush=True)
            continue
        stale = refs_to_replace(present, image.ref)
        if stale:
            print(f"[images] replacing {', '.join(stale)} (other content)", file=sys.stderr, flush=True)
            _ctr(ctr, address, namespace, "images", "rm", *stale)
        log = image.archive.parent / "import.log"
        log.write_bytes(b"")
        step = f"import {image.ref} ({image.archive.stat().st_size / 2**20:.0f} MiB) into containerd ({namespace})"
        run_step(step, import_argv(ctr, address, namespace, image), image.archive.parent, log, dict(os.environ))
    present = image_digests(ctr, address, namespace)
    wrong = [i.ref for i in images if i.ref not in present or (i.digest and present[i.ref] != i.digest)]
    if wrong:
        raise LocalClusterError(f"after the import containerd lacks (or holds other content for): {', '.join(wrong)}")


# --- by hand ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.localcluster._images", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the images (or reuse the cached ones)")
    build.add_argument("--force", action="store_true")
    imp = sub.add_parser("import", help="build if needed, then import into a running containerd")
    imp.add_argument("--ctr", default="ctr")
    imp.add_argument("--address", required=True, help="containerd's socket")
    imp.add_argument("--namespace", default="k8s.io")
    args = parser.parse_args(argv)
    try:
        images = build_images(force=getattr(args, "force", False))
        if args.command == "import":
            import_images(args.ctr, args.address, images, args.namespace)
    except LocalClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for image in images:
        print(f"{image.ref}\t{image.digest}\t{image.archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
