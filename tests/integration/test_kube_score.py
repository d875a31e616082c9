"""kube-score, a widely used manifest checker, on the objects the module renders: only reasoned findings are left.

Each release below is rendered exactly as the module renders it; kube-score (built from its Go module for tests only,
``localcluster.py tool-path kube-score``) scores the objects, and every finding must be in
tests/kube_score/allow-list.yml, whose reasons docs/hardening.md repeats. An entry that no release produces any more
fails too, so that the list only shrinks with the findings. No cluster is needed; the marker puts the Go build in the
integration step, beside the other built tools.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.inference.triton.plugins.module_utils._render import render
from ansible_collections.inference.triton.plugins.module_utils._values import merge_options

REPO = Path(__file__).resolve().parents[2]
ALLOW_LIST = REPO / "tests/kube_score/allow-list.yml"
CRITICAL, WARNING = 1, 5  # kube-score's grades below "ok"
RELEASES = {
    "default GPU release": {},
    "default CPU release": {"use_cpu": True},
    "GPU release with two replicas, PDB and NetworkPolicy": {
        "replicas": 2,
        "pdb_enabled": True,
        "network_policy_enabled": True,
    },
}

pytestmark = pytest.mark.integration


def findings(binary: Path, options: dict, tmp_path: Path) -> set[tuple[str, str, str]]:
    """(kind, check id, summary) of every critical or warning comment kube-score makes on the rendered release."""
    merged = merge_options(options, [])[0]
    manifest = tmp_path / "release.yaml"
    manifest.write_text(yaml.safe_dump_all(list(render("triton", "inference", merged).values())))
    run = subprocess.run(
        [str(binary), "score", "--output-format", "json", str(manifest)], capture_output=True, text=True, check=False
    )
    assert run.returncode in (0, 1), run.stderr  # 1: findings at or above the failing grade
    found = set()
    for scored in json.loads(run.stdout):
        for check in scored["checks"]:
            if check["skipped"] or check["grade"] not in (CRITICAL, WARNING):
                continue
            for comment in check["comments"]:
                found.add((scored["type_meta"]["kind"], check["check"]["id"], comment["summary"]))
    return found


@pytest.fixture(scope="module")
def scored(kube_score_binary, tmp_path_factory) -> dict[str, set[tuple[str, str, str]]]:
    return {name: findings(kube_score_binary, opts, tmp_path_factory.mktemp("ks")) for name, opts in RELEASES.items()}


def allowed() -> set[tuple[str, str]]:
    entries = yaml.safe_load(ALLOW_LIST.read_text())
    assert all(entry.get("reason") for entry in entries), "every allow-list entry gives its reason"
    return {(entry["check"], entry["summary"]) for entry in entries}


@pytest.mark.parametrize("name", list(RELEASES))
def test_only_allow_listed_findings(scored, name):
    unexpected = sorted(f for f in scored[name] if f[1:] not in allowed())
    assert not unexpected, f"{name}: kube-score findings not in {ALLOW_LIST.name}: {unexpected}"


def test_every_allow_list_entry_is_still_needed(scored):
    produced = {f[1:] for found in scored.values() for f in found}
    assert not allowed() - produced, f"no release produces {sorted(allowed() - produced)}: remove them"


def test_the_hardening_defaults_leave_no_finding_of_their_own(scored):
    # What the defaults fix, per check: none of these may come back.
    fixed = {
        "container-security-context-readonlyrootfilesystem",
        "container-ephemeral-storage-request-and-limit",
        "pod-probes",
        "container-security-context-privileged",
    }
    ids = {f[1] for found in scored.values() for f in found}
    assert not ids & fixed
    resources = {f[2] for found in scored.values() for f in found if f[1] == "container-resources"}
    assert resources == {"CPU limit is not set"}  # requests and the memory limit are set
    # The NetworkPolicy, when enabled, matches the pods: its finding is gone from that release only.
    ha = scored["GPU release with two replicas, PDB and NetworkPolicy"]
    assert ("Deployment", "pod-networkpolicy", "The pod does not have a matching NetworkPolicy") not in ha
    assert not [f for f in ha if f[1] == "deployment-has-poddisruptionbudget"], ha


def test_the_allow_list_and_docs_agree():
    docs = (REPO / "docs/hardening.md").read_text()
    missing = sorted(check for check, _summary in allowed() if f"`{check}`" not in docs)
    assert not missing, f"docs/hardening.md does not explain {missing}"
