"""Integration fixtures: the real local stack, and a unique namespace per test.

The stack (Kafka, ClickHouse, Prometheus, Alertmanager) is started once per session on the
configured ports (the defaults unless ``FORGOOD_*`` says otherwise) and stopped at the end
only if this session started it; its data stays on disk. Each test gets its own topics (prefix), consumer groups (app id) and ClickHouse
database, so tests never see each other's data and can run against a stack in use.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from forgood import stack
from forgood.domain.settings import Settings
from sinks.clickhouse import connect

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Settings of the shared local stack, started (idempotently) for the session."""
    settings = Settings()
    already = all(s.answering for s in stack.status(settings))
    stack.up(settings)
    yield settings
    if not already and not os.environ.get("FORGOOD_KEEP_STACK"):
        stack.down(settings)


@pytest.fixture
def run_settings(stack_settings: Settings, tmp_path: Path) -> Settings:
    """Settings for one test: unique topics, app id and database on the shared stack."""
    rid = "t" + uuid.uuid4().hex[:10]
    return stack_settings.model_copy(
        update={
            "topic_prefix": f"{rid}-",
            "video_topic": f"{rid}-video-created",
            "app_id": f"forgood-{rid}",
            "clickhouse_url": stack_settings.clickhouse_url.rsplit("/", 1)[0] + f"/forgood_{rid}",
            "state_dir": tmp_path / "state",
            "partitions": 4,
            "worker_metrics_port": 0,
            "sink_metrics_port": 0,
            "session_timeout_s": 6.0,
        }
    )


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

    def start(self, name: str, *args: str) -> subprocess.Popen:
        self.starts += 1
        self.starts_of[name] = self.starts
        log = open(self.logs / f"{name}-{self.starts}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "forgood.cli", *args],
            cwd=REPO,
            env=settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.running[name] = proc
        return proc

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        """Block until the newest log of ``name`` contains ``text`` (bounded)."""
        log = self.logs / f"{name}-{self.starts_of[name]}.log"
        wait_until(lambda: text in log.read_text(errors="replace"), timeout, 0.1,
                   what=f"{text!r} in {log.name}")

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


@pytest.fixture
def procs(run_settings: Settings, tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(run_settings, logs)
    yield processes
    processes.stop_all()


@pytest.fixture
def clickhouse(run_settings: Settings):
    client = connect(run_settings)
    yield client
    client.execute(f"DROP DATABASE IF EXISTS {run_settings.clickhouse.database}")
    client.disconnect()


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` s pass (then fail)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def read_back(client, database: str) -> tuple[dict, dict]:
    """``campaign_totals`` by campaign and ``campaign_minutes`` by (campaign, minute) from
    ClickHouse, as the oracle of ``tests/eventset.py`` states them; ({}, {}) while the
    database or its views do not exist yet."""
    try:
        totals = {r[0]: tuple(r[1:]) for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor, currency FROM {database}.campaign_totals")}
        minutes = {(r[0], r[1]): (r[2], r[3]) for r in client.execute(
            f"SELECT campaign_id, toUInt32(minute), videos, donation_minor FROM {database}.campaign_minutes")}
    except Exception:  # database or views not created yet
        return {}, {}
    return totals, minutes


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list:
    """Every record of ``topic`` from the beginning to its current end (fetch highwater)."""
    from kafka import KafkaConsumer, TopicPartition

    from producers.reading import records_to_end

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), group_id=None,
                             enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        try:
            return list(records_to_end(consumer, tps, timeout))
        except TimeoutError as exc:
            raise AssertionError(f"could not read {topic} to its end in {timeout}s") from exc
    finally:
        consumer.close()
