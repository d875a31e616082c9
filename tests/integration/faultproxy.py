"""A fault-injecting HTTPS proxy on 127.0.0.1 in front of the real API server, for the reliability tests.

It terminates TLS with a self-signed certificate made at run time with ``openssl``, and forwards each request to
the real API server with the client certificate of the test kubeconfig (so every request it passes acts as that
identity). Rules answer the first N matching requests with an injected status (429 with ``Retry-After: 0``,
500, 503, 409 ...) instead of forwarding them; :meth:`FaultProxy.go_down_after` makes it close every connection
without an answer once a given request has passed, which is what a client sees when the API server goes away.

Test-only: nothing in the collection imports it.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import yaml

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization"}
_REASONS = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str

    @property
    def dry_run(self) -> bool:
        return "dryRun" in self.query

    @property
    def watch(self) -> bool:
        return self.query.get("watch", [""])[0].lower() in ("true", "1")

    @property
    def apply(self) -> bool:
        return self.method == "PATCH" and self.content_type.startswith("application/apply-patch")

    def __str__(self) -> str:
        return f"{self.method} {self.path}{' (dry run)' if self.dry_run else ''}"


@dataclass
class Fault:
    """Answer ``status`` to the first ``times`` requests that match (``times=None``: every one)."""

    status: int
    methods: tuple[str, ...]
    path: str  # a regular expression searched in the URL path
    times: Optional[int] = 1
    dry_run: Optional[bool] = None  # None: either; True/False: only dry runs / only real requests
    watch: Optional[bool] = None  # None: either; True/False: only watches / no watches
    injected: int = 0

    def matches(self, request: Request) -> bool:
        if request.method not in self.methods or not re.search(self.path, request.path):
            return False
        if self.dry_run is not None and request.dry_run != self.dry_run:
            return False
        if self.watch is not None and request.watch != self.watch:
            return False
        return self.times is None or self.injected < self.times


@dataclass
class Hold:
    """Hold requests that match until ``parties`` of them have arrived, then let them all through together."""

    methods: tuple[str, ...]
    path: str
    dry_run: Optional[bool]
    barrier: threading.Barrier
    met: int = 0

    def matches(self, request: Request) -> bool:
        if request.method not in self.methods or not re.search(self.path, request.path):
            return False
        return self.dry_run is None or request.dry_run == self.dry_run


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    down: bool = False
    down_after: Optional[Callable[[Request], bool]] = None
    log: list[tuple[str, str]] = field(default_factory=list)  # (request, outcome)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """Use as a context manager; ``kubeconfig`` is a kubeconfig that talks to the cluster through the proxy."""

    def __init__(self, real_kubeconfig: str, workdir: Path):
        self.workdir = workdir
        self.state = _State()
        config = yaml.safe_load(Path(real_kubeconfig).read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        upstream = urlsplit(cluster["server"])
        self.upstream = (upstream.hostname, upstream.port or 443)
        self.upstream_context = ssl.create_default_context(cadata=_pem_bytes(cluster, "certificate-authority").decode())
        cert, key = workdir / "proxy-client.crt", workdir / "proxy-client.key"
        cert.write_bytes(_pem_bytes(user, "client-certificate"))
        key.write_bytes(_pem_bytes(user, "client-key"))
        key.chmod(0o600)
        self.upstream_context.load_cert_chain(str(cert), str(key))
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.kubeconfig = ""
        self.server = ""
        self._config = config

    # -- control ---------------------------------------------------------------------------------------------
    def inject(self, status: int, methods: tuple[str, ...] | str, path: str, times: Optional[int] = 1, **kw: Any):
        fault = Fault(status, (methods,) if isinstance(methods, str) else tuple(methods), path, times, **kw)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def rendezvous(
        self,
        methods: tuple[str, ...] | str,
        path: str,
        parties: int = 2,
        dry_run: Optional[bool] = None,
        timeout: float = 60.0,
    ) -> Hold:
        """The first ``parties`` matching requests wait for each other (at most ``timeout``), then go together:
        two clients' writes made to overlap, whatever their start-up times."""
        hold = Hold(
            (methods,) if isinstance(methods, str) else tuple(methods),
            path,
            dry_run,
            threading.Barrier(parties, timeout=timeout),
        )
        with self.state.lock:
            self.state.holds.append(hold)
        return hold

    def go_down_after(self, predicate: Callable[[Request], bool]) -> None:
        """Once a request matching ``predicate`` has been forwarded and answered, close every connection."""
        self.state.down_after = predicate

    def heal(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.down = False
            self.state.down_after = None

    @property
    def injected(self) -> int:
        return sum(f.injected for f in self.state.faults)

    def outcomes(self, outcome: str) -> list[str]:
        return [r for r, o in self.state.log if o == outcome]

    # -- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> FaultProxy:
        cert, key = self.workdir / "proxy.crt", self.workdir / "proxy.key"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "1", "-subj", "/CN=faultproxy", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        port = self._server.server_address[1]
        self.server = f"https://127.0.0.1:{port}"
        config = json.loads(json.dumps(self._config))
        for entry in config["clusters"]:
            entry["cluster"]["server"] = self.server
            entry["cluster"].pop("certificate-authority", None)
            entry["cluster"]["certificate-authority-data"] = base64.b64encode(cert.read_bytes()).decode()
        path = self.workdir / "proxy.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        self.kubeconfig = str(path)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        state = self.proxy.state
        url = urlsplit(self.path)
        request = Request(self.command, url.path, parse_qs(url.query), self.headers.get("Content-Type", ""))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with state.lock:
            if state.down:
                state.log.append((str(request), "dropped"))
                self.close_connection = True
                return  # no answer at all: the client sees the connection closed
            fault = next((f for f in state.faults if f.matches(request)), None)
            if fault:
                fault.injected += 1
                state.log.append((str(request), str(fault.status)))
            hold = next((h for h in state.holds if h.met < h.barrier.parties and h.matches(request)), None)
            if hold and not fault:
                hold.met += 1
        if hold and not fault:
            try:
                hold.barrier.wait()
            except threading.BrokenBarrierError:  # the other party never came: the test sees hold.barrier.broken
                state.log.append((str(request), "rendezvous missed"))
        if fault:
            self._answer(fault.status, request)
            return
        self._forward(request, body)
        with state.lock:
            state.log.append((str(request), "passed"))
            if state.down_after and state.down_after(request):
                state.down = True

    def _answer(self, status: int, request: Request) -> None:
        reason = _REASONS.get(status, "InternalError")
        payload = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"injected by the fault proxy: {status} {reason} for {request}",
                "reason": reason,
                "code": status,
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, request: Request, body: Optional[bytes]) -> None:
        host, port = self.proxy.upstream
        watching = request.watch
        upstream = http.client.HTTPSConnection(host, port, context=self.proxy.upstream_context, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            if watching:
                # A watch streams until the server ends it: pass it on as it comes, then close.
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                while chunk := response.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                return
            payload = response.read()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()


def _pem_bytes(entry: dict[str, Any], key: str) -> bytes:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    return Path(entry[key]).read_bytes()
