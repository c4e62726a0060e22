"""Child processes for ``forgood run`` and ``forgood demo``: start, watch, stop cleanly.

Children are forgood sub-commands run with the same Python and environment. Stopping sends
SIGTERM, waits up to ``grace_s`` for a clean exit (flush, commit), then SIGKILLs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def spawn(name: str, args: list[str], log_file: Path | None = None, env: dict | None = None,
          module: str = "forgood.cli") -> Child:
    """Start ``python -m <module> <args>`` (by default ``forgood <args>``) in the background;
    output to ``log_file`` or inherited."""
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    # The child gets its own copy of the log's descriptor; ours is closed once it started.
    with open(log_file, "ab") if log_file is not None else contextlib.nullcontext() as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return Child(name, process)


def stop_all(children: list[Child], grace_s: float = 30.0) -> None:
    """SIGTERM every live child, wait up to ``grace_s`` in all, SIGKILL the rest."""
    for child in children:
        if child.alive:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def first_exited(children: list[Child]) -> Child | None:
    """The first child that has exited, if any (non-blocking)."""
    return next((c for c in children if not c.alive), None)
