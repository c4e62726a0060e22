"""The local stack for real: tansu and ClickHouse started, queried and stopped.

Runs on free non-default ports with a temporary state folder, so it does not touch a stack
already running on the defaults.
"""

from __future__ import annotations

import random
import socket
import urllib.request
from pathlib import Path

import pytest

import stack
from forgood.errors import StackError
from forgood.settings import Settings
from stack.endpoints import Endpoint
from stack.ports import port_in_use

pytestmark = pytest.mark.integration


def _free(port: int) -> bool:
    return not port_in_use(Endpoint("127.0.0.1", port))


def free_ports() -> tuple[int, int, int]:
    """(kafka, native, http): all free, and native + 9 (interserver) free too."""
    rng = random.Random()
    while True:
        kafka, native, http = (rng.randrange(20000, 60000) for _ in range(3))
        ports = {kafka, native, native + 9, http}
        if len(ports) == 4 and all(_free(port) for port in ports):
            return kafka, native, http


@pytest.fixture
def settings(tmp_path: Path):
    kafka, native, http = free_ports()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{kafka}",
        clickhouse_url=f"clickhouse://127.0.0.1:{native}/forgood",
        clickhouse_http_port=http,
        state_dir=tmp_path,
    )
    yield settings
    stack.down(settings)


def by_name(statuses):
    return {status.name: status for status in statuses}


def test_up_is_idempotent_serves_real_requests_and_down_stops_everything(settings, tmp_path):
    first = by_name(stack.up(settings))
    assert {name: (s.running, s.answering, s.detail) for name, s in first.items()} == {
        "broker": (True, True, "started"),
        "clickhouse": (True, True, "started"),
    }

    second = by_name(stack.up(settings))
    assert {name: s.detail for name, s in second.items()} == {
        "broker": "already running",
        "clickhouse": "already running",
    }
    assert {name: s.pid for name, s in second.items()} == {name: s.pid for name, s in first.items()}

    now = by_name(stack.status(settings))
    assert all(s.running and s.answering and s.pid for s in now.values())
    assert now["clickhouse"].log.is_relative_to(tmp_path.resolve())
    assert (tmp_path / "stack" / "clickhouse" / "config.xml").exists()

    _clickhouse_round_trip(settings)
    _kafka_round_trip(settings)

    with pytest.raises(StackError, match="already in use by pid"):
        stack.up(settings.model_copy(update={"state_dir": tmp_path / "other"}), timeout=5)

    stopped = by_name(stack.down(settings))
    assert {name: s.detail for name, s in stopped.items()} == {"broker": "stopped", "clickhouse": "stopped"}
    after = by_name(stack.status(settings))
    assert not any(s.running or s.answering or s.pid for s in after.values())
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))
    assert [s.detail for s in stack.down(settings)] == ["was not running", "was not running"]


def _clickhouse_round_trip(settings: Settings) -> None:
    from clickhouse_driver import Client

    target = settings.clickhouse
    client = Client(host=target.host, port=target.port)
    try:
        client.execute("CREATE DATABASE IF NOT EXISTS stack_test")
        client.execute("CREATE TABLE stack_test.t (n UInt32) ENGINE = MergeTree ORDER BY n")
        client.execute("INSERT INTO stack_test.t (n) VALUES", [(1,), (2,), (3,)])
        assert client.execute("SELECT sum(n), version() FROM stack_test.t") == [(6, "18.16.1")]
    finally:
        client.disconnect()
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.clickhouse_http_port}/ping", timeout=5) as reply:
        assert reply.read() == b"Ok.\n"


def _kafka_round_trip(settings: Settings) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic("stack-test", num_partitions=1, replication_factor=1)])
        assert "stack-test" in admin.list_topics()
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send("stack-test", b"hello").get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10000
    )
    consumer.assign([TopicPartition("stack-test", 0)])
    try:
        assert next(iter(consumer)).value == b"hello"
    finally:
        consumer.close()
