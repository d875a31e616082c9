"""Unit tests of tools/localcluster/_images.py: keys, names, stamps and the pure helpers (no containerd, no network)."""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools.localcluster import _images as im
from tools.localcluster import _versions as v
from tools.localcluster._errors import LocalClusterError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the cache root at a temporary folder; return the images folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / v.PROJECT / "images"


@pytest.fixture
def pause_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of gomod/pause that a test may edit."""
    copy = tmp_path / "pause-src"
    shutil.copytree(im.PAUSE_SOURCE, copy)
    monkeypatch.setattr(im, "PAUSE_SOURCE", copy)
    return copy


# --- names -----------------------------------------------------------------------------------------------------


def test_refs_are_local_and_say_what_they_are() -> None:
    assert im.PAUSE_IMAGE.startswith("localhost/inference-triton/pause:")
    assert im.split_ref(im.PAUSE_IMAGE)[1] == im.PAUSE_VERSION
    assert im.TRITON_IMAGE == "localhost/inference-triton/tritonserver-cpu:2.51.0"
    assert im.TRITON_VERSION == "2.51.0"
    assert im.PYTRITON_VERSION == "0.7.0"
    assert [r.ref for r in im.recipes()] == [im.PAUSE_IMAGE, im.TRITON_IMAGE]
    assert not im.TRITON_IMAGE.startswith("nvcr.io")


@pytest.mark.parametrize(
    ("ref", "split"),
    [
        ("localhost/inference-triton/pause:1.0", ("localhost/inference-triton/pause", "1.0")),
        ("localhost:5000/a/b:2.51.0", ("localhost:5000/a/b", "2.51.0")),
        ("localhost:5000/a/b", ("localhost:5000/a/b", "")),
        ("busybox", ("busybox", "")),
    ],
)
def test_split_ref(ref: str, split: tuple[str, str]) -> None:
    assert im.split_ref(ref) == split


def test_import_keeps_the_full_ref_through_base_name(tmp_path: Path) -> None:
    image = im.Image("pause", im.PAUSE_IMAGE, tmp_path / "image.tar", "k" * 64, "sha256:" + "a" * 64)
    argv = im.import_argv("ctr", "/run/x.sock", "k8s.io", image)
    assert argv[:6] == ["ctr", "--address", "/run/x.sock", "--namespace", "k8s.io", "images"]
    assert argv[6:] == ["import", "--base-name", "localhost/inference-triton/pause", str(tmp_path / "image.tar")]


def test_image_dir_is_name_and_twelve_digits_of_the_key(cache: Path) -> None:
    recipe = im.pause_recipe()
    assert im.image_dir(recipe) == cache / f"pause-{recipe.key[:12]}"
    assert im.image_dir(im.triton_recipe()).name.startswith("tritonserver-cpu-")


# --- cache keys ------------------------------------------------------------------------------------------------


def test_key_is_stable_and_ignores_mapping_order() -> None:
    first = im.cache_key("r:1", {"cmd": ["a"], "env": ["X=1"]}, {"a": 1, "b": [1, 2]})
    again = im.cache_key("r:1", {"env": ["X=1"], "cmd": ["a"]}, {"b": [1, 2], "a": 1})
    assert first == again
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    ("ref", "config", "inputs"),
    [
        ("r:2", {"cmd": ["a"]}, {"a": 1}),
        ("r:1", {"cmd": ["b"]}, {"a": 1}),
        ("r:1", {"cmd": ["a"]}, {"a": 2}),
        ("r:1", {"cmd": ["a"]}, {"a": 1, "b": 0}),
    ],
)
def test_key_changes_with_every_part(ref: str, config: dict[str, list[str]], inputs: dict[str, int]) -> None:
    assert im.cache_key(ref, config, inputs) != im.cache_key("r:1", {"cmd": ["a"]}, {"a": 1})


def test_key_changes_with_the_recipe_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = im.triton_recipe().key
    monkeypatch.setattr(im, "RECIPE_VERSION", im.RECIPE_VERSION + 1)
    assert im.triton_recipe().key != before


def test_recipe_keys_are_stable_between_calls() -> None:
    assert im.pause_recipe().key == im.pause_recipe().key
    assert im.triton_recipe().key == im.triton_recipe().key
    assert im.pause_recipe().key != im.triton_recipe().key


def test_pause_key_follows_the_go_source(pause_source: Path) -> None:
    before = im.pause_recipe().key
    main = pause_source / "main.go"
    main.write_text(main.read_text() + "\n// changed\n")
    assert im.pause_recipe().key != before
    (pause_source / "README").write_text("not Go")  # files other than *.go and go.mod do not count
    changed = im.pause_recipe().key
    (pause_source / "README").write_text("still not Go")
    assert im.pause_recipe().key == changed


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("DEBIAN_SUITE", "trixie"),
        ("DEBIAN_PACKAGES", ("python3", "python3-numpy")),
        ("PYTRITON_VERSION", "0.7.1"),
        ("DEBIAN_PYTHON", "3.13"),
        ("TRITON_CONFIG", {"cmd": ["tritonserver"]}),
        ("WHEELS", {"x86_64": ("manylinux_2_35_x86_64", "0" * 64)}),
    ],
)
def test_triton_key_follows_its_recipe(monkeypatch: pytest.MonkeyPatch, attr: str, value: object) -> None:
    monkeypatch.setattr(im, "machine", lambda: "x86_64")
    before = im.triton_recipe().key
    monkeypatch.setattr(im, attr, value)
    assert im.triton_recipe().key != before


def test_keys_follow_the_builder_text(monkeypatch: pytest.MonkeyPatch) -> None:
    before = (im.pause_recipe().key, im.triton_recipe().key)
    monkeypatch.setattr(im, "builder_digest", lambda: "0" * 64)
    after = (im.pause_recipe().key, im.triton_recipe().key)
    assert before[0] != after[0] and before[1] != after[1]


def test_unknown_machine_is_a_clear_error() -> None:
    with pytest.raises(LocalClusterError, match=r"no nvidia-pytriton 0\.7\.0 wheel is pinned for riscv64"):
        im.wheel_for("riscv64")


# --- stamps ----------------------------------------------------------------------------------------------------


def _fake_build(recipe: im.Recipe, digest: str = "sha256:" + "b" * 64) -> im.Image:
    outdir = im.image_dir(recipe)
    outdir.mkdir(parents=True)
    (outdir / im.ARCHIVE).write_bytes(b"archive")
    image = im.Image(recipe.name, recipe.ref, outdir / im.ARCHIVE, recipe.key, digest)
    im.write_stamp(outdir, image, 12.3)
    return image


def test_no_stamp_means_not_cached(cache: Path) -> None:
    recipe = im.pause_recipe()
    im.image_dir(recipe).mkdir(parents=True)
    (im.image_dir(recipe) / im.ARCHIVE).write_bytes(b"half written")
    assert im.cached_image(recipe) is None


def test_stamp_makes_the_image_cached(cache: Path) -> None:
    recipe = im.pause_recipe()
    image = _fake_build(recipe)
    assert im.cached_image(recipe) == image
    stamp = json.loads((im.image_dir(recipe) / im.STAMP).read_text())
    assert stamp["key"] == recipe.key and stamp["ref"] == recipe.ref and stamp["digest"] == image.digest
    assert stamp["bytes"] == len(b"archive") and stamp["seconds"] == 12
    assert not (im.image_dir(recipe) / (im.STAMP + ".part")).exists()


def test_stamp_of_another_key_or_without_archive_is_ignored(cache: Path) -> None:
    recipe = im.pause_recipe()
    _fake_build(recipe)
    stamp_path = im.image_dir(recipe) / im.STAMP
    stamp = json.loads(stamp_path.read_text())
    stamp_path.write_text(json.dumps(dict(stamp, key="0" * 64)))
    assert im.cached_image(recipe) is None
    stamp_path.write_text(json.dumps(stamp))
    assert im.cached_image(recipe) is not None
    (im.image_dir(recipe) / im.ARCHIVE).unlink()
    assert im.cached_image(recipe) is None


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"key": "x"}'])
def test_broken_stamp_is_not_cached(cache: Path, text: str) -> None:
    recipe = im.pause_recipe()
    _fake_build(recipe)
    (im.image_dir(recipe) / im.STAMP).write_text(text)
    assert im.cached_image(recipe) is None


def test_build_images_skips_stamped_images(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = [_fake_build(r) for r in im.recipes()]
    monkeypatch.setattr(im, "build_one", lambda recipe: pytest.fail(f"rebuilt {recipe.name}"))
    assert im.build_images() == images
    built: list[str] = []
    monkeypatch.setattr(im, "build_one", lambda recipe: built.append(recipe.name) or images[len(built) - 1])
    assert im.build_images(force=True) == images
    assert built == ["pause", "tritonserver-cpu"]


def test_stale_dirs_are_other_keys_of_the_same_image(cache: Path) -> None:
    recipe = im.pause_recipe()
    _fake_build(recipe)
    for name in ("pause-0123456789ab", "pause-notakey", "tritonserver-cpu-0123456789ab"):
        (cache / name).mkdir()
    assert im.stale_dirs(recipe) == [cache / "pause-0123456789ab"]


# --- helpers ---------------------------------------------------------------------------------------------------


def test_parse_image_list() -> None:
    text = (
        "REF                                  TYPE                                       DIGEST   SIZE      "
        "PLATFORMS   LABELS\n"
        "localhost/inference-triton/pause:1.0 application/vnd.oci.image.manifest.v1+json sha256:aa 653.1 KiB "
        "linux/amd64 io.cri-containerd.image=managed\n"
        "sha256:cc application/vnd.oci.image.manifest.v1+json sha256:aa 653.1 KiB linux/amd64 -\n"
    )
    assert im.parse_image_list(text) == {"localhost/inference-triton/pause:1.0": "sha256:aa", "sha256:cc": "sha256:aa"}
    assert im.parse_image_list("REF TYPE DIGEST SIZE PLATFORMS LABELS\n") == {}


def test_refs_to_replace() -> None:
    listing = {"a:1": "sha256:old", "sha256:id1": "sha256:old", "b:1": "sha256:other", "sha256:id2": "sha256:other"}
    assert im.refs_to_replace(listing, "a:1") == ["a:1", "sha256:id1"]
    assert im.refs_to_replace(listing, "c:1") == []
    shared = dict(listing, **{"a:2": "sha256:old"})
    assert im.refs_to_replace(shared, "a:1") == ["a:1"]


def test_manifest_digest() -> None:
    index = {
        "manifests": [
            {"digest": "sha256:1", "annotations": {"org.opencontainers.image.ref.name": "other"}},
            {"digest": "sha256:2", "annotations": {"org.opencontainers.image.ref.name": im.TRITON_IMAGE}},
        ]
    }
    assert im.manifest_digest(index, im.TRITON_IMAGE) == "sha256:2"
    with pytest.raises(LocalClusterError):
        im.manifest_digest(index, im.PAUSE_IMAGE)


def test_umoci_config_args_repeat_list_values() -> None:
    args = im.umoci_config_args({"cmd": ["tritonserver", "--model-repository=/models"], "user": ["1000:1000"]})
    assert args == ["--config.cmd=tritonserver", "--config.cmd=--model-repository=/models", "--config.user=1000:1000"]


def test_triton_config_lets_the_deployment_args_be_the_command_line() -> None:
    assert "entrypoint" not in im.TRITON_CONFIG
    assert im.TRITON_CONFIG["cmd"][0] == "tritonserver"
    assert any(e.startswith("PATH=/opt/tritonserver/bin:") for e in im.TRITON_CONFIG["env"])
    assert im.TRITON_CONFIG["user"] == ["1000:1000"]
    render = pytest.importorskip("ansible_collections.inference.triton.plugins.module_utils._render")
    values = pytest.importorskip("ansible_collections.inference.triton.plugins.module_utils._values")
    options = values.merge_options({}, [])[0]  # every option, as the module renders them
    assert render._server_args(options, "/models")[0] == "tritonserver"


def test_mmdebstrap_argv_uses_the_given_sources_and_no_host_names(tmp_path: Path) -> None:
    sources = [tmp_path / "a.sources", tmp_path / "b.list"]
    argv = im.mmdebstrap_argv("/usr/bin/mmdebstrap", sources, tmp_path / "rootfs.tar")
    assert argv[0] == "/usr/bin/mmdebstrap" and "--variant=minbase" in argv
    assert f"--include={','.join(im.DEBIAN_PACKAGES)}" in argv
    tail = argv.index(im.DEBIAN_SUITE)
    assert argv[tail + 1 :] == [str(tmp_path / "rootfs.tar"), *map(str, sources)]
    assert not any("://" in arg for arg in argv)


def test_apt_sources_keeps_files_with_entries(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("# only a comment\n\n")
    folder = tmp_path / "sources.list.d"
    folder.mkdir()
    (folder / "b.sources").write_text("Types: deb\nURIs: file:/x\nSuites: s\nComponents: main\n")
    (folder / "a.list").write_text("deb file:/x s main\n")
    (folder / "c.list.disabled").write_text("deb file:/y s main\n")
    assert im.apt_sources(tmp_path) == [folder / "a.list", folder / "b.sources"]


def test_apt_sources_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LocalClusterError, match="no apt sources"):
        im.apt_sources(tmp_path)


def test_mounts_under(tmp_path: Path) -> None:
    base = tmp_path / "work dir"
    escaped = str(base).replace(" ", "\\040")
    info = tmp_path / "mountinfo"
    info.write_text(
        f"1 0 8:1 / / rw - ext4 /dev/vda rw\n"
        f"2 1 0:5 / {escaped}/rootfs/proc rw - proc proc rw\n"
        f"3 1 0:6 / {escaped}x rw - tmpfs tmpfs rw\n"
    )
    assert im.mounts_under(base, info) == [f"{base}/rootfs/proc"]


def test_remove_tree_refuses_with_a_mount_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "w" / "proc").mkdir(parents=True)
    monkeypatch.setattr(im, "mounts_under", lambda path: [f"{path}/proc"])
    with pytest.raises(LocalClusterError, match="still mounted"):
        im.remove_tree(tmp_path / "w")
    assert (tmp_path / "w" / "proc").is_dir()
    monkeypatch.setattr(im, "mounts_under", lambda path: [])
    im.remove_tree(tmp_path / "w")
    im.remove_tree(tmp_path / "w")  # gone already: no error
    assert not (tmp_path / "w").exists()


def test_require_tool_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(im.shutil, "which", lambda name: None)
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("umoci", "umoci"), ("ctr", "containerd")):
        with pytest.raises(LocalClusterError, match=f"apt-get install {package}$"):
            im.require_tool(tool)
    with pytest.raises(LocalClusterError, match="apt-get install containerd"):
        im.require_tool("/opt/bin/ctr")


# --- layers ----------------------------------------------------------------------------------------------------

STUBS = "pytriton/tritonserver/python_backend_stubs"


def _wheel(path: Path) -> Path:
    """Write a tiny stand-in for the nvidia-pytriton wheel with the members the layout cares about."""
    members = {
        "pytriton/__init__.py": (b"", 0o644),
        "pytriton/tritonserver/bin/tritonserver": (b"ELF server", 0o777),
        "pytriton/tritonserver/backends/python/libtriton_python.so": (b"ELF so", 0o666),
        f"{STUBS}/3.11/triton_python_backend_stub": (b"stub 3.11", 0o755),
        f"{STUBS}/3.12/triton_python_backend_stub": (b"stub 3.12", 0o755),
        "nvidia_pytriton.libs/libtritonserver-1.so": (b"lib", 0o666),
        "nvidia_pytriton.libs/libpython3-2.13.so.1.0": (b"python", 0o755),
        "nvidia_pytriton-0.7.0.dist-info/RECORD": (b"", 0o644),
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("pytriton/tritonserver/"), b"")
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return path


def test_wheel_layout() -> None:
    names = [
        "pytriton/tritonserver/",
        "pytriton/__init__.py",
        "pytriton/tritonserver/bin/tritonserver",
        f"{STUBS}/3.11/triton_python_backend_stub",
        f"{STUBS}/3.12/triton_python_backend_stub",
        "nvidia_pytriton.libs/libb64.so",
        "nvidia_pytriton.libs/libpython3-2.13.so.1.0",
    ]
    root = "opt/nvidia-pytriton"
    assert im.wheel_layout(names) == {
        "pytriton/tritonserver/bin/tritonserver": f"{root}/pytriton/tritonserver/bin/tritonserver",
        f"{STUBS}/3.11/triton_python_backend_stub": f"{root}/pytriton/tritonserver/backends/python/"
        "triton_python_backend_stub",
        "nvidia_pytriton.libs/libb64.so": f"{root}/nvidia_pytriton.libs/libb64.so",
    }
    with pytest.raises(LocalClusterError, match=r"lacks pytriton/tritonserver/python_backend_stubs/3\.10/"):
        im.wheel_layout(names, python="3.10")


def test_triton_layer(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    im.write_triton_layer(_wheel(tmp_path / "fake.whl"), layer)
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar.getmembers()}
        stub = tar.extractfile("opt/nvidia-pytriton/pytriton/tritonserver/backends/python/triton_python_backend_stub")
        assert stub is not None and stub.read() == b"stub 3.11"
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == im.LAYER_MTIME for m in members.values())
    assert members["opt/nvidia-pytriton/pytriton/tritonserver/bin/tritonserver"].mode == 0o755
    assert members["opt/nvidia-pytriton/nvidia_pytriton.libs/libtritonserver-1.so"].mode == 0o644  # was 0666
    assert all(m.mode == 0o755 for m in members.values() if m.isdir())
    assert members["opt/tritonserver"].linkname == "nvidia-pytriton/pytriton/tritonserver"
    assert members["usr/local/bin/tritonserver"].linkname == "/opt/tritonserver/bin/tritonserver"
    assert not any("python_backend_stubs" in n or "libpython" in n or "dist-info" in n for n in members)
    names = list(members)
    assert len(names) == len(set(names))
    assert names.index("opt") < names.index("opt/nvidia-pytriton")


def test_layers_are_reproducible(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "fake.whl")
    im.write_triton_layer(wheel, tmp_path / "one.tar")
    im.write_triton_layer(wheel, tmp_path / "two.tar")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_pause_layer(tmp_path: Path) -> None:
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF")
    im.write_pause_layer(binary, tmp_path / "layer.tar")
    with tarfile.open(tmp_path / "layer.tar") as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.mode, member.size, member.uid) == ("pause", 0o755, 4, 0)
    assert im.PAUSE_CONFIG["entrypoint"] == ["/pause"]


def test_missing_tools_fail_before_any_build(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(im.shutil, "which", lambda name: None if name == "umoci" else f"/usr/bin/{name}")
    monkeypatch.setattr(im, "build_one", lambda recipe: pytest.fail("started a build"))
    with pytest.raises(LocalClusterError, match="apt-get install umoci"):
        im.build_images()
    for recipe in im.recipes():
        _fake_build(recipe)
    assert len(im.build_images()) == 2  # all cached: no tool is needed
