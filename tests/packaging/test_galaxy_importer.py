"""Galaxy's own import checks (galaxy-importer, the code Galaxy runs on an upload) on the built artifact.

galaxy-importer runs from .cache/venv-packaging (make galaxy-import creates it) with tools/packaging/
galaxy-importer.cfg: metadata, required tags, ansible-doc on every plugin, ansible-lint, changelog; ansible-test
sanity is off there (it needs a container engine) because `make sanity` runs it.

The collection has no public source repository, and Galaxy requires galaxy.yml's `repository`: the artifact as built
is refused for that reason alone. The same artifact with a repository address in its MANIFEST.json imports, with no
error and no warning other than those in KNOWN_WARNINGS, each with its reason (docs/packaging.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / "venv-packaging"
CONFIG = REPO / "tools" / "packaging" / "galaxy-importer.cfg"
GALAXY = Path(sys.executable).parent / "ansible-galaxy"

# (pattern of a WARNING line of galaxy-importer, why it stays)
KNOWN_WARNINGS: list[tuple[str, str]] = [
    (
        r"Ignore files skip ansible-test sanity tests, found ignore-2\.19\.txt with \d+ statement",
        "tests/sanity/ignore-2.19.txt: the modules are Apache-2.0, and validate-modules asks every module for a GPLv3 "
        "license header (missing-gplv3-license), once per module; the chart fixture's Go templates are no YAML",
    ),
]


def importer(artifact: Path) -> subprocess.CompletedProcess:
    python = VENV / "bin" / "python"
    assert python.exists(), f"{VENV.relative_to(REPO)} is missing: run `make galaxy-import` (it creates it)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GALAXY_IMPORTER_"))}
    # ansible-doc and ansible-lint of the importer's own venv, as on Galaxy
    env.update(GALAXY_IMPORTER_CONFIG=str(CONFIG), PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    argv = [str(python), "-m", "galaxy_importer.main", str(artifact)]
    return subprocess.run(argv, cwd=artifact.parent, env=env, capture_output=True, text=True, timeout=600, check=False)


def with_repository(artifact: Path, url: str) -> Path:
    """A copy of the artifact whose MANIFEST.json names a source repository (what galaxy.yml's repository sets)."""
    copy = artifact.parent / "with-repository" / artifact.name  # Galaxy reads the version from the file name too
    copy.parent.mkdir(exist_ok=True)
    with tarfile.open(artifact) as source, tarfile.open(copy, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name == "MANIFEST.json":
                manifest = json.loads(data)
                manifest["collection_info"]["repository"] = url
                data = json.dumps(manifest, indent=4).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return copy


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    argv = [str(GALAXY), "collection", "build", "--output-path", str(out)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = sorted(out.glob("inference-triton-*.tar.gz"))
    return built


def test_galaxy_refuses_the_artifact_only_for_its_missing_repository(artifact):
    proc = importer(artifact)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert errors == ["ERROR: The import failed for the following reason: Invalid collection metadata. "
                      "'repository' is required"], out  # fmt: skip


def test_galaxy_imports_the_artifact_once_it_names_a_repository(artifact):
    proc = importer(with_repository(artifact, "https://example.invalid/inference/triton"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Importer processing completed successfully" in out, out
    assert not [line for line in out.splitlines() if line.startswith("ERROR")], out
    for plugin in ("module triton_server", "action triton_server", "role triton_server", "playbook deploy.yml"):
        assert f"Loading {plugin}" in out, out
    warnings = [line for line in out.splitlines() if "WARNING" in line]
    unexplained = [w for w in warnings if not any(re.search(p, w) for p, _reason in KNOWN_WARNINGS)]
    assert not unexplained, "galaxy-importer warnings without a reason in KNOWN_WARNINGS:\n" + "\n".join(unexplained)
    stale = [p for p, _reason in KNOWN_WARNINGS if not any(re.search(p, w) for w in warnings)]
    assert not stale, f"known warnings that no longer occur (remove them from KNOWN_WARNINGS): {stale}"
