"""forgood sub-commands run as real processes, with a test's settings in their environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from forgood.domain.settings import Settings
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The FORGOOD_* environment that makes a child process see ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGOOD_")}
    return {**env, **settings.as_env()}


class Processes:
    """forgood sub-commands run as real processes for a test; all killed at teardown."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}
        self.starts = 0
        self.starts_of: dict[str, int] = {}

    def start(self, name: str, *args: str, wrapper: tuple[str, ...] = (),
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``forgood <args>`` in the background as ``name`` (its log: ``<name>-<n>.log``),
        run through ``wrapper`` (e.g. ``faketime -f -10m``) with ``env`` added, if given."""
        self.starts += 1
        self.starts_of[name] = self.starts
        log = open(self.logs / f"{name}-{self.starts}.log", "wb")  # noqa: SIM115 (the child writes it until it exits)
        proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "forgood.cli", *args],
            cwd=REPO,
            env={**settings_env(self.settings), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.running[name] = proc
        return proc

    def log(self, name: str) -> str:
        """The newest log of ``name`` so far."""
        return (self.logs / f"{name}-{self.starts_of[name]}.log").read_text(errors="replace")

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        """Block until the newest log of ``name`` contains ``text`` (bounded)."""
        wait_until(lambda: text in self.log(name), timeout, 0.1,
                   what=f"{text!r} in {name}-{self.starts_of[name]}.log")

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "forgood.cli", *args],
            cwd=REPO,
            env=settings_env(self.settings),
            capture_output=True,
            timeout=timeout,
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        proc = self.running.pop(name)
        proc.send_signal(sig)
        return proc.wait(timeout=60)

    def stop_all(self) -> None:
        for name in list(self.running):
            proc = self.running.pop(name)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    def tail(self) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-25:]
            out.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(out)
