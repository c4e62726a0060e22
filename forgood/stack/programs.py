"""Helpers every service of the local stack uses: find a program, read its version, probe
an HTTP readiness endpoint, write generated config files only when they change; and the base
of the two Prometheus-project servers (:class:`ReadyProbedServer`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from forgood.domain.errors import StackError

from .endpoints import Endpoint
from .layout import StackLayout
from .service import LocalService

#: The checkout the stack runs from (deploy/ files are read from here).
REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
VERSION_TIMEOUT_S = 5.0

def find_program(names: Sequence[str], paths: Sequence[str], what: str, package: str) -> str:
    """Path of the first of ``names`` on PATH, else the first executable of ``paths``.

    StackError saying how to install it (``make setup``) if there is none.
    """
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    looked = ", ".join(f"`{n}`" for n in names)
    raise StackError(
        f"{what} is not installed (looked for {looked} on PATH and in "
        f"{', '.join(str(Path(p).parent) for p in paths) or 'no other folder'}): run `make setup` "
        f"(installs Debian's `{package}`) or `apt-get install {package}`"
    )


@cache
def program_version(path: str) -> str:
    """``2.42.0`` from ``<path> --version`` ("prometheus, version 2.42.0+ds (branch ...)").

    Runs the program once per process and path (at most ``VERSION_TIMEOUT_S``); "" if it fails.
    """
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.search(r"\bversion (\d+(?:\.\d+)*)", done.stdout + done.stderr)
    return found.group(1) if found else ""


def http_ready(endpoint: Endpoint, path: str, timeout: float) -> bool:
    """True if ``GET http://<endpoint><path>`` answers 200 within ``timeout`` (no proxy)."""
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with no_proxy.open(f"http://{endpoint}{path}", timeout=timeout) as reply:
            return reply.status == 200
    except (OSError, ValueError):
        return False


def write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it already holds exactly that (keeps mtimes stable)."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    path.write_text(text)


def read_text(path: Path) -> str | None:
    """The file's text, or None if it cannot be read."""
    try:
        return path.read_text()
    except OSError:
        return None


class ReadyProbedServer(LocalService):
    """A Prometheus-project server of the stack (Prometheus, Alertmanager): one HTTP port on
    127.0.0.1 that answers ``GET /-/ready``, a data folder ``stack reset`` deletes (the config
    and the logs stay), a log named after the service, a version from ``--version``."""

    #: The program's name as people write it ("Prometheus").
    label: str

    def __init__(self, layout: StackLayout, port: int) -> None:
        super().__init__(layout)
        self._endpoint = Endpoint(LOOPBACK, port)

    def find(self) -> str:
        """Path of the program; StackError (run ``make setup``) if it is not installed."""
        raise NotImplementedError

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def ports(self) -> list[tuple[str, Endpoint]]:
        return [("HTTP", self.endpoint)]

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.layout.logs_dir / f"{self.name}.log"

    def describe_version(self) -> str:
        try:
            version = program_version(self.find())
        except StackError:
            return ""
        return f"{self.label} {version}" if version else self.label

    def wipe(self) -> None:
        """Delete the stored data (``stack reset``); the config and the logs stay."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def answers(self, timeout: float) -> bool:
        """``GET /-/ready`` answers 200 within about ``timeout`` seconds."""
        return http_ready(self.endpoint, "/-/ready", timeout)
