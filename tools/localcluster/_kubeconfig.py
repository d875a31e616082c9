"""The admin kubeconfig, self-contained (certificates embedded) so it can be copied or mounted anywhere."""

from __future__ import annotations

import base64
from pathlib import Path

CONTEXT = "localcluster"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(server: str, ca: Path, cert: Path, key: Path, name: str = CONTEXT) -> str:
    """Return kubeconfig YAML for ``server`` with the CA and the admin client pair embedded."""
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: {server}
    certificate-authority-data: {_b64(ca)}
users:
- name: {name}-admin
  user:
    client-certificate-data: {_b64(cert)}
    client-key-data: {_b64(key)}
contexts:
- name: {name}
  context:
    cluster: {name}
    user: {name}-admin
    namespace: default
current-context: {name}
"""


def write(path: Path, text: str) -> None:
    """Write the kubeconfig readable by its owner only (it holds a private key)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
