"""``up`` / ``down`` / ``status`` / ``reset`` of the local stack: Apache Kafka, ClickHouse,
Prometheus and Alertmanager.

All run as detached background processes bound to loopback, with pid files, logs, config
and data under ``<state_dir>/stack``. Services whose configured host is not loopback are
never started or stopped, only checked. Data survives ``down``; only ``reset`` deletes it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from forgood.domain.errors import StackError
from forgood.domain.settings import Settings, get_settings

from .alertmanager import Alertmanager
from .clickhouse import ClickHouse
from .kafka import Kafka
from .layout import StackLayout
from .ports import port_in_use, port_taken_message
from .process import (
    command_line,
    is_alive,
    log_size,
    log_tail,
    remove_pid,
    spawn,
    terminate,
    write_pid,
)
from .prometheus import Prometheus
from .service import LocalService, ServiceStatus

UP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 2.0
_POLL_S = 0.2
_REMOTE_NOTE = "not local: left alone (forgood stack manages loopback addresses only)"


def services(settings: Settings, only: Collection[str] | None = None) -> list[LocalService]:
    """The stack's services for these settings, Kafka first; with ``only``, just those names
    (e.g. ``{"kafka"}`` for a test's own broker beside the shared ClickHouse).

    Raises StackError on a bad address or an unknown name.
    """
    layout = StackLayout.for_settings(settings)
    every: list[LocalService] = [
        Kafka(settings, layout),
        ClickHouse(settings, layout),
        Prometheus(settings, layout),
        Alertmanager(settings, layout),
    ]
    if only is None:
        return every
    unknown = set(only) - {s.name for s in every}
    if unknown:
        raise StackError(f"no stack service named {', '.join(sorted(unknown))}")
    return [s for s in every if s.name in only]


def up(
    settings: Settings | None = None,
    *,
    timeout: float = UP_TIMEOUT_S,
    only: Collection[str] | None = None,
) -> list[ServiceStatus]:
    """Start whatever of the stack is not running, then wait until every service answers.

    Blocks for at most about ``timeout`` seconds (plus up to ``timeout`` waiting for another
    ``up``/``down`` on the same state folder): normally under a second. A service of ours that is
    already running and matches the settings is left alone, so calling ``up`` twice is safe.
    A non-loopback service is not started but must answer too.

    Raises StackError, before starting anything, if a program is missing or a port is held
    by a process we did not start (the message names it); and after starting, if a process
    exits (with the tail of its log) or something does not answer in time (it is left
    running: see its log, then ``down``); services that did start are left running, so fix
    the cause and call ``up`` again. Returns one ServiceStatus per service, all answering.
    """
    settings = settings or get_settings()
    stack = services(settings, only)
    deadline = time.monotonic() + timeout
    with _stack_lock(StackLayout.for_settings(settings), timeout):
        plan = [_plan_start(service) for service in stack]
        for start in plan:
            if start.command:
                _start(start)
        _wait_until_answering(plan, deadline, timeout)
    return [start.status() for start in plan]


def down(
    settings: Settings | None = None,
    *,
    timeout: float = STOP_TIMEOUT_S,
    only: Collection[str] | None = None,
) -> list[ServiceStatus]:
    """Stop the stack's processes: SIGTERM, up to ``timeout`` s, then SIGKILL; remove pid files.

    Blocks until they are gone (ClickHouse takes 0.5-2 s, Kafka 1-5 s to shut down
    cleanly). Stopping what is not running does nothing, so ``down`` is safe to repeat. Every
    service's data stays on disk. Raises StackError only if a process survives SIGKILL or the
    state folder is locked by another command.
    """
    settings = settings or get_settings()
    stack = services(settings, only)
    with _stack_lock(StackLayout.for_settings(settings), timeout):
        pids = _stop(stack, timeout)
        result = []
        for service in stack:
            if not service.managed:
                detail = _REMOTE_NOTE
            else:
                remove_pid(service.pid_file)
                detail = "stopped" if pids.get(service.name) is not None else "was not running"
            result.append(_status(service, None, False, False, detail))
    return result


def reset(
    settings: Settings | None = None,
    *,
    timeout: float = STOP_TIMEOUT_S,
    only: Collection[str] | None = None,
) -> list[ServiceStatus]:
    """Stop the stack (as ``down``) and delete every managed service's data: Kafka's topics and
    offsets, ClickHouse's databases, Prometheus' samples, Alertmanager's silences. Logs stay.

    For a fresh start on purpose, or after a Kafka version change. Blocks like ``down``.
    """
    settings = settings or get_settings()
    stack = services(settings, only)
    with _stack_lock(StackLayout.for_settings(settings), timeout):
        _stop(stack, timeout)
        result = []
        for service in stack:
            if not service.managed:
                result.append(_status(service, None, False, False, _REMOTE_NOTE))
                continue
            remove_pid(service.pid_file)
            service.wipe()
            result.append(_status(service, None, False, False, "stopped, data deleted"))
    return result


def _stop(stack: list[LocalService], timeout: float) -> dict[str, int | None]:
    pids = {s.name: s.running_pid() for s in stack if s.managed}
    survivors = terminate([pid for pid in pids.values() if pid is not None], timeout)
    if survivors:
        raise StackError(f"processes {survivors} did not stop even after SIGKILL; check `ps`")
    return pids


def status(
    settings: Settings | None = None,
    *,
    probe_timeout: float = PROBE_TIMEOUT_S,
    only: Collection[str] | None = None,
) -> list[ServiceStatus]:
    """Report each service: our pid if its process runs, and whether its address answers.

    Changes nothing and takes no lock. Blocks for at most about ``probe_timeout`` seconds per
    service (milliseconds when a port is closed). Raises StackError only on a bad address.
    """
    result = []
    for service in services(settings or get_settings(), only):
        pid = service.running_pid() if service.managed else None
        answering = service.answers(probe_timeout)
        running = pid is not None if service.managed else answering
        result.append(_status(service, pid, running, answering, _describe(service, pid, answering)))
    return result


@dataclass
class _Start:
    """What ``up`` does with one service: leave it, start it, or only check it."""

    service: LocalService
    pid: int | None = None
    command: list[str] = field(default_factory=list)
    detail: str = ""
    log_offsets: dict[Path, int] = field(default_factory=dict)

    def status(self) -> ServiceStatus:
        running = self.pid is not None or not self.service.managed
        return _status(self.service, self.pid, running, True, self.detail)


def _plan_start(service: LocalService) -> _Start:
    """Decide without side effects on the services; raise StackError if a start would fail."""
    offsets = {log: log_size(log) for log in service.failure_logs()}
    if not service.managed:
        return _Start(service, detail=_REMOTE_NOTE, log_offsets=offsets)
    pid = service.running_pid()
    if pid is not None:
        why = service.mismatch(command_line(pid))
        if why:
            raise StackError(
                f"{service.name} (pid {pid}) is already running from {service.layout.root} but "
                f"does not match the settings: {why}. Run `forgood stack down`, then `up` again."
            )
        return _Start(service, pid=pid, detail="already running", log_offsets=offsets)
    for label, endpoint in service.ports():
        if port_in_use(endpoint):
            raise StackError(port_taken_message(service.name, label, endpoint, service.how_to_move))
    service.preflight()
    return _Start(service, command=service.command(), detail="started", log_offsets=offsets)


def _start(start: _Start) -> None:
    service = start.service
    try:
        service.prepare()
        remove_pid(service.pid_file)
        start.pid = spawn(start.command, service.stdout_log, service.work_dir)
        write_pid(service.pid_file, start.pid)
    except OSError as exc:
        raise StackError(
            f"cannot start {service.name}: {exc}. Check that {service.layout.root} is writable "
            f"by this user (uid {os.getuid()}), or set FORGOOD_STATE_DIR to another folder."
        ) from exc


def _wait_until_answering(plan: list[_Start], deadline: float, timeout: float) -> None:
    pending = list(plan)
    while pending:
        for start in list(pending):
            if start.pid is not None and not is_alive(start.pid):
                remove_pid(start.service.pid_file)
                raise StackError(_exited_message(start))
            probe = max(0.2, min(PROBE_TIMEOUT_S, deadline - time.monotonic()))
            if start.service.answers(probe):
                pending.remove(start)
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise StackError(_silent_message(pending[0], timeout))
        time.sleep(_POLL_S)


def _exited_message(start: _Start) -> str:
    service = start.service
    return (
        f"{service.name} (pid {start.pid}) exited during start-up; "
        f"its log is {service.log_file}.{_log_excerpt(start)}"
    )


def _silent_message(start: _Start, timeout: float) -> str:
    service = start.service
    if not service.managed:
        return (
            f"{service.name} at {service.endpoint} did not answer within {timeout:.0f} s. It is "
            "not a loopback address, so `forgood stack` does not start it: check that it runs "
            "and that the settings point at it."
        )
    return (
        f"{service.name} (pid {start.pid}) did not answer on {service.endpoint} within "
        f"{timeout:.0f} s; it is left running. See {service.log_file}, then run "
        f"`forgood stack down`.{_log_excerpt(start)}"
    )


def _log_excerpt(start: _Start) -> str:
    parts = []
    for log, offset in start.log_offsets.items():
        tail = log_tail(log, since=offset)
        if tail:
            parts.append(f"\n--- last lines of {log} ---\n{tail}")
    return "".join(parts)


def _status(
    service: LocalService, pid: int | None, running: bool, answering: bool, detail: str
) -> ServiceStatus:
    return ServiceStatus(
        name=service.name,
        address=str(service.endpoint),
        pid=pid,
        running=running,
        answering=answering,
        log=service.log_file if service.managed else None,
        managed=service.managed,
        detail=detail,
        version=service.describe_version(),
    )


def _describe(service: LocalService, pid: int | None, answering: bool) -> str:
    if not service.managed:
        return _REMOTE_NOTE
    if pid is None:
        return "not started by this stack, yet something answers there" if answering else "stopped"
    return "running" if answering else "running, not answering (starting, or stuck: see its log)"


@contextmanager
def _stack_lock(layout: StackLayout, timeout: float) -> Iterator[None]:
    """Serialise ``up``/``down`` on one state folder; StackError if held longer than ``timeout``."""
    try:
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.lock_file, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise StackError(
            f"cannot write the stack folder {layout.root}: {exc}. Make it writable by this "
            f"user (uid {os.getuid()}) or set FORGOOD_STATE_DIR to another folder."
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StackError(
                        f"another `forgood stack` command is using {layout.root} "
                        f"(lock {layout.lock_file}); wait for it and retry"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
