"""Loopback ports: pick free ones, check requested ones, and tell whether anything still listens."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

HOST = "127.0.0.1"
# Components with a listening port, in start order; etcd has two (client and peer).
PORT_NAMES = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# The `up` option that overrides each port.
PORT_FLAGS = {
    "etcd": "--etcd-port",
    "etcd-peer": "--etcd-peer-port",
    "kube-apiserver": "--api-port",
    "kube-controller-manager": "--controller-manager-port",
    "kube-scheduler": "--scheduler-port",
    "kwok": "--kwok-port",
}


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def port_is_free(port: int) -> bool:
    """Tell whether a server could bind 127.0.0.1:port now (same SO_REUSEADDR semantics as Go servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def assign_ports(requested: dict[str, int]) -> dict[str, int]:
    """Fill every component port not given (0 or missing) with a free one; keep the ones given."""
    wanted = {name: requested.get(name, 0) for name in PORT_NAMES}
    fresh = iter(p for p in free_ports(len(PORT_NAMES) * 2) if p not in wanted.values())
    return {name: port or next(fresh) for name, port in wanted.items()}


def listening_ports(proc_net: Path = Path("/proc/net")) -> set[int]:
    """Return every TCP port in LISTEN state on this machine (IPv4 and IPv6), read from /proc/net."""
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc_net / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
