#!/usr/bin/env python3
"""Render docs/diagrams/*.dot into SVG files next to them with Graphviz's dot (make diagrams).

Each SVG carries the sha256 of its source in a comment, so that tests/unit/test_diagrams.py can tell a picture
that no longer matches its source without Graphviz installed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

DIAGRAMS = Path(__file__).resolve().parents[1] / "docs" / "diagrams"


def source_stamp(source: Path) -> str:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return f"<!-- rendered from {source.name} by make diagrams; source sha256 {digest} -->"


def render(source: Path) -> Path:
    svg = subprocess.run(["dot", "-Tsvg", str(source)], check=True, capture_output=True, text=True).stdout
    header, _sep, rest = svg.partition("\n")
    target = source.with_suffix(".svg")
    target.write_text(f"{header}\n{source_stamp(source)}\n{rest}")
    return target


def main() -> int:
    for source in sorted(DIAGRAMS.glob("*.dot")):
        print(f"{render(source).relative_to(DIAGRAMS.parents[1])}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
