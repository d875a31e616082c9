#!/usr/bin/env python3
"""Local Kubernetes control plane for tests and the demo: ``python3 tools/localcluster/localcluster.py --help``."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a script: make `tools.localcluster` importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.localcluster._cli import main

if __name__ == "__main__":
    sys.exit(main())
