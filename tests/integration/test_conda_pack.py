"""A packed Python environment reaches a real Triton 2.51.0, from the node (``host_path``) and from an env image.

Triton's Python backend (python_backend r24.10: src/python_be.cc, src/stub_launcher.cc, src/pb_env.cc) takes the
environment from the model's config.pbtxt parameter ``EXECUTION_ENV_PATH``, never from the server's environment.
A tarball there is extracted under /tmp/python_env_*/, then the stub runs as
``bash -c "source <env>/bin/activate && exec env LD_LIBRARY_PATH=<env>/lib:$LD_LIBRARY_PATH <stub> ..."``: the
embedded interpreter (the libpython the stub links) finds ``python3`` first on the activated PATH and takes
``sys.prefix`` and the site-packages from there.

No conda channel is reachable here, so the environment is a venv of the image's own interpreter (Debian
bookworm's /usr/bin/python3.11, at the same path on this machine and in the image) holding ``roman`` from PyPI
(pure Python, absent from the image), packed by ``venv-pack``, which writes a relocatable ``bin/activate`` as
conda-pack does. The venv also sees the system site-packages, where the image's numpy is (the backend's utilities
import it); a conda-pack environment would carry its own.

Three models share one model.py that imports ``roman``: ``roman_env`` names the tarball on the node,
``roman_image`` names /conda-pack/roman-env.tar.gz (where the env image's init container copies it), and
``roman_plain`` names none. The first two must answer with the numeral and a module path inside the extracted
environment; ``roman_plain`` must fail to load with the import error, although the server's environment carries
``EXECUTION_ENV_PATH`` as the chart (and this collection before) set it. Releases run on the real node, each in an
``it-conda-`` namespace; the node folder /tmp/it-conda-*, the namespaces and the env image are removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import routed_node_port
from kubernetes import client

from tools.localcluster import _images, _realnode, _state
from tools.localcluster import _versions as localcluster_versions
from tools.localcluster.pytest_fixture import wait_for

BIN = Path(sys.executable).parent
NODE = {
    "tolerations": [{"key": "inference-triton.local/real-node", "operator": "Exists", "effect": "NoSchedule"}],
    "node_selector": {"type": "real"},
    # The real node has 2 cores for every test running beside this one: less than the default 1 CPU per server.
    "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
}
IMAGE = {
    "image_registry": "localhost/inference-triton",
    "image_repository": "tritonserver-cpu",
    "image_tag": "2.51.0",
    "image_pull_policy": "Never",
}
# The image's interpreter: the venv's bin/python3.11 links to it, so it must be at the same path in the image.
BASE_PYTHON = Path("/usr/bin/python3.11")
PACKAGE = "roman==5.2"
TARBALL = "roman-env.tar.gz"
IMAGE_CONDA_PACK_PATH = "/conda-pack"  # the chart's image.condaPackPath default
TRITON_UID = 1000  # the pod's runAsUser and runAsGroup
ENV_IMAGE_REPOSITORY = "it-conda-env"

MODEL_PY = """\
import sys

import numpy as np
import roman  # only the packed environment has it
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            number = int(pb_utils.get_input_tensor_by_name(request, "NUMBER").as_numpy()[0])
            facts = [roman.toRoman(number), roman.__file__, sys.prefix, sys.version.split()[0]]
            tensor = pb_utils.Tensor("FACTS", np.array([f.encode() for f in facts], dtype=np.object_))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses
"""


def config_pbtxt(name: str, execution_env: str | None) -> str:
    text = f"""\
