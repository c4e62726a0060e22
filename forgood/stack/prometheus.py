"""A local Prometheus (Debian's ``prometheus`` 2.42) scraping forgood, with its alert rules.

``forgood stack up`` writes ``<state_dir>/stack/prometheus/prometheus.yml`` and runs
``prometheus`` on 127.0.0.1:``FORGOOD_PROMETHEUS_PORT``. The generated config scrapes, on
loopback, the stream worker (job ``forgood-worker``), the sink (``forgood-sink``), Prometheus
itself and the local Alertmanager — the job names the shipped rules and dashboards select on —
loads the project's own rule files ``deploy/prometheus/rules/*.yml`` by absolute path (never a
copy, never changed) and sends alerts to the local Alertmanager. Only the scrape and evaluation
intervals come from the settings. ``forgood serve`` exposes no ``/metrics``, so it is not scraped.

Samples live in ``<state_dir>/stack/prometheus/data`` (7 days or 512 MB, whichever comes first)
and survive ``stack down``/``up``; ``forgood stack reset`` deletes them. """

from __future__ import annotations

from pathlib import Path

import yaml

from forgood.domain.errors import StackError
from forgood.domain.settings import Settings

from .endpoints import Endpoint
from .layout import StackLayout
from .programs import LOOPBACK, REPO, ReadyProbedServer, find_program, read_text, write_if_changed

RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
PROGRAM_NAMES = ("prometheus",)
PROGRAM_PATHS = ("/usr/bin/prometheus",)
#: Job names the shipped rules (deploy/prometheus/rules/) and dashboards select on.
WORKER_JOB = "forgood-worker"
SINK_JOB = "forgood-sink"
#: The shipped deploy/prometheus/prometheus.yml's scrape timeout (capped by the interval).
SCRAPE_TIMEOUT_S = 10
RETENTION_TIME = "7d"
RETENTION_SIZE = "512MB"
VERSION_TIMEOUT_S = 5.0
_WILDCARD_HOSTS = {"": LOOPBACK, "0.0.0.0": LOOPBACK, "::": "::1"}


# --- Prometheus --------------------------------------------------------------------------


def find_prometheus() -> str:
    """Path of ``prometheus``; StackError (run ``make setup``) if it is not installed."""
    return find_program(PROGRAM_NAMES, PROGRAM_PATHS, "Prometheus", "prometheus")


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    """The project's rule files, absolute and sorted: ``deploy/prometheus/rules/*.yml``."""
    return sorted(path.resolve() for path in rules_dir.glob("*.yml"))


def scrape_host(metrics_host: str) -> str:
    """Where Prometheus reaches a /metrics server bound to ``metrics_host``: a wildcard bind
    (0.0.0.0, ::, empty) is reached on loopback; any other host as it is."""
    return _WILDCARD_HOSTS.get(metrics_host.strip(), metrics_host.strip())


def duration(seconds: float) -> str:
    """A Prometheus duration: ``15s``, or ``500ms`` for a fraction (it takes no ``0.5s``)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


class Prometheus(ReadyProbedServer):
    """Prometheus on 127.0.0.1:``FORGOOD_PROMETHEUS_PORT`` with the project's alert rules."""

    name = "prometheus"
    label = "Prometheus"
    how_to_move = "set FORGOOD_PROMETHEUS_PORT to a free port"

    def __init__(self, settings: Settings, layout: StackLayout) -> None:
        super().__init__(layout, settings.prometheus_port)
        self.alertmanager = Endpoint(LOOPBACK, settings.alertmanager_port)
        host = scrape_host(settings.metrics_host)
        #: forgood's own jobs; a port of 0 (metrics off) means no target for that job.
        self.forgood_targets = {
            WORKER_JOB: Endpoint(host, settings.worker_metrics_port),
            SINK_JOB: Endpoint(host, settings.sink_metrics_port),
        }
        self.scrape_interval_s = settings.prometheus_scrape_interval_s
        self.evaluation_interval_s = settings.prometheus_evaluation_interval_s

    def find(self) -> str:
        return find_prometheus()

    # --- files ---------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.work_dir / "prometheus.yml"

    # --- configuration -------------------------------------------------------------------

    @property
    def switched_off(self) -> set[str]:
        """forgood jobs whose metrics port is 0 in these settings (nothing to scrape)."""
        return {job for job, target in self.forgood_targets.items() if target.port == 0}

    def config(self) -> dict:
        """prometheus.yml as data: deploy/prometheus/prometheus.yml's shape on loopback ports."""
        jobs = [
            (job, target) for job, target in self.forgood_targets.items() if target.port != 0
        ]
        jobs += [("prometheus", self.endpoint), ("alertmanager", self.alertmanager)]
        return {
            "global": {
                "scrape_interval": duration(self.scrape_interval_s),
                "scrape_timeout": duration(min(SCRAPE_TIMEOUT_S, self.scrape_interval_s)),
                "evaluation_interval": duration(self.evaluation_interval_s),
            },
            "rule_files": [str(path) for path in rule_files()],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [str(self.alertmanager)]}]}]},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [str(target)]}]} for job, target in jobs
            ],
        }

    def config_text(self) -> str:
        header = (
            "# Written by `forgood stack up` (forgood/stack/prometheus.py); edits are overwritten.\n"
            "# The rules are the project's own files, loaded in place; after editing them run\n"
            f"# `curl -X POST {self.url}/-/reload` (or `forgood stack down` and `up`).\n"
        )
        return header + yaml.safe_dump(self.config(), sort_keys=False, default_flow_style=False)

    def arguments(self) -> list[str]:
        """The flags after the program's path (also what ``mismatch`` compares)."""
        return [
            f"--config.file={self.config_file}",
            f"--web.listen-address={self.endpoint.bind_host}:{self.endpoint.port}",
            f"--web.external-url={self.url}/",
            "--web.enable-lifecycle",  # POST /-/reload re-reads the rules (loopback only)
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={RETENTION_TIME}",
            f"--storage.tsdb.retention.size={RETENTION_SIZE}",
        ]

    def preflight(self) -> None:
        find_prometheus()
        if not rule_files():
            raise StackError(
                f"no alert rules in {RULES_DIR} (expected deploy/prometheus/rules/*.yml): "
                "restore them from the repository"
            )

    def prepare(self) -> None:
        for folder in (self.work_dir, self.data_dir, self.layout.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.config_file, self.config_text())

    def command(self) -> list[str]:
        return [find_prometheus(), *self.arguments()]

    def is_ours(self, argv: list[str]) -> bool:
        return f"--config.file={self.config_file}" in argv

    def mismatch(self, argv: list[str]) -> str | None:
        """Why the running Prometheus does not fit: other flags (port, paths), or a config for
        other targets, intervals or rule files.

        A forgood job switched off here (metrics port 0, as tests' own workers have) states no
        address, so it does not conflict with the running config's target for that job.
        """
        if argv[1:] != self.arguments():
            return f"it was started with other flags ({' '.join(argv[1:])})"
        text = read_text(self.config_file)
        try:
            running = yaml.safe_load(text) if text is not None else None
        except yaml.YAMLError:
            running = None
        if not isinstance(running, dict) or _without(running, self.switched_off) != _without(
            self.config(), self.switched_off
        ):
            return f"its {self.config_file} was written for other targets, intervals or rule files"
        return None



def _without(config: dict, jobs: set[str]) -> dict:
    """``config`` minus the scrape configs of ``jobs``."""
    scrapes = [c for c in config.get("scrape_configs") or [] if c.get("job_name") not in jobs]
    return {**config, "scrape_configs": scrapes}
