"""HTTP(S) health probes and the wait loop that starts nothing until the previous component is ready."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    """How to ask one component whether it is ready."""

    url: str
    ca: str = ""  # verify the server against this CA; empty: self-signed server, do not verify
    cert: str = ""  # client certificate, when the endpoint needs authentication
    key: str = ""
    expect: str = "ok"  # substring the body must contain


def ssl_context(ca: str = "", cert: str = "", key: str = "") -> ssl.SSLContext:
    """Return a TLS context trusting ``ca`` (or nothing is verified when empty) with an optional client cert."""
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def check(probe: Probe, timeout: float = 2.0) -> tuple[bool, str]:
    """Run one probe; return (ready, what the server said)."""
    context = ssl_context(probe.ca, probe.cert, probe.key) if probe.url.startswith("https:") else None
    try:
        with urllib.request.urlopen(probe.url, timeout=timeout, context=context) as resp:
            body = resp.read(4096).decode("utf-8", "replace")
            return resp.status == 200 and probe.expect in body, body.strip()
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}: {exc.read(2048).decode('utf-8', 'replace').strip()}"
    except (OSError, ssl.SSLError) as exc:
        return False, str(exc)


def wait_until(
    what: str,
    condition: Callable[[], tuple[bool, str]],
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.25,
) -> str:
    """Poll ``condition`` until it holds; stop early when ``alive`` says the process died.

    Returns the last message; raises TimeoutError or ChildProcessError with the last message.
    """
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        ok, last = condition()
        if ok:
            return last
        if not alive():
            raise ChildProcessError(f"{what}: the process exited (last answer: {last or 'none'})")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last answer: {last or 'none'})")
        time.sleep(interval)
