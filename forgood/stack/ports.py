"""Is a TCP port free, and if not, which process listens on it (from /proc, else `ss`)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
from pathlib import Path

from forgood.domain.errors import StackError

from .endpoints import Endpoint

_TCP_LISTEN = "0A"
_PROC = Path("/proc")


def port_in_use(endpoint: Endpoint) -> bool:
    """True if something listens on (or holds) the endpoint's port on its bind host.

    Tries to bind the port (with SO_REUSEADDR, so sockets in TIME_WAIT do not count) and,
    as a second check, to connect to it. Returns within about half a second.
    """
    return _bind_fails(endpoint) or can_connect(endpoint, timeout=0.5)


def maybe_listening(endpoint: Endpoint, timeout: float) -> bool:
    """Cheap pre-check before a protocol probe: could a server be listening there?

    For a loopback address it only tries to bind the port, so the server sees no
    connection (ClickHouse would log "Client has not sent any data" for each one);
    for another host it tries a TCP connect.
    """
    if endpoint.is_loopback:
        try:
            return _bind_fails(endpoint)
        except StackError:
            pass  # e.g. ::1 with IPv6 off: fall back to connecting
    return can_connect(endpoint, timeout)


def _bind_fails(endpoint: Endpoint) -> bool:
    host = endpoint.bind_host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, endpoint.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise StackError(f"cannot check port {endpoint}: {exc}") from exc
    return False


def can_connect(endpoint: Endpoint, timeout: float) -> bool:
    """True if a TCP connection to the endpoint succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((endpoint.bind_host, endpoint.port), timeout=timeout):
            return True
    except OSError:
        return False


def listening_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes in LISTEN state on ``port``, from the text of /proc/net/tcp or tcp6."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port:
            inodes.add(int(fields[9]))
    return inodes


def _pids_holding(inodes: set[int]) -> list[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    for proc_dir in _PROC.iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    pids.append(int(proc_dir.name))
                    break
        except OSError:
            continue
    return sorted(pids)


def _describe_pid(pid: int) -> str:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
        command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        command = ""
    command = " ".join(command.split())
    if len(command) > 200:
        command = command[:197] + "..."
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _owner_from_ss(port: int) -> str | None:
    ss = shutil.which("ss")
    if not ss:
        return None
    try:
        out = subprocess.run(
            [ss, "-H", "-ltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].split("users:", 1)[-1] if out else None


def port_owner(port: int) -> str | None:
    """Describe the process listening on ``port`` ("pid 123 (cmd args)"), or None if unknown.

    Reads /proc/net/tcp{,6} and the /proc/<pid>/fd links (complete as root; other users'
    processes are invisible otherwise), then falls back to ``ss -ltnp``.
    """
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((_PROC / "net" / table).read_text(), port)
        except OSError:
            continue
    pids = _pids_holding(inodes) if inodes else []
    if pids:
        return ", ".join(_describe_pid(pid) for pid in pids)
    return _owner_from_ss(port)


def port_taken_message(service: str, label: str, endpoint: Endpoint, how_to_move: str) -> str:
    """The StackError text for a port that something other than our stack holds."""
    owner = port_owner(endpoint.port)
    unknown = f"an unknown process (see `ss -ltnp 'sport = :{endpoint.port}'`)"
    by = f"by {owner or unknown}"
    return (
        f"cannot start {service}: its {label} port {endpoint} is already in use {by}, "
        f"which this stack did not start. Stop that process, or {how_to_move}."
    )