name: "{name}"
backend: "python"
input [ {{ name: "NUMBER" data_type: TYPE_INT32 dims: [ 1 ] }} ]
output [ {{ name: "FACTS" data_type: TYPE_STRING dims: [ 4 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""
    if execution_env:
        text += f'parameters: {{ key: "EXECUTION_ENV_PATH", value: {{ string_value: "{execution_env}" }} }}\n'
    return text


def run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def build_packed_env(work: Path, out: Path) -> None:
    """A venv of the image's Python with PACKAGE, packed by venv-pack into ``out``."""
    env = work / "roman-env"
    run([str(BASE_PYTHON), "-m", "venv", "--without-pip", "--system-site-packages", str(env)])
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "--python", str(env / "bin" / "python")]
    run([*pip, "install", "--quiet", "--no-deps", "--no-compile", PACKAGE])
    run([str(BIN / "venv-pack"), "--prefix", str(env), "--output", str(out)])


def chown_tree(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, TRITON_UID, TRITON_UID, follow_symlinks=False)


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def infer_facts(url: str, model: str) -> list[str]:
    """Ask the model for 2024; return [numeral, roman.__file__, sys.prefix, Python version]."""
    wait_for(f"{model} ready", lambda: http("GET", f"{url}/v2/models/{model}/ready")[0] == 200, 60)
    body = {"inputs": [{"name": "NUMBER", "datatype": "INT32", "shape": [1], "data": [2024]}]}
    status, reply = http("POST", f"{url}/v2/models/{model}/infer", body)
    assert status == 200, reply
    facts = reply["outputs"][0]["data"]
    print(f"\n{model} answered {facts[0]!r}; roman from {facts[1]}; sys.prefix {facts[2]}; Python {facts[3]}")
    return facts


def assert_imported_from_extracted_env(facts: list[str]) -> None:
    numeral, module_file, prefix, version = facts
    assert numeral == "MMXXIV"
    # pb_env.cc extracts a tarball into /tmp/python_env_XXXXXX/<n>: roman came from the venv's site-packages there.
    assert prefix.startswith("/tmp/python_env_"), prefix
    assert module_file == f"{prefix}/lib/python3.11/site-packages/roman/__init__.py"
    assert version.startswith("3.11.")


def triton_log(k8s: Any, namespace: str) -> str:
    core = client.CoreV1Api(k8s)
    pod = core.list_namespaced_pod(namespace).items[0]
    return core.read_namespaced_pod_log(pod.metadata.name, namespace, container="triton")


@contextlib.contextmanager
def deployed(runner: Any, k8s: Any, **args: Any) -> Iterator[dict[str, Any]]:
    """One release on the real node in a fresh it-conda- namespace, deleted afterwards."""
    core = client.CoreV1Api(k8s)
    namespace = f"it-conda-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        started = time.monotonic()
        for which in ("http", "grpc", "metrics"):
            args.setdefault(f"service_node_port_{which}", 0)
        result = runner.triton(name="conda", namespace=namespace, **IMAGE, **NODE, wait_timeout=300, **args)
        assert not result.get("failed"), result.get("msg")
        assert result["rollout"]["complete"] is True, result["rollout"]
        print(f"\nrelease in {namespace} ready in {time.monotonic() - started:.1f} s")
        node_port = routed_node_port(int(result["endpoints"]["ports"]["http"]["node_port"]))
        yield {"namespace": namespace, "result": result, "url": f"http://127.0.0.1:{node_port}"}
    finally:
        core.delete_namespace(namespace)


@pytest.fixture(scope="module")
def real_node(k8s: Any) -> str:
    try:
        client.CoreV1Api(k8s).read_node(_realnode.NODE_NAME)
    except client.exceptions.ApiException:
        pytest.skip("the cluster has no real node (not root, or started with --real-nodes 0)")
    if not BASE_PYTHON.exists():
        pytest.skip(f"{BASE_PYTHON} (the image's interpreter, for the venv) is not on this machine")
    return _realnode.NODE_NAME


@pytest.fixture(scope="module")
def host_dir(real_node: str) -> Iterator[Path]:
    """The node's folders (the real node is this machine): conda-pack/ with the tarball, models/ with three models."""
    root = Path(tempfile.mkdtemp(prefix="it-conda-", dir="/tmp"))
    try:
        (root / "conda-pack").mkdir()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="it-conda-build-") as work:
            build_packed_env(Path(work), root / "conda-pack" / TARBALL)
        print(f"\npacked environment built in {time.monotonic() - started:.1f} s")
        models = {
            "roman_env": str(root / "conda-pack" / TARBALL),
            "roman_image": f"{IMAGE_CONDA_PACK_PATH}/{TARBALL}",
            "roman_plain": None,
        }
        for name, env in models.items():
            (root / "models" / name / "1").mkdir(parents=True)
            (root / "models" / name / "config.pbtxt").write_text(config_pbtxt(name, env))
            (root / "models" / name / "1" / "model.py").write_text(MODEL_PY)
        chown_tree(root)
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- conda_pack_source: host_path ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_path_release(runner: Any, k8s: Any, host_dir: Path) -> Iterator[dict[str, Any]]:
    """roman_env loaded at start; the server's environment carries EXECUTION_ENV_PATH, as the chart set it."""
    with deployed(
        runner,
        k8s,
        use_cpu=True,
        model_repository_path=str(host_dir / "models"),
        conda_pack_source="host_path",
        conda_pack_path=str(host_dir / "conda-pack"),
        conda_pack_file_name=TARBALL,
        model_control_mode="explicit",
        load_models=["roman_env"],
        env={"EXECUTION_ENV_PATH": str(host_dir / "conda-pack" / TARBALL)},
    ) as release:
        yield release


def test_host_path_mounts_the_folder_and_the_server_variable_only_draws_a_warning(host_path_release, k8s):
    result = host_path_release["result"]
    assert any("env.EXECUTION_ENV_PATH has no effect" in w for w in result.get("warnings", []))
    pods = client.CoreV1Api(k8s).list_namespaced_pod(host_path_release["namespace"]).items
    assert [p.spec.node_name for p in pods] == [_realnode.NODE_NAME]
    spec = pods[0].spec
    volume = next(v for v in spec.volumes if v.name == "conda-pack")
    mount = next(m for m in spec.containers[0].volume_mounts if m.name == "conda-pack")
    assert volume.host_path.path == mount.mount_path and mount.read_only is True
    # The only EXECUTION_ENV_PATH in the container is the one this test asked for: the module adds none.
    assert [e.name for e in spec.containers[0].env or []] == ["EXECUTION_ENV_PATH"]


def test_host_path_a_model_naming_the_tarball_imports_from_the_packed_environment(host_path_release, k8s):
    assert_imported_from_extracted_env(infer_facts(host_path_release["url"], "roman_env"))
    tarball = f"{host_path_release['result']['options']['conda_pack_path']}/{TARBALL}"
    assert f"Using Python execution env {tarball}" in triton_log(k8s, host_path_release["namespace"])


def test_host_path_the_same_model_without_the_parameter_cannot_import_it(host_path_release):
    url = host_path_release["url"]
    status, reply = http("POST", f"{url}/v2/repository/models/roman_plain/load", {})
    assert status != 200
    assert "No module named 'roman'" in reply["error"], reply
    status, index = http("POST", f"{url}/v2/repository/index", {})
    assert status == 200
    states = {m["name"]: m for m in index}
    assert states["roman_env"]["state"] == "READY"
    assert states["roman_plain"]["state"] == "UNAVAILABLE"
    reason = states["roman_plain"]["reason"]
    assert "No module named 'roman'" in reason, reason
    print(f"\nroman_plain: {next(line for line in reason.splitlines() if 'roman' in line).strip()}")


# --- conda_pack_source: image (the chart's tritonEnv) -----------------------------------------------------------


def containerd_socket(kube_cluster: Any) -> Path:
    state_dir = (
        kube_cluster.state_dir or os.environ.get("LOCALCLUSTER_STATE_DIR") or localcluster_versions.DEFAULT_STATE_DIR
    )
    return _realnode.Paths(_state.Layout(Path(state_dir).resolve())).socket


def conda_pack_layer(tarball: Path, out: Path) -> None:
    """One layer: /conda-pack/<tarball>, readable by the pod's uid."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(IMAGE_CONDA_PACK_PATH.lstrip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        info = tar.gettarinfo(str(tarball), arcname=f"{IMAGE_CONDA_PACK_PATH.lstrip('/')}/{TARBALL}")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        with tarball.open("rb") as data:
            tar.addfile(info, data)


@pytest.fixture(scope="module")
def env_image(kube_cluster: Any, host_dir: Path) -> Iterator[str]:
    """An env image as the chart's tritonEnv expects (the tarball at /conda-pack/, a shell and cp), imported into
    the real node's containerd and removed afterwards.

    No base image can be pulled, so it is the Triton image's layers (from the localcluster image cache) plus one
    layer with the tarball, made with umoci as tools/localcluster/_images.py makes its images.
    """
    base = _images.cached_image(_images.triton_recipe())
    socket = containerd_socket(kube_cluster)
    if base is None or not socket.exists() or not shutil.which("umoci") or not shutil.which("ctr"):
        pytest.skip("needs the localcluster's cached Triton image, its containerd socket, umoci and ctr")
    tag = uuid.uuid4().hex[:8]
    # The chart (and values_to_options) appends -cpu to tritonEnv.tag.
    ref = f"{IMAGE['image_registry']}/{ENV_IMAGE_REPOSITORY}:{tag}-cpu"
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="it-conda-image-") as tmp:
            work = Path(tmp)
            layout = work / "layout"
            with tarfile.open(base.archive) as tar:
                tar.extractall(layout, filter="data")
            conda_pack_layer(host_dir / "conda-pack" / TARBALL, work / "conda-pack.tar")
            umoci = shutil.which("umoci") or "umoci"
            created_by = "tests/integration/test_conda_pack.py: conda-pack tarball"
            run([umoci, "raw", "add-layer", "--image", f"{layout}:{base.ref}", "--tag", ref,
                 "--history.created_by", created_by, str(work / "conda-pack.tar")])  # fmt: skip
            run([umoci, "remove", "--image", f"{layout}:{base.ref}"])  # import the env image's name only
            run([umoci, "gc", "--layout", str(layout)])
            digest = _images.manifest_digest(json.loads((layout / "index.json").read_text()), ref)
            archive = work / "image.tar"
            _images.write_archive(layout, archive)
            image = _images.Image(ENV_IMAGE_REPOSITORY, ref, archive, "", digest)
            _images.import_images("ctr", str(socket), [image])
        print(f"\nenv image {ref} built and imported in {time.monotonic() - started:.1f} s")
        yield tag
    finally:
        stale = _images.refs_to_replace(_images.image_digests("ctr", str(socket)), ref)
        if stale:
            ctr = ["ctr", "--address", str(socket), "--namespace", "k8s.io", "images", "rm", *stale]
            subprocess.run(ctr, capture_output=True, check=False)


def test_image_the_chart_values_deliver_the_tarball_and_a_model_imports_from_it(runner, k8s, host_dir, env_image):
    values = {
        "mode": {"useCpu": True},
        "tritonEnv": {
            "registry": IMAGE["image_registry"],
            "repository": ENV_IMAGE_REPOSITORY,
            "tag": env_image,
            "pullPolicy": "Never",
        },
        "image": {"condaPackPath": IMAGE_CONDA_PACK_PATH, "condaPackFileName": TARBALL},
    }
    with deployed(
        runner,
        k8s,
        values=values,
        model_repository_path=str(host_dir / "models"),
        model_control_mode="explicit",
        load_models=["roman_image"],
    ) as release:
        assert release["result"]["options"]["conda_pack_source"] == "image"
        pod = client.CoreV1Api(k8s).list_namespaced_pod(release["namespace"]).items[0]
        assert [c.name for c in pod.spec.init_containers] == ["conda-pack"]
        assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
        assert not any(e.name == "EXECUTION_ENV_PATH" for e in pod.spec.containers[0].env or [])
        assert_imported_from_extracted_env(infer_facts(release["url"], "roman_image"))
        log = triton_log(k8s, release["namespace"])
        assert f"Using Python execution env {IMAGE_CONDA_PACK_PATH}/{TARBALL}" in log
