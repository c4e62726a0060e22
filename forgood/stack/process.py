"""Detached background processes: start, find by pid file, stop, and read their logs."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

# Processes this Python process started: kept so they are reaped (no zombies, no
# "still running" ResourceWarning) and so their death is seen at once.
_children: dict[int, subprocess.Popen] = {}


def spawn(command: list[str], log_file: Path, cwd: Path) -> int:
    """Start ``command`` in its own session, stdin closed, stdout+stderr appended to ``log_file``.

    Returns the pid at once; does not wait for the program to be ready.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n=== {started} forgood stack: {shlex.join(command)}\n".encode())
        log.flush()
        child = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[child.pid] = child
    return child.pid


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def command_line(pid: int) -> list[str]:
    """The argv of a running process, or [] if it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pid(pid_file: Path) -> int | None:
    """The pid stored in ``pid_file``, or None if the file is missing or garbled."""
    try:
        text = pid_file.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid(pid_file: Path, pid: int) -> None:
    """Write ``pid`` to ``pid_file`` atomically."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    partial = pid_file.with_suffix(".tmp")
    partial.write_text(f"{pid}\n")
    os.replace(partial, pid_file)


def remove_pid(pid_file: Path) -> None:
    """Delete ``pid_file`` if it exists."""
    pid_file.unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # a session leader we started: signal its whole group
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def terminate(pids: list[int], timeout: float, kill_grace: float = 5.0) -> list[int]:
    """Stop processes: SIGTERM, wait up to ``timeout`` s, SIGKILL survivors, wait ``kill_grace`` s.

    Blocks until every process is gone or both waits ran out; returns the pids still alive
    (normally none).
    """
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    alive = _wait_gone(pids, timeout)
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    alive = _wait_gone(alive, kill_grace)
    for pid in pids:
        if pid not in alive:
            _children.pop(pid, None)
    return alive


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if is_alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if is_alive(pid)]
    return alive


def log_size(path: Path) -> int:
    """Current size of a log file in bytes (0 if missing): remember it to tail only new lines."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_tail(path: Path, since: int = 0, lines: int = 25) -> str:
    """The last ``lines`` lines written to ``path`` after byte offset ``since`` ("" if none)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(since if since <= size else 0, size - 64 * 1024)
            log.seek(start)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
