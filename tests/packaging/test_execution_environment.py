"""The execution environment definition: `ansible-builder create` writes a build context that holds the collection.

ansible-builder runs from .cache/venv-packaging (make galaxy-import creates it). The image itself is not built here:
there is no container engine and no registry to pull the base image from (README.md: Execution environment).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / "venv-packaging"
GALAXY = Path(sys.executable).parent / "ansible-galaxy"


@pytest.fixture(scope="module")
def definition() -> dict:
    return yaml.safe_load((REPO / "execution-environment.yml").read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory, definition) -> Path:
    """A copy of the repository's EE file next to a freshly built artifact, and the context ansible-builder writes."""
    work = tmp_path_factory.mktemp("ee")
    dist = work / ".cache" / "dist"
    proc = subprocess.run(
        [str(GALAXY), "collection", "build", "--output-path", str(dist)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        (work / name).write_text((REPO / name).read_text())
    builder = VENV / "bin" / "ansible-builder"
    assert builder.exists(), f"{VENV.relative_to(REPO)} is missing: run `make galaxy-import` (it creates it)"
    argv = [str(builder), "create", "-f", "execution-environment.yml", "-c", "context"]
    argv += ["--output-filename", "Containerfile", "-v", "3"]
    proc = subprocess.run(argv, cwd=work, env=dict(os.environ), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No matches for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return work / "context"


def test_the_definition_installs_the_tarball_of_this_version(definition):
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = f"inference-triton-{version}.tar.gz"
    assert definition["version"] == 3
    assert [c["name"] for c in definition["dependencies"]["galaxy"]["collections"]] == [f"collections/{tarball}"]
    assert [f["src"] for f in definition["additional_build_files"]] == [f".cache/dist/{tarball}"]


def test_context_holds_the_collection_and_its_requirements(context):
    tarball = next((context / "_build" / "collections").glob("inference-triton-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "plugins/modules/triton_server.py" in names and "meta/execution-environment.yml" in names
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"collections/{tarball.name}", "type": "file"}]
    python = (context / "_build" / "requirements.txt").read_text()
    for requirement in ("kubernetes>=", "PyYAML>=", "jinja2>="):
        assert requirement in python, python
    assert "openssh-clients [platform:rpm]" in (context / "_build" / "bindep.txt").read_text()


def test_containerfile_names_the_base_image_and_installs_the_collection(context, definition):
    containerfile = (context / "Containerfile").read_text()
    base = definition["images"]["base_image"]["name"]
    assert f'ARG EE_BASE_IMAGE="{base}"' in containerfile, containerfile
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile, containerfile
    assert "COPY _build /build" in containerfile and "ansible-galaxy collection install" in containerfile
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile, containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
