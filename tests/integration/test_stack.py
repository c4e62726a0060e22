"""The local stack for real: Kafka and ClickHouse started, queried, stopped, killed and reset.

Runs on free non-default ports with a temporary state folder, so it does not touch a stack
already running on the defaults. (Prometheus and Alertmanager have their own test.)
"""

from __future__ import annotations

import os
import random
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from forgood import stack
from forgood.domain.errors import StackError
from forgood.domain.settings import Settings
from forgood.stack.endpoints import Endpoint
from forgood.stack.ports import port_in_use

pytestmark = pytest.mark.integration


def _free(port: int) -> bool:
    return not port_in_use(Endpoint("127.0.0.1", port))


BOTH = {"kafka", "clickhouse"}


def free_ports() -> tuple[int, int, int, int]:
    """(kafka, controller, native, http): all free, and native + 9 (interserver) free too."""
    rng = random.Random()
    while True:
        kafka, controller, native, http = (rng.randrange(20000, 60000) for _ in range(4))
        ports = {kafka, controller, native, native + 9, http}
        if len(ports) == 5 and all(_free(port) for port in ports):
            return kafka, controller, native, http


@pytest.fixture
def settings(tmp_path: Path):
    kafka, controller, native, http = free_ports()
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{kafka}",
        kafka_controller_port=controller,
        clickhouse_url=f"clickhouse://127.0.0.1:{native}/forgood",
        clickhouse_http_port=http,
        state_dir=tmp_path,
    )
    yield settings
    stack.down(settings, only=BOTH)


def by_name(statuses):
    return {status.name: status for status in statuses}


def test_up_is_idempotent_serves_real_requests_and_down_stops_everything(settings, tmp_path):
    first = by_name(stack.up(settings, only=BOTH))
    assert {name: (s.running, s.answering, s.detail) for name, s in first.items()} == {
        "kafka": (True, True, "started"),
        "clickhouse": (True, True, "started"),
    }
    assert first["kafka"].version.startswith("Apache Kafka 4.")

    second = by_name(stack.up(settings, only=BOTH))
    assert {name: s.detail for name, s in second.items()} == {
        "kafka": "already running",
        "clickhouse": "already running",
    }
    assert {name: s.pid for name, s in second.items()} == {name: s.pid for name, s in first.items()}

    now = by_name(stack.status(settings, only=BOTH))
    assert all(s.running and s.answering and s.pid for s in now.values())
    assert now["clickhouse"].log.is_relative_to(tmp_path.resolve())
    assert (tmp_path / "stack" / "clickhouse" / "config.xml").exists()

    _clickhouse_round_trip(settings)
    _kafka_round_trip(settings)

    with pytest.raises(StackError, match="already in use by pid"):
        stack.up(settings.model_copy(update={"state_dir": tmp_path / "other"}), timeout=5, only=BOTH)

    stopped = by_name(stack.down(settings, only=BOTH))
    assert {name: s.detail for name, s in stopped.items()} == {"kafka": "stopped", "clickhouse": "stopped"}
    after = by_name(stack.status(settings, only=BOTH))
    assert not any(s.running or s.answering or s.pid for s in after.values())
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))
    assert [s.detail for s in stack.down(settings, only=BOTH)] == ["was not running", "was not running"]


def test_kafka_keeps_topics_and_offsets_across_down_up_and_sigkill_until_reset(settings):
    """Acknowledged records (acks=all) and committed group offsets survive a clean stop and a
    SIGKILL of the broker; ``reset`` deletes them."""
    only = {"kafka"}
    started = stack.up(settings, only=only)[0]
    written = [f"record {i}".encode() for i in range(500)]
    _create_and_produce(settings, "survivor", written)
    _commit_offset(settings, "survivor", "survivor-group", 123)

    stack.down(settings, only=only)
    stack.up(settings, only=only)
    assert _read_all(settings, "survivor") == written
    assert _committed(settings, "survivor", "survivor-group") == 123

    more = [f"after restart {i}".encode() for i in range(500)]
    _produce(settings, "survivor", more)
    pid = stack.status(settings, only=only)[0].pid
    t0 = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid)
    restarted = stack.up(settings, only=only)[0]
    restart_s = time.monotonic() - t0
    assert restarted.detail == "started" and restarted.pid != started.pid
    assert _read_all(settings, "survivor") == written + more, f"restart took {restart_s:.1f} s"
    assert _committed(settings, "survivor", "survivor-group") == 123

    reset = stack.reset(settings, only=only)
    assert [s.detail for s in reset] == ["stopped, data deleted"]
    stack.up(settings, only=only)
    assert "survivor" not in _topics(settings)


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    from forgood.stack.process import is_alive

    deadline = time.monotonic() + timeout
    while is_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive {timeout} s after SIGKILL"
        time.sleep(0.05)


def _topics(settings: Settings) -> list[str]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    try:
        return admin.list_topics()
    finally:
        admin.close()


def _create_and_produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    _produce(settings, topic, values)


def _produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    try:
        for future in [producer.send(topic, value) for value in values]:
            future.get(timeout=30)
    finally:
        producer.close()


def _read_all(settings: Settings, topic: str) -> list[bytes]:
    from kafka import KafkaConsumer, TopicPartition

    from forgood.domain.kafka import read_to_end

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, 0)]
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return [record.value for record in read_to_end(consumer, tps, timeout_s=30)]
    finally:
        consumer.close()


def _commit_offset(settings: Settings, topic: str, group: str, offset: int) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def _committed(settings: Settings, topic: str, group: str) -> int | None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()


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
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
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
