"""The state folder of one cluster: its layout, the recorded processes, and a lock against concurrent runs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Component:
    """One process this tool started."""

    name: str
    pid: int
    binary: str
    port: int
    log: str


@dataclass
class State:
    """What `up` recorded; `down` and `status` act on nothing else."""

    ports: dict[str, int]
    versions: dict[str, str]
    nodes: dict[str, Any]
    components: list[Component] = field(default_factory=list)
    phase: str = "starting"  # starting -> running, or failed
    # What the real node changed on this machine and `down` puts back (sysctls, folders it created).
    host: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """Paths inside a state folder."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd-data"

    @property
    def apiserver_certs(self) -> Path:
        return self.root / "apiserver-certs"

    @property
    def kwok(self) -> Path:
        return self.root / "kwok"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pki_file(self, name: str) -> str:
        return str(self.pki / name)


def load(layout: Layout) -> State | None:
    """Return the recorded state, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return None
    data["components"] = [Component(**c) for c in data.get("components", [])]
    return State(**data)


def save(layout: Layout, state: State) -> None:
    """Write the state atomically (a crash never leaves half a file)."""
    tmp = layout.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(layout.state_file)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise up/down/nodes on one state folder (the lock file lives outside it, in the temp folder)."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    with open(Path(base) / f"localcluster-{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
