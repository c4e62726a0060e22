"""Integration fixtures: the real local stack, and a unique namespace per test.

The stack (Kafka, ClickHouse, Prometheus, Alertmanager) is started once per session on the
configured ports (the defaults unless ``FORGOOD_*`` says otherwise) and stopped at the end
only if this session started it; its data stays on disk. Each test gets its own topics (prefix),
consumer groups (app id) and ClickHouse database, so tests never see each other's data and can
run against a stack in use.
The helpers tests import are in ``tests/support/`` (``wait_until`` in waiting.py, ``Processes``,
``REPO`` and ``settings_env`` in processes.py, ``read_back`` in readback.py, ``read_topic`` in topics.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from forgood import stack
from forgood.domain.settings import Settings
from sinks.clickhouse import connect
from tests.support.processes import Processes
from tests.support.settings import namespaced


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
def make_settings(stack_settings: Settings, tmp_path: Path):
    """Factory: ``make_settings(**overrides)`` is settings in a new unique namespace (topics,
    app id, database; see ``tests.support.settings.namespaced``) on the shared stack, with a
    state folder of its own, then ``overrides``. For tests that need two namespaces or overrides;
    the first namespace made is ``run_settings``'s."""
    made = 0

    def make(**overrides) -> Settings:
        nonlocal made
        made += 1
        return namespaced(stack_settings, tmp_path / ("state" if made == 1 else f"state-{made}"), **overrides)

    return make


@pytest.fixture
def run_settings(make_settings) -> Settings:
    """Settings for one test: unique topics, app id and database on the shared stack."""
    return make_settings()


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
