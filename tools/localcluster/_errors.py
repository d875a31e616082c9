"""The one exception type the tool raises for problems a user can act on."""

from __future__ import annotations

from pathlib import Path


class LocalClusterError(Exception):
    """A failure with a message meant for a human; the CLI prints it without a traceback."""


def tail(path: Path, lines: int = 20) -> str:
    """Return the last lines of a log file, or a note saying it is missing."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


def with_log(message: str, log: Path, lines: int = 20) -> LocalClusterError:
    """Build an error whose text ends with the last lines of a log and the log's path."""
    return LocalClusterError(f"{message}\n--- last {lines} lines of {log} ---\n{tail(log, lines)}\n--- full log: {log}")
