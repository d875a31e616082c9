"""A bounded inference load loop against a real Triton, over HTTP and gRPC, for the zero-downtime proofs.

Each loop is a thread that sends add_sub inferences one after the other, the way an application's client does: HTTP
over one keep-alive connection, as a connection pool keeps it, or over a new connection per request; gRPC over one
channel with Triton's own client. The keep-alive loop resends a request once when the connection was closed or reset
before any byte of an answer came back, as connection pools do for a stale connection: Triton answers every request
it has accepted before it exits (exit_timeout_seconds), so such a request was never processed; those resends are
counted apart (``resent``). It stops by itself after ``max_requests`` or ``max_seconds``, whichever comes first, or when
``stop()`` is called. Only addresses the caller gives are used (the local cluster's node address and nodePorts).
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

ADD_SUB = {
    "inputs": [
        {"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]},
        {"name": "INPUT1", "shape": [4], "datatype": "FP32", "data": [10, 20, 30, 40]},
    ]
}
EXPECTED = {"OUTPUT0": [11, 22, 33, 44], "OUTPUT1": [-9, -18, -27, -36]}


@dataclass
class Figures:
    """What one loop saw: counts, latencies of the answered requests, and the longest time without an answer."""

    protocol: str
    sent: int = 0
    failed: int = 0
    resent: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    longest_gap: float = 0.0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "protocol": self.protocol,
            "sent": self.sent,
            "failed": self.failed,
            "resent": self.resent,
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "longest_gap_ms": round(self.longest_gap * 1000, 1),
            "seconds": round(self.seconds, 1),
            "first_errors": self.errors[:5],
        }


class _Loop(threading.Thread):
    protocol = ""

    def __init__(self, host: str, port: int, model: str, max_requests: int, max_seconds: float, pause: float):
        super().__init__(daemon=True, name=f"load-{self.protocol}")
        self.host, self.port, self.model = host, port, model
        self.max_requests, self.max_seconds, self.pause = max_requests, max_seconds, pause
        self.figures = Figures(self.protocol)
        self._halt = threading.Event()

    def stop(self) -> Figures:
        self._halt.set()
        self.join(timeout=30)
        return self.figures

    def infer(self) -> None:  # raises on any failure
        raise NotImplementedError

    def close(self) -> None:
        pass

    def run(self) -> None:
        start = last_answer = time.monotonic()
        try:
            while (
                not self._halt.is_set()
                and self.figures.sent < self.max_requests
                and time.monotonic() - start < self.max_seconds
            ):
                sent_at = time.monotonic()
                self.figures.sent += 1
                try:
                    self.infer()
                except Exception as exc:  # noqa: BLE001 - every failure is counted and kept as text
                    self.figures.failed += 1
                    self.figures.errors.append(f"{time.monotonic() - start:.2f}s {type(exc).__name__}: {exc}"[:300])
                    self.close()
                else:
                    now = time.monotonic()
                    self.figures.latencies.append(now - sent_at)
                    self.figures.longest_gap = max(self.figures.longest_gap, now - last_answer)
                    last_answer = now
                self._halt.wait(self.pause)
        finally:
            self.figures.seconds = time.monotonic() - start
            self.close()


_STALE = (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)


class HttpLoop(_Loop):
    protocol = "http keep-alive"
    keep_alive = True
    _conn: http.client.HTTPConnection | None = None

    def _send(self) -> http.client.HTTPResponse:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if not self.keep_alive:
            headers["Connection"] = "close"
        self._conn.request("POST", f"/v2/models/{self.model}/infer", body=json.dumps(ADD_SUB), headers=headers)
        return self._conn.getresponse()

    def infer(self) -> None:
        try:
            response = self._send()
        except _STALE:
            if not self.keep_alive:
                raise
            self.close()
            self.figures.resent += 1
            response = self._send()
        body = response.read()
        if not self.keep_alive:
            self.close()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        outputs = {o["name"]: o["data"] for o in json.loads(body)["outputs"]}
        if outputs != EXPECTED:
            raise RuntimeError(f"wrong answer {outputs}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class FreshHttpLoop(HttpLoop):
    """A new TCP connection per request, as curl or a client without a pool makes them."""

    protocol = "http new connection"
    keep_alive = False


class GrpcLoop(_Loop):
    protocol = "grpc"
    _client: Any = None

    def infer(self) -> None:
        import numpy as np
        import tritonclient.grpc as grpcclient

        if self._client is None:
            self._client = grpcclient.InferenceServerClient(f"{self.host}:{self.port}")
        inputs = []
        for spec in ADD_SUB["inputs"]:
            tensor = grpcclient.InferInput(spec["name"], spec["shape"], spec["datatype"])
            tensor.set_data_from_numpy(np.array(spec["data"], dtype=np.float32))
            inputs.append(tensor)
        result = self._client.infer(self.model, inputs, client_timeout=10)
        outputs = {name: result.as_numpy(name).tolist() for name in EXPECTED}
        if outputs != EXPECTED:
            raise RuntimeError(f"wrong answer {outputs}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class Load:
    """HTTP (keep-alive and new connections) and gRPC loops side by side.

    ``with Load(...) as load: ...``, then ``load.figures``.
    """

    def __init__(
        self,
        host: str,
        http_port: int,
        grpc_port: int,
        model: str = "add_sub",
        max_requests: int = 20000,
        max_seconds: float = 300,
        pause: float = 0.01,
    ):
        self.loops = [
            HttpLoop(host, http_port, model, max_requests, max_seconds, pause),
            FreshHttpLoop(host, http_port, model, max_requests, max_seconds, pause),
            GrpcLoop(host, grpc_port, model, max_requests, max_seconds, pause),
        ]
        self.figures: list[Figures] = []

    def __enter__(self) -> Load:
        for loop in self.loops:
            loop.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.figures = [loop.stop() for loop in self.loops]

    def summaries(self) -> list[dict[str, Any]]:
        return [f.summary() for f in self.figures]
