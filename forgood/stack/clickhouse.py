"""A local ClickHouse server (Debian's clickhouse-server 18.16) with generated config files."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from importlib import resources
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from forgood.domain.errors import StackError
from forgood.domain.settings import Settings

from .endpoints import Endpoint
from .layout import StackLayout
from .ports import maybe_listening
from .programs import write_if_changed
from .service import LocalService

#: ClickHouse's replica-to-replica port; moved with the native port so two servers can coexist.
INTERSERVER_OFFSET = 9
SERVER_PATHS = ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def find_server_command() -> list[str]:
    """argv prefix that runs a ClickHouse server; StackError (how to install it) if none is found.

    Looks for ``clickhouse-server`` on PATH, then in /usr/sbin and /usr/bin, then for the
    single ``clickhouse`` binary (run as ``clickhouse server``).
    """
    found = shutil.which("clickhouse-server")
    if found:
        return [found]
    for path in SERVER_PATHS:
        if os.access(path, os.X_OK):
            return [path]
    single = shutil.which("clickhouse")
    if single:
        return [single, "server"]
    raise StackError(
        "clickhouse-server is not installed (looked on PATH and in /usr/sbin, /usr/bin): "
        "install it with `make setup` (or `apt-get install clickhouse-server`)"
    )


def _template(name: str) -> Template:
    return Template(resources.files("forgood.stack").joinpath("templates", name).read_text())


def _dir(path: Path) -> str:
    return escape(str(path).rstrip("/") + "/")


def render_config(
    *,
    listen_host: str,
    tcp_port: int,
    http_port: int,
    interserver_http_port: int,
    data_dir: Path,
    logs_dir: Path,
    log_level: str = "information",
) -> str:
    """Text of config.xml for a server on ``listen_host`` keeping every file under the two dirs."""
    return _template("config.xml").substitute(
        log_level=log_level,
        log_file=escape(str(logs_dir / "clickhouse-server.log")),
        error_log_file=escape(str(logs_dir / "clickhouse-server.err.log")),
        listen_host=escape(listen_host),
        tcp_port=tcp_port,
        http_port=http_port,
        interserver_http_port=interserver_http_port,
        data_path=_dir(data_dir / "data"),
        tmp_path=_dir(data_dir / "tmp"),
        user_files_path=_dir(data_dir / "user_files"),
        format_schema_path=_dir(data_dir / "format_schemas"),
    )


def render_users(user: str = "default", password: str = "") -> str:
    """Text of users.xml: one loopback-only ``user`` with ``password``, a profile and a quota."""
    if not _XML_NAME.match(user):
        raise StackError(
            f"the local ClickHouse cannot create user {user!r} from FORGOOD_CLICKHOUSE_URL: "
            "use a name made of letters, digits and _ (or just `default`)"
        )
    return _template("users.xml").substitute(user=user, password=escape(password))


class ClickHouse(LocalService):
    """clickhouse-server on the host and port of ``FORGOOD_CLICKHOUSE_URL``."""

    name = "clickhouse"
    how_to_move = (
        "set FORGOOD_CLICKHOUSE_URL (native port; interserver port = native + 9) and "
        "FORGOOD_CLICKHOUSE_HTTP_PORT to free ports"
    )

    def __init__(self, settings: Settings, layout: StackLayout) -> None:
        super().__init__(layout)
        target = settings.clickhouse
        self._endpoint = Endpoint(target.host, target.port)
        self.user, self.password = target.user, target.password
        self.http = self._endpoint.with_port(settings.clickhouse_http_port)
        interserver_port = target.port + INTERSERVER_OFFSET
        if interserver_port > 65535:
            raise StackError(
                f"ClickHouse native port {target.port} is too high: the interserver port "
                f"(native + {INTERSERVER_OFFSET}) must be at most 65535"
            )
        self.interserver = self._endpoint.with_port(interserver_port)

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def ports(self) -> list[tuple[str, Endpoint]]:
        return [("native", self.endpoint), ("HTTP", self.http), ("interserver", self.interserver)]

    @property
    def config_file(self) -> Path:
        return self.work_dir / "config.xml"

    @property
    def users_file(self) -> Path:
        return self.work_dir / "users.xml"

    @property
    def log_file(self) -> Path:
        return self.layout.logs_dir / "clickhouse-server.log"

    @property
    def error_log(self) -> Path:
        return self.layout.logs_dir / "clickhouse-server.err.log"

    @property
    def stdout_log(self) -> Path:
        return self.layout.logs_dir / "clickhouse-server.stdout.log"

    def failure_logs(self) -> list[Path]:
        return [self.error_log, self.stdout_log]

    def config_text(self) -> str:
        return render_config(
            listen_host=self.endpoint.bind_host,
            tcp_port=self.endpoint.port,
            http_port=self.http.port,
            interserver_http_port=self.interserver.port,
            data_dir=self.work_dir,
            logs_dir=self.layout.logs_dir,
        )

    def prepare(self) -> None:
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.layout.logs_dir.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.config_file, self.config_text())
        write_if_changed(self.users_file, render_users(self.user, self.password))

    def command(self) -> list[str]:
        return [*find_server_command(), f"--config-file={self.config_file}"]

    def is_ours(self, argv: list[str]) -> bool:
        return f"--config-file={self.config_file}" in argv

    def mismatch(self, argv: list[str]) -> str | None:
        try:
            if self.config_file.read_text() == self.config_text():
                return None
        except OSError:
            pass
        return f"its {self.config_file} was written for other ports or paths"

    def wipe(self) -> None:
        """Delete every database, table and temporary file (``stack reset``); logs stay."""
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            shutil.rmtree(self.work_dir / sub, ignore_errors=True)

    def answers(self, timeout: float) -> bool:
        """``SELECT 1`` on the native port, and (for a local server) ``/ping`` on the HTTP port."""
        return self._answers_native(timeout) and (not self.managed or self._answers_http(timeout))

    def _answers_native(self, timeout: float) -> bool:
        if not maybe_listening(self.endpoint, timeout=min(timeout, 1.0)):
            return False  # cheap check first: clickhouse-driver logs a traceback per refusal
        from clickhouse_driver import Client

        client = Client(
            host=self.endpoint.host,
            port=self.endpoint.port,
            user=self.user,
            password=self.password,
            database="default",  # the forgood database may not exist yet
            connect_timeout=timeout,
            send_receive_timeout=timeout,
            sync_request_timeout=timeout,
        )
        try:
            return client.execute("SELECT 1") == [(1,)]
        except Exception:
            return False
        finally:
            client.disconnect()

    def _answers_http(self, timeout: float) -> bool:
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with no_proxy.open(f"http://{self.http}/ping", timeout=timeout) as reply:
                return reply.read().strip() == b"Ok."
        except OSError:
            return False
