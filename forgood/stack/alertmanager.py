"""A local Alertmanager (Debian's ``prometheus-alertmanager`` 0.25) with the project's routes.

``forgood stack up`` writes ``<state_dir>/stack/alertmanager/alertmanager.yml`` from the
project's own ``deploy/alertmanager/alertmanager.yml`` and runs Alertmanager on
127.0.0.1:``FORGOOD_ALERTMANAGER_PORT``, with its cluster (gossip) port off: the local Kafka's
KRaft controller has 9094, Alertmanager's usual cluster port. The copy is the shipped file
unchanged, with one exception: when ``FORGOOD_ALERT_WEBHOOK_URL`` is set, every receiver's
webhook URL becomes that URL, so a local user or a test receives the alerts; routes, grouping
(``group_wait`` and the rest) and inhibitions stay exactly as shipped.

Silences and the notification log live in ``<state_dir>/stack/alertmanager/data``; only
``forgood stack reset`` deletes them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from forgood.domain.errors import StackError
from forgood.domain.settings import Settings

from .layout import StackLayout
from .programs import REPO, ReadyProbedServer, find_program, read_text, write_if_changed

SHIPPED_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
#: Debian names the program prometheus-alertmanager; upstream's tarball calls it alertmanager.
PROGRAM_NAMES = ("prometheus-alertmanager", "alertmanager")
PROGRAM_PATHS = ("/usr/bin/prometheus-alertmanager",)


def find_alertmanager() -> str:
    """Path of Alertmanager; StackError (run ``make setup``) if it is not installed."""
    return find_program(PROGRAM_NAMES, PROGRAM_PATHS, "Alertmanager", "prometheus-alertmanager")


def check_webhook_url(url: str) -> None:
    """StackError unless ``url`` is an absolute http(s) URL (what Alertmanager accepts)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise StackError(
            f"FORGOOD_ALERT_WEBHOOK_URL {url!r} is not an http:// or https:// URL "
            "(e.g. http://127.0.0.1:5001/alerts); leave it empty to keep the shipped receivers"
        )


def render_config(shipped_text: str, webhook_url: str = "") -> str:
    """The local copy of the shipped Alertmanager config.

    Without ``webhook_url``: the shipped text byte for byte. With it: every ``webhook_configs``
    entry of every receiver gets ``url: webhook_url`` (a ``url_file`` is dropped, the two are
    exclusive); nothing else changes. Receivers without a webhook keep what they have.
    """
    if not webhook_url:
        return shipped_text
    check_webhook_url(webhook_url)
    config = yaml.safe_load(shipped_text)
    for receiver in config.get("receivers") or []:
        for webhook in receiver.get("webhook_configs") or []:
            webhook.pop("url_file", None)
            webhook["url"] = webhook_url
    header = (
        f"# deploy/alertmanager/alertmanager.yml with every webhook URL set to {webhook_url}\n"
        "# (FORGOOD_ALERT_WEBHOOK_URL); routes, grouping and inhibitions as shipped.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


class Alertmanager(ReadyProbedServer):
    """Alertmanager on 127.0.0.1:``FORGOOD_ALERTMANAGER_PORT``, cluster port off."""

    name = "alertmanager"
    label = "Alertmanager"
    how_to_move = "set FORGOOD_ALERTMANAGER_PORT to a free port"

    def __init__(self, settings: Settings, layout: StackLayout, shipped: Path = SHIPPED_CONFIG) -> None:
        super().__init__(layout, settings.alertmanager_port)
        self.webhook_url = settings.alert_webhook_url.strip()
        self.shipped = shipped

    def find(self) -> str:
        return find_alertmanager()

    @property
    def config_file(self) -> Path:
        return self.work_dir / "alertmanager.yml"

    def config_text(self) -> str:
        """The config to run: the shipped file, webhook URLs replaced if the setting says so.

        StackError if the shipped file cannot be read or the URL is not http(s).
        """
        try:
            shipped = self.shipped.read_text()
        except OSError as exc:
            raise StackError(f"cannot read the Alertmanager config {self.shipped}: {exc}") from exc
        return render_config(shipped, self.webhook_url)

    def arguments(self) -> list[str]:
        """The flags after the program's path (also what ``mismatch`` compares)."""
        return [
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={self.endpoint.bind_host}:{self.endpoint.port}",
            f"--web.external-url={self.url}/",
            "--cluster.listen-address=",  # no gossip: 9094 is the local Kafka's controller port
        ]

    def preflight(self) -> None:
        find_alertmanager()
        self.config_text()

    def prepare(self) -> None:
        for folder in (self.work_dir, self.data_dir, self.layout.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.config_file, self.config_text())

    def command(self) -> list[str]:
        return [find_alertmanager(), *self.arguments()]

    def is_ours(self, argv: list[str]) -> bool:
        return f"--config.file={self.config_file}" in argv

    def mismatch(self, argv: list[str]) -> str | None:
        if argv[1:] != self.arguments():
            return f"it was started with other flags ({' '.join(argv[1:])})"
        try:
            wanted = self.config_text()
        except StackError as exc:
            return str(exc)
        if read_text(self.config_file) != wanted:
            return (
                f"its {self.config_file} differs from deploy/alertmanager/alertmanager.yml "
                "with the current FORGOOD_ALERT_WEBHOOK_URL"
            )
        return None
