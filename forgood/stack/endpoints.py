"""Host:port addresses of the stack's services, parsed from the settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from forgood.domain.errors import StackError

DEFAULT_KAFKA_PORT = 9092


@dataclass(frozen=True)
class Endpoint:
    """One TCP address. ``host`` is a name or an IP literal (IPv6 without brackets)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True when the host is this machine only (localhost, 127.0.0.0/8, ::1)."""
        return is_loopback_host(self.host)

    @property
    def bind_host(self) -> str:
        """The address a local server should listen on: ``localhost`` becomes 127.0.0.1."""
        return "127.0.0.1" if self.host.lower() == "localhost" else self.host

    def with_port(self, port: int) -> Endpoint:
        """The same host on another port."""
        return Endpoint(self.host, port)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; False for every other name or address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str, default_port: int, what: str = "address") -> Endpoint:
    """Parse ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; raise StackError if malformed."""
    text = text.strip()
    if not text:
        raise StackError(f"{what} is empty; expected host:port, e.g. 127.0.0.1:{default_port}")
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise StackError(f"{what} {text!r} is not [ipv6]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise StackError(f"{what} {text!r} has no host; expected host:port")
    if not port_text:
        return Endpoint(host, default_port)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StackError(f"{what} {text!r} has an invalid port {port_text!r} (1-65535)")
    return Endpoint(host, int(port_text))


def first_bootstrap_server(bootstrap: str) -> Endpoint:
    """The first entry of a comma-separated Kafka bootstrap list (``FORGOOD_KAFKA_BOOTSTRAP``)."""
    first = bootstrap.split(",")[0]
    return parse_host_port(first, DEFAULT_KAFKA_PORT, what="FORGOOD_KAFKA_BOOTSTRAP")
