"""_identity: what makes an API server "the expected one", shown against real TLS servers on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.inference.triton.plugins.module_utils._identity import (
    IdentityError,
    check_server,
    is_loopback,
    pem_certificates,
    server_address,
    trust_problem,
)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A CA and a serving certificate it issued for 127.0.0.1; returns (ca.crt, server.pem with key)."""
    folder.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req", "-x509", *ec, "-days", "1", "-subj", f"/CN={name}-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=folder
    )
    openssl("req", *ec, "-subj", f"/CN={name}-server", "-keyout", "server.key", "-out", "server.csr", cwd=folder)
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
        "-extfile", "ext.cnf", "-out", "server.crt", cwd=folder,
    )  # fmt: skip
    pem = folder / "server.pem"
    pem.write_text((folder / "server.crt").read_text() + (folder / "server.key").read_text())
    return folder / "ca.crt", pem


def serve_tls(pem: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes handshakes and closes; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pem))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _peer = listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("pki")
    return {"local": make_ca(root / "local", "local"), "other": make_ca(root / "other", "other")}


@pytest.fixture
def local_server(pki) -> Iterator[int]:
    yield from serve_tls(pki["local"][1])


@pytest.fixture
def other_server(pki) -> Iterator[int]:
    yield from serve_tls(pki["other"][1])


def config(port: int, ca: Path | None, verify: bool = True, host: str = "127.0.0.1") -> SimpleNamespace:
    return SimpleNamespace(host=f"https://{host}:{port}", ssl_ca_cert=str(ca) if ca else None, verify_ssl=verify)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("[::1]", True), ("::1", True),
     ("10.0.0.1", False), ("198.18.0.1", False), ("api.example.internal", False)],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_server_address():
    assert server_address("https://127.0.0.1:6443") == ("127.0.0.1", 6443)
    assert server_address("https://k8s.example.internal") == ("k8s.example.internal", 443)
    with pytest.raises(IdentityError, match="not an https:// URL"):
        server_address("http://127.0.0.1:8080")


def test_pem_certificates_reads_every_block(pki):
    local, other = pki["local"][0].read_text(), pki["other"][0].read_text()
    assert len(pem_certificates(local + "\nnoise\n" + other)) == 2
    assert pem_certificates("no certificate here") == []


def test_trust_problem(pki):
    local, other = pki["local"][0].read_text(), pki["other"][0].read_text()
    assert trust_problem(True, local, local) is None
    assert "another CA" in str(trust_problem(True, other, local))
    assert "another CA" in str(trust_problem(True, local + other, local))  # exactly the expected CA, no more
    assert "certificate checks off" in str(trust_problem(False, local, local))
    assert "name no CA" in str(trust_problem(True, None, local))
    assert "no PEM certificate" in str(trust_problem(True, local, "garbage"))


def test_the_expected_server_passes(pki, local_server):
    ca = pki["local"][0]
    assert check_server(config(local_server, ca), str(ca), loopback_only=True) == {
        "host": f"https://127.0.0.1:{local_server}",
        "ca_file": str(ca),
        "loopback": True,
    }


def test_another_server_fails_even_when_the_client_trusts_the_expected_ca(pki, other_server):
    ca = pki["local"][0]
    with pytest.raises(IdentityError, match="presents a certificate that the expected CA did not issue"):
        check_server(config(other_server, ca), str(ca), loopback_only=True)


def test_the_expected_server_trusted_through_another_ca_fails(pki, local_server):
    with pytest.raises(IdentityError, match="trust another CA than the expected one"):
        check_server(config(local_server, pki["other"][0]), str(pki["local"][0]), loopback_only=True)


def test_certificate_checks_off_fail(pki, local_server):
    ca = pki["local"][0]
    with pytest.raises(IdentityError, match="certificate checks off"):
        check_server(config(local_server, ca, verify=False), str(ca), loopback_only=True)


def test_a_server_off_loopback_fails_before_any_connection(pki):
    ca = pki["local"][0]
    with pytest.raises(IdentityError, match=r"https://198.18.0.1:6443 is not on a loopback address"):
        check_server(config(6443, ca, host="198.18.0.1"), str(ca), loopback_only=True)


def test_nothing_listening_fails_naming_the_address(pki):
    ca = pki["local"][0]
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(IdentityError, match=f"cannot connect to 127.0.0.1:{port}"):
        check_server(config(port, ca), str(ca), loopback_only=True)


def test_a_missing_ca_file_fails_naming_it(tmp_path, pki):
    with pytest.raises(IdentityError, match="expected CA file .*missing.crt does not exist"):
        check_server(config(1, pki["local"][0]), str(tmp_path / "missing.crt"), loopback_only=True)
