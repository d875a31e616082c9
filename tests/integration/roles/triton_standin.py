"""A stand-in for Triton's HTTP endpoints, for testing the triton_verify role without a GPU.

Speaks just enough of the KServe v2 protocol on 127.0.0.1 (a random port unless --port is given):
``GET /v2/health/live``, ``GET /v2/health/ready`` (200 only when every model is READY), ``GET /v2``,
``POST /v2/repository/index`` and ``GET /metrics`` (Prometheus text with Triton's ``nv_`` metrics).

    python triton_standin.py --model identity --model add_sub=UNAVAILABLE:failed to load

prints ``http://127.0.0.1:<port>`` on its first line of output once it listens, then serves until killed.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse_model(text: str) -> dict[str, str]:
    """``name`` or ``name=STATE`` or ``name=STATE:reason`` -> an index entry."""
    name, _sep, rest = text.partition("=")
    state, _sep, reason = (rest or "READY").partition(":")
    entry = {"name": name, "version": "1", "state": state}
    if reason:
        entry["reason"] = reason
    return entry


def metrics_text(models: list[dict[str, str]]) -> str:
    lines = [
        "# HELP nv_inference_request_success Number of successful inference requests, all batch sizes",
        "# TYPE nv_inference_request_success counter",
    ]
    lines += [f'nv_inference_request_success{{model="{m["name"]}",version="1"}} 0' for m in models]
    lines += ["# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)", "# TYPE nv_gpu_utilization gauge"]
    return "\n".join(lines) + "\n"


def make_handler(models: list[dict[str, str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            ready = all(m["state"] == "READY" for m in models)
            if self.path == "/v2/health/live":
                self._send(200)
            elif self.path == "/v2/health/ready":
                self._send(200 if ready else 400)
            elif self.path == "/v2":
                meta = {"name": "triton", "version": "2.60.0", "extensions": ["model_repository", "statistics"]}
                self._send(200, json.dumps(meta).encode())
            elif self.path == "/metrics":
                self._send(200, metrics_text(models).encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path == "/v2/repository/index":
                self._send(200, json.dumps(models).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="name[=STATE[:reason]], repeatable")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler([parse_model(m) for m in args.model]))
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
