"""What every service of the local stack provides, and the status the stack reports for it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from .endpoints import Endpoint
from .layout import StackLayout
from .process import command_line, is_alive, read_pid


@dataclass(frozen=True)
class ServiceStatus:
    """One service of the stack as seen by ``up``, ``down`` or ``status``.

    ``running``: our process is alive (for a remote service: it answered). ``answering``: it
    served a real protocol request. ``managed``: the address is loopback, so the stack
    starts and stops it. ``detail``: a short human note ("started", "already running", ...).
    ``version``: the program and its version where the stack knows it ("Apache Kafka 4.1.1").
    """

    name: str
    address: str
    pid: int | None
    running: bool
    answering: bool
    log: Path | None
    managed: bool = True
    detail: str = ""
    version: str = ""


class LocalService(ABC):
    """A server the stack runs as a detached process with files under the stack folder."""

    name: str
    #: How a user moves this service to other ports (ends the "port taken" error).
    how_to_move: str

    def __init__(self, layout: StackLayout) -> None:
        self.layout = layout

    @property
    @abstractmethod
    def endpoint(self) -> Endpoint:
        """The address clients use."""

    @abstractmethod
    def ports(self) -> list[tuple[str, Endpoint]]:
        """Every (label, endpoint) the server listens on; all must be free before it starts."""

    @property
    def managed(self) -> bool:
        """Only services on a loopback address are started and stopped by the stack."""
        return self.endpoint.is_loopback

    @property
    def work_dir(self) -> Path:
        return self.layout.work_dir(self.name)

    @property
    def pid_file(self) -> Path:
        return self.layout.pid_file(self.name)

    @property
    @abstractmethod
    def log_file(self) -> Path:
        """The main log a user should read."""

    @property
    def stdout_log(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.log_file

    def failure_logs(self) -> list[Path]:
        """Logs whose new lines explain a failed start."""
        return [self.stdout_log]

    @abstractmethod
    def is_ours(self, argv: list[str]) -> bool:
        """True if a process with this argv is this service started from this stack folder."""

    @abstractmethod
    def mismatch(self, argv: list[str]) -> str | None:
        """Why our running process does not fit the current settings, or None if it does."""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv to start the server; raises StackError if the program is not installed."""

    def preflight(self) -> None:  # noqa: B027 (optional hook: by default nothing to check)
        """Before a start, without side effects: raise StackError if the start cannot work
        (program missing, data folder unusable). Runs before any service is started."""

    def prepare(self) -> None:
        """Create folders and config files the server needs before it starts (may block)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def describe_version(self) -> str:
        """What runs, with its version (e.g. "Apache Kafka 4.1.1"); "" if unknown."""
        return ""

    def wipe(self) -> None:  # noqa: B027 (optional hook: by default no data to delete)
        """Delete the service's data (``forgood stack reset``); it must be stopped."""

    @abstractmethod
    def answers(self, timeout: float) -> bool:
        """True if the server answers a real request within about ``timeout`` seconds."""

    def running_pid(self) -> int | None:
        """Pid of our live process from the pid file, or None (missing, dead, or reused pid)."""
        pid = read_pid(self.pid_file)
        if pid is None or not is_alive(pid) or not self.is_ours(command_line(pid)):
            return None
        return pid
