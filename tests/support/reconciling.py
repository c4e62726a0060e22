"""``forgood reconcile`` as the integration mixes end: run as a process until it agrees (bounded)."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.processes import Processes
from tests.support.waiting import wait_until


def assert_reconciles(procs: Processes, *options: str, timeout: float = 60) -> None:
    """``forgood reconcile OPTIONS``, run as a process with the test's settings, exits 0 within
    ``timeout`` s; else fail with its last output (the differing campaigns, videos, minutes).
    Retried meanwhile: a test waits for the totals, and the per-video rows may land a moment
    after them. The other integration mixes call this after their own final checks."""
    runs: list[subprocess.CompletedProcess] = []

    def agrees() -> bool:
        runs.append(procs.run("reconcile", *options, timeout=timeout))
        return runs[-1].returncode == 0

    try:
        wait_until(agrees, timeout, 2, what=f"forgood reconcile {' '.join(options)} to exit 0")
    except AssertionError:
        last = runs[-1]
        pytest.fail(f"forgood reconcile {' '.join(options)} exited {last.returncode} ({len(runs)} runs); "
                    f"the last said:\n{last.stdout.decode(errors='replace')}{last.stderr.decode(errors='replace')}")
