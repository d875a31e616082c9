"""Build the collection's HTML docs site with antsibull-docs and Sphinx (make docs).

What is documented is what ships: the collection artifact is built and installed into a collections path of its
own, `antsibull-docs sphinx-init --use-current` writes the Sphinx project, `antsibull-docs collection` writes the
module, plugin and role pages from their documentation and argument specs (plus the changelog), the Markdown guides
listed in docs/docsite/extra-docs.yml are copied in from the installed copy, and `sphinx-build` writes the HTML.
Everything goes under .cache/docs (not in git); the site's entry page is .cache/docs/site/build/html/index.html.

Every Sphinx warning fails the build, except the ones in KNOWN_WARNINGS, each with its reason; a known warning that
no longer occurs fails it too, so that the list cannot go stale.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "inference.triton"
DEFAULT_OUT = REPO / ".cache" / "docs"
DOCS_VENV = REPO / ".cache" / "venv-docs"

# (pattern of a Sphinx warning line, why it is there and what removes it)
KNOWN_WARNINGS: list[tuple[str, str]] = [
    (
        r"index\.rst:\d+: WARNING: toctree contains reference to document 'changelog' that doesn't have a title",
        "changelogs/changelog.yaml has no release yet, so antsibull-docs writes a changelog page without a title "
        '("The changelog of inference.triton is empty."); the first release (antsibull-changelog release) ends it',
    ),
]


def run(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run a step, appending its output to the log; fail with the output's tail."""
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(argv)}\n{out}\n")
    if proc.returncode != 0:
        raise SystemExit(f"docs: `{' '.join(argv)}` failed (exit {proc.returncode}):\n{out[-4000:]}")
    return out


LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def unship_links(text: str, guide: Path, collection_dir: Path) -> str:
    """Turn a relative link to a file the collection does not ship (test tools) into its text."""

    def replace(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path = (guide.parent / target.split("#", 1)[0]).resolve()
        return match.group(0) if path.exists() and path.is_relative_to(collection_dir) else match.group(1)

    return LINK.sub(replace, text)


def guides(collection_dir: Path) -> list[str]:
    """The refs of docs/docsite/extra-docs.yml: Markdown files of the collection, by path without .md."""
    index = yaml.safe_load((collection_dir / "docs" / "docsite" / "extra-docs.yml").read_text())
    return [entry["ref"] for section in index["sections"] for entry in section["toctree"]]


def add_unlisted_guides(collection_dir: Path) -> None:
    """Append the docs/*.md files extra-docs.yml does not list to its first section (in the installed copy only)."""
    path = collection_dir / "docs" / "docsite" / "extra-docs.yml"
    index = yaml.safe_load(path.read_text())
    listed = set(guides(collection_dir))
    for markdown in sorted((collection_dir / "docs").glob("*.md")):
        ref = f"docs/{markdown.stem}"
        if ref not in listed:
            index["sections"][0]["toctree"].append({"ref": ref})
    path.write_text(yaml.safe_dump(index, sort_keys=False))


def check_warnings(text: str) -> list[str]:
    """Return the problems: warnings no known pattern explains, and known patterns that matched nothing."""
    lines = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line]
    problems = []
    used = set()
    for line in lines:
        hits = [i for i, (pattern, _) in enumerate(KNOWN_WARNINGS) if re.search(pattern, line)]
        if hits:
            used.update(hits)
        else:
            problems.append(line)
    for i, (pattern, why) in enumerate(KNOWN_WARNINGS):
        if i not in used:
            problems.append(f"known warning no longer occurs, remove it from KNOWN_WARNINGS: {pattern} ({why})")
    return problems


def build(out: Path, source: Path = REPO) -> Path:
    if not (DOCS_VENV / "bin" / "antsibull-docs").exists():
        raise SystemExit(f"docs: {DOCS_VENV.relative_to(REPO)} is missing; run `make docs` (it creates it)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = out / "build.log"
    collections = out / "collections"
    site = out / "site"
    site.mkdir(mode=0o755)  # antsibull-docs wants a folder only its owner can write
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        # antsibull-docs from its own venv, ansible-doc and ansible-galaxy from the project's tool chain
        PATH=os.pathsep.join([str(DOCS_VENV / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    galaxy = str(Path(sys.executable).parent / "ansible-galaxy")

    # The artifact, installed: the docs describe exactly what ships.
    run([galaxy, "collection", "build", "--force", "--output-path", str(out / "dist")], source, env, log)
    (artifact,) = sorted((out / "dist").glob("inference-triton-*.tar.gz"))
    run([galaxy, "collection", "install", "--force", "-p", str(collections), str(artifact)], out, env, log)
    installed = collections / "ansible_collections" / "inference" / "triton"
    add_unlisted_guides(installed)

    run(
        [
            "antsibull-docs",
            "sphinx-init",
            "--use-current",
            "--squash-hierarchy",
            "--fail-on-error",
            "--no-add-antsibull-docs-version",
            "--project",
            COLLECTION,
            "--copyright",
            "inference.triton maintainers",
            "--title",
            "inference.triton: Triton Inference Server on Kubernetes",
            "--html-short-title",
            COLLECTION,
            "--dest-dir",
            str(site),
            COLLECTION,
        ],
        out,
        env,
        log,
    )
    conf = site / "conf.py"
    conf.write_text(conf.read_text() + "\n" + (REPO / "tools" / "docsite" / "conf_overrides.py").read_text())

    rst = site / "rst"
    rst.mkdir(mode=0o755, exist_ok=True)
    rst.chmod(0o755)
    run(
        [
            "antsibull-docs",
            "--config-file",
            "antsibull-docs.cfg",
            "collection",
            "--cleanup",
            "everything",
            "--fail-on-error",
            "--use-current",
            "--squash-hierarchy",
            "--dest-dir",
            "rst",
            COLLECTION,
        ],
        site,
        env,
        log,
    )

    # The Markdown guides, with the paths they have in the collection (their links to each other stay right), and
    # the files they link to (the RBAC manifests, the diagrams).
    for ref in guides(installed):
        source = installed / f"{ref}.md"
        if not source.is_file():
            raise SystemExit(f"docs: extra-docs.yml names {ref}, but the collection has no {ref}.md")
        target = rst / "docsite" / f"{ref}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(unship_links(source.read_text(), source, installed.resolve()))
    for linked in sorted((installed / "docs").glob("*.yml")):
        shutil.copyfile(linked, rst / "docsite" / "docs" / linked.name)
    # The diagrams the guides show (docs/diagrams/*.svg, rendered from their .dot sources by make diagrams).
    for picture in sorted((installed / "docs" / "diagrams").glob("*.svg")):
        (rst / "docsite" / "docs" / "diagrams").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, rst / "docsite" / "docs" / "diagrams" / picture.name)

    warnings = out / "sphinx-warnings.txt"
    run(["sphinx-build", "-M", "html", "rst", "build", "-c", ".", "-w", str(warnings), "-q"], site, env, log)
    problems = check_warnings(warnings.read_text())
    if problems:
        raise SystemExit("docs: Sphinx warnings that are not known:\n" + "\n".join(problems))
    index = site / "build" / "html" / "index.html"
    print(f"docs: built {index.relative_to(REPO) if index.is_relative_to(REPO) else index}")
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: .cache/docs)")
    parser.add_argument("--source", type=Path, default=REPO, help="collection source tree (default: this checkout)")
    args = parser.parse_args()
    build(args.out.resolve(), args.source.resolve())


if __name__ == "__main__":
    main()
