"""Every diagram of docs/diagrams is rendered from its current source (make diagrams)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

from render_diagrams import DIAGRAMS, source_stamp  # noqa: E402


@pytest.mark.parametrize("source", sorted(DIAGRAMS.glob("*.dot")), ids=lambda p: p.name)
def test_the_picture_is_rendered_from_the_current_source(source: Path) -> None:
    picture = source.with_suffix(".svg")
    assert picture.exists(), f"{picture.name} missing: run make diagrams"
    assert source_stamp(source) in picture.read_text(), (
        f"{picture.name} is stale against {source.name}: run make diagrams"
    )
