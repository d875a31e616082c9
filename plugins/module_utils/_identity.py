# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Which API server the connection options reach: a loopback address, trusted through one CA, proven by TLS."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

# At most this long for the TLS handshake that proves who the server is.
HANDSHAKE_TIMEOUT = 10.0


class IdentityError(Exception):
    """The API server is not the one expected, with the reason fit for a user."""


def pem_certificates(text: str) -> list[bytes]:
    """The DER bytes of every certificate of a PEM text, in order (anything between the blocks is ignored)."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    found = []
    rest = text
    while begin in rest:
        start = rest.index(begin)
        stop = rest.find(end, start)
        if stop < 0:
            break
        found.append(ssl.PEM_cert_to_DER_cert(rest[start : stop + len(end)] + "\n"))
        rest = rest[stop + len(end) :]
    return found


def is_loopback(host: str) -> bool:
    """Whether a URL's host name is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_address(url: str) -> tuple[str, int]:
    """(host, port) of an API server URL; https without a port is 443."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise IdentityError(f"the API server {url!r} is not an https:// URL")
    return parts.hostname, parts.port or 443


def trust_problem(verify_ssl: bool, trusted_pem: str | None, expected_pem: str) -> str | None:
    """Why the client's TLS settings do not trust exactly the expected CA, or None when they do."""
    if not verify_ssl:
        return "the connection options turn certificate checks off (validate_certs false, or insecure-skip-tls-verify)"
    expected = pem_certificates(expected_pem)
    if not expected:
        return "the expected CA file holds no PEM certificate"
    if trusted_pem is None:
        return "the connection options name no CA (the system's CAs would be trusted)"
    trusted = pem_certificates(trusted_pem)
    if sorted(trusted) != sorted(expected):
        return "the connection options trust another CA than the expected one"
    return None


def describe_source(params: dict[str, Any]) -> str:
    """Where the connection options came from, for messages: the kubeconfig, context and host given."""
    parts = []
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        parts.append("kubeconfig given as a dictionary")
    elif kubeconfig:
        parts.append(f"kubeconfig {kubeconfig}")
    else:
        parts.append(f"kubeconfig {os.environ.get('KUBECONFIG') or '~/.kube/config'} (no kubeconfig option)")
    if params.get("context"):
        parts.append(f"context {params['context']}")
    if params.get("host"):
        parts.append(f"host {params['host']}")
    return ", ".join(parts)


def prove_server(host: str, port: int, ca_file: str, timeout: float = HANDSHAKE_TIMEOUT) -> None:
    """A TLS handshake with ``host:port`` that trusts ``ca_file`` only: the server proves it holds a certificate of
    that CA for that address, or IdentityError says what it did instead."""
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return
    except ssl.SSLCertVerificationError as exc:
        raise IdentityError(
            f"the server at {host}:{port} presents a certificate that the expected CA did not issue "
            f"({exc.verify_message}): it is another API server"
        ) from exc
    except ssl.SSLError as exc:
        raise IdentityError(f"the server at {host}:{port} does not complete a TLS handshake: {exc}") from exc
    except socket.timeout as exc:
        raise IdentityError(f"nothing answers at {host}:{port} within {timeout:.0f}s") from exc
    except OSError as exc:
        raise IdentityError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc


def check_server(config: Any, ca_file: str, loopback_only: bool) -> dict[str, Any]:
    """Check a kubernetes.client.Configuration against the expectations; returns what was checked.

    In this order: the expected CA file exists; the server address is a loopback one (``loopback_only``); the client
    trusts exactly that CA, with certificate checks on; the server proves in a TLS handshake that it holds a
    certificate of that CA for its address.
    """
    ca_file = os.path.expanduser(ca_file)
    if not os.path.isfile(ca_file):
        raise IdentityError(f"the expected CA file {ca_file} does not exist")
    with open(ca_file, encoding="ascii", errors="replace") as handle:
        expected_pem = handle.read()
    host, port = server_address(str(config.host))
    if loopback_only and not is_loopback(host):
        raise IdentityError(f"the API server {config.host} is not on a loopback address")
    trusted_pem = None
    if config.ssl_ca_cert:
        with open(config.ssl_ca_cert, encoding="ascii", errors="replace") as handle:
            trusted_pem = handle.read()
    problem = trust_problem(bool(config.verify_ssl), trusted_pem, expected_pem)
    if problem:
        raise IdentityError(f"{problem} (API server {config.host})")
    prove_server(host, port, ca_file)
    return {"host": str(config.host), "ca_file": ca_file, "loopback": is_loopback(host)}
