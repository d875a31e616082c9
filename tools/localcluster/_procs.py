"""Start detached component processes and stop them again, only ever by a pid this tool recorded.

Before a signal is sent, /proc/<pid>/cmdline must still start with the recorded binary: a pid reused by an
unrelated process is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start(argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start a process in its own session, output to ``log``; return its pid."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int) -> bool:
    """Tell whether the process exists and is not a zombie."""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def is_ours(pid: int, binary: str) -> bool:
    """Tell whether ``pid`` is alive and still runs ``binary`` (guards against pid reuse)."""
    args = cmdline(pid)
    return bool(args) and args[0] == binary and is_alive(pid)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def wait_reaped(pids: list[int], timeout: float = 5.0) -> None:
    """Give init a moment to reap exited processes, so that `ps` right after `down` shows none of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return
        time.sleep(0.05)


def stop(pid: int, binary: str, timeout: float = 15.0) -> str:
    """Stop one recorded process: SIGTERM, then SIGKILL after ``timeout``. Return what happened."""
    if not is_ours(pid, binary):
        return "not running"
    os.kill(pid, signal.SIGTERM)
    outcome = "stopped"
    if not _wait_gone(pid, timeout):
        if is_ours(pid, binary):
            os.kill(pid, signal.SIGKILL)
        outcome = "killed" if _wait_gone(pid, 5.0) else "still running"
    return outcome


def rss_kib(pid: int) -> int:
    """Return the resident set size of a process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
