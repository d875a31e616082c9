"""Generate the cluster's PKI at run time with the `openssl` CLI: nothing secret is ever committed.

Files written to the pki folder: ``ca.{crt,key}``, ``apiserver.{crt,key}`` (serving cert, also used by kwok),
``admin.{crt,key}`` (client cert in group system:masters) and the service-account key pair ``sa.{key,pub}``.
Keys are ECDSA P-256: quick to generate and accepted by every component.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from ._errors import LocalClusterError

# Every address the cluster assigns is in the benchmarking range 198.18.0.0/15 (RFC 2544), never a private one:
# 198.18.0.0/16 for nodes and pods (_realnode.py), 198.19.0.0/16 for Services.
SERVICE_CIDR = "198.19.0.0/16"
# First address of the service range: the ClusterIP of the `kubernetes` Service.
KUBERNETES_SERVICE_IP = "198.19.0.1"
API_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
API_IPS = ("127.0.0.1", KUBERNETES_SERVICE_IP)
ADMIN_SUBJECT = "/O=system:masters/CN=localcluster-admin"
CA_SUBJECT = "/CN=localcluster-ca"
APISERVER_SUBJECT = "/CN=kube-apiserver"
CA_DAYS = 3650
LEAF_DAYS = 825


def subject_alt_names(dns_names: tuple[str, ...] = API_DNS_NAMES, ips: tuple[str, ...] = API_IPS) -> str:
    """Render a subjectAltName value, e.g. ``DNS:localhost,IP:127.0.0.1``."""
    return ",".join([f"DNS:{name}" for name in dns_names] + [f"IP:{ip}" for ip in ips])


def openssl_config(sans: str) -> str:
    """Return the OpenSSL config with one extension section per certificate kind."""
    return f"""\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = localcluster

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {sans}

[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LocalClusterError(f"`openssl {' '.join(args)}` failed in {cwd}:\n{proc.stderr.strip()}")


def _leaf(pki: Path, name: str, subject: str, section: str, config: str = "openssl.cnf") -> None:
    _openssl(
        "req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-set_serial", f"0x{secrets.randbits(63):x}", "-days", str(LEAF_DAYS),
        "-extfile", config, "-extensions", section, "-out", f"{name}.crt",
        cwd=pki,
    )  # fmt: skip
    (pki / f"{name}.csr").unlink()


def generate_pki(pki: Path) -> None:
    """Create a fresh CA, the apiserver and admin certificates and the service-account key pair."""
    if not shutil.which("openssl"):
        raise LocalClusterError("`openssl` is not on PATH; install it (Debian: apt-get install openssl).")
    pki.mkdir(mode=0o700, parents=True, exist_ok=True)
    (pki / "openssl.cnf").write_text(openssl_config(subject_alt_names()))
    _openssl(
        "req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "v3_ca",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", str(CA_DAYS), "-subj", CA_SUBJECT,
        cwd=pki,
    )  # fmt: skip
    _leaf(pki, "apiserver", APISERVER_SUBJECT, "v3_server")
    _leaf(pki, "admin", ADMIN_SUBJECT, "v3_client")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sa.key", cwd=pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def issue_client(pki: Path, name: str, subject: str) -> None:
    """Issue a client certificate ``<name>.{crt,key}`` from the cluster CA (e.g. a kubelet's node identity)."""
    _leaf(pki, name, subject, "v3_client")
    (pki / f"{name}.key").chmod(0o600)


def issue_server(pki: Path, name: str, subject: str, dns_names: tuple[str, ...], ips: tuple[str, ...]) -> None:
    """Issue a serving certificate ``<name>.{crt,key}`` from the cluster CA with its own subject alt names."""
    config = f"{name}.cnf"
    (pki / config).write_text(openssl_config(subject_alt_names(dns_names, ips)))
    _leaf(pki, name, subject, "v3_server", config)
    (pki / config).unlink()
    (pki / f"{name}.key").chmod(0o600)
