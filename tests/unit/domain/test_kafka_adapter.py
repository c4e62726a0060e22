"""The Kafka adapter's pure parts: bootstrap parsing, client options, read-to-end over a fake."""

from __future__ import annotations

import types

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from forgood.domain import kafka
from forgood.domain.errors import ConfigError
from forgood.domain.settings import Settings

# --- bootstrap ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, servers", [
    ("127.0.0.1:9092", ["127.0.0.1:9092"]),
    ("broker-a:19092,broker-b:19092", ["broker-a:19092", "broker-b:19092"]),
    (" broker-a:19092 , broker-b ", ["broker-a:19092", "broker-b:9092"]),
    ("kafka.example.org", ["kafka.example.org:9092"]),
    ("[::1]:9093,[2001:db8::1]", ["[::1]:9093", "[2001:db8::1]:9092"]),
])
def test_bootstrap_servers_lists_host_port(text, servers):
    assert kafka.bootstrap_servers(text) == servers


def test_bootstrap_servers_reads_the_setting():
    settings = Settings(kafka_bootstrap="broker-a:19092,broker-b:19092")
    assert kafka.bootstrap_servers(settings) == ["broker-a:19092", "broker-b:19092"]


@pytest.mark.parametrize("text, says", [
    ("", "is empty"),
    (" , ", "is empty"),
    ("a:9092,", "an entry is empty"),
    ("a:9092,,b:9092", "an entry is empty"),
    ("kafka://a:9092", "has a scheme"),
    ("a:", "empty port"),
    ("a:x", "invalid port 'x'"),
    ("a:0", "invalid port '0'"),
    ("a:65536", "invalid port '65536'"),
    ("::1", "[addr]:port"),
    ("[::1", "not [ipv6]:port"),
    ("[broker]:9092", "not [ipv6]:port"),
    ("[::1]:", "empty port"),
    ("a b:9092", "no valid host"),
    (":9092", "no valid host"),
])
def test_bootstrap_servers_rejects_with_a_clear_error(text, says):
    with pytest.raises(ConfigError, match="FORGOOD_KAFKA_BOOTSTRAP") as caught:
        kafka.bootstrap_servers(text)
    assert says in str(caught.value)


# --- client options ----------------------------------------------------------------------

SETTINGS = Settings(kafka_bootstrap="a:1,b:2", app_id="app")


def test_every_kafka_python_client_gets_the_common_options():
    for config in (kafka.producer_config(SETTINGS), kafka.admin_config(SETTINGS),
                   kafka.consumer_config(SETTINGS, client_id="c")):
        assert config["bootstrap_servers"] == ["a:1", "b:2"]
        assert config["reconnect_backoff_max_ms"] == 1000
        assert config["client_id"]


def test_producer_options_are_the_publishers():
    config = kafka.producer_config(SETTINGS, client_id="forgood-replay")
    assert config["client_id"] == "forgood-replay"
    assert (config["acks"], config["retries"], config["linger_ms"]) == ("all", 5, 20)
    assert (config["batch_size"], config["max_request_size"]) == (256 * 1024, 4 * 1024 * 1024)
    assert config["request_timeout_ms"] == 30_000
    assert kafka.producer_config(SETTINGS)["client_id"] == "forgood-producer"


def test_admin_options():
    config = kafka.admin_config(SETTINGS)
    assert (config["client_id"], config["request_timeout_ms"]) == ("forgood-admin", 15000)


def test_consumer_options_default_to_no_group_and_no_auto_commit_and_take_overrides():
    config = kafka.consumer_config(SETTINGS, client_id="c")
    assert (config["group_id"], config["enable_auto_commit"]) == (None, False)
    config = kafka.consumer_config(SETTINGS, client_id="c", group_id="app-sink", auto_offset_reset="earliest",
                                   max_poll_records=7)
    assert (config["group_id"], config["auto_offset_reset"], config["max_poll_records"]) == ("app-sink", "earliest", 7)


def test_aio_consumer_options():
    config = kafka.aio_consumer_config(SETTINGS, client_id="app-campaigns")
    assert config == dict(bootstrap_servers=["a:1", "b:2"], group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", client_id="app-campaigns")
    assert kafka.aio_consumer_config(SETTINGS, client_id="s", fetch_max_wait_ms=100)["fetch_max_wait_ms"] == 100


def test_a_bad_bootstrap_fails_before_any_client_is_built():
    with pytest.raises(ConfigError):
        kafka.make_producer(Settings(kafka_bootstrap="kafka://a:9092"))


# --- read to end over a fake consumer ----------------------------------------------------


class FakeConsumer:
    """The slice of kafka-python's consumer :func:`read_to_end` uses, over in-memory logs.

    ``grow`` is appended to partition 0 on the first poll (records produced after the call);
    a poll returns up to ``batch`` records per partition, like a fetch may run past the end.
    """

    def __init__(self, logs: dict[int, list[bytes]], *, committed=None, grow=(), batch=100, end_timeout=False):
        self.logs = {TopicPartition("t", p): list(values) for p, values in logs.items()}
        self.committed = committed or {}
        self.grow, self.batch, self.end_timeout = list(grow), batch, end_timeout
        self.positions: dict = {}
        self.paused: set = set()
        self.polls = 0

    def partitions_for_topic(self, topic):
        return {tp.partition for tp in self.logs} if topic == "t" else set()

    def assign(self, tps):
        self.positions = {tp: self.committed.get(tp.partition, 0) for tp in tps}

    def seek_to_beginning(self, *tps):
        for tp in tps:
            self.positions[tp] = 0

    def seek(self, tp, offset):
        self.positions[tp] = offset

    def end_offsets(self, tps, timeout_ms=None):
        if self.end_timeout:
            raise KafkaTimeoutError("no broker")
        return {tp: len(self.logs[tp]) for tp in tps}

    def position(self, tp, timeout_ms=None):
        return self.positions[tp]

    def pause(self, *tps):
        self.paused.update(tps)

    def resume(self, *tps):
        self.paused.difference_update(tps)

    def poll(self, timeout_ms=0):
        self.polls += 1
        if self.polls == 1 and self.grow:
            self.logs[TopicPartition("t", 0)] += self.grow
        out = {}
        for tp, position in self.positions.items():
            values = self.logs[tp][position:position + self.batch]
            if tp in self.paused or not values:
                continue
            out[tp] = [types.SimpleNamespace(topic="t", partition=tp.partition, offset=position + i, value=v)
                       for i, v in enumerate(values)]
            self.positions[tp] = position + len(values)
        return out


def values(records):
    return [(r.partition, r.value) for r in records]


def test_read_to_end_reads_every_partition_from_the_beginning():
    consumer = FakeConsumer({0: [b"a", b"b"], 1: [], 2: [b"c"]}, batch=1)
    records = kafka.read_to_end(consumer, "t", timeout_s=5)
    assert values(records) == [(0, b"a"), (2, b"c"), (0, b"b")]
    assert consumer.paused == set(), "partitions are resumed for the caller"


def test_read_to_end_stops_at_the_end_offsets_of_the_call_and_leaves_positions_there():
    consumer = FakeConsumer({0: [b"a", b"b"]}, grow=[b"later", b"later too"])
    records = kafka.read_to_end(consumer, "t", timeout_s=5)
    assert values(records) == [(0, b"a"), (0, b"b")]
    assert consumer.positions[TopicPartition("t", 0)] == 2, "a commit must not skip the later records"


def test_read_to_end_reads_given_partitions_from_the_committed_offsets():
    consumer = FakeConsumer({0: [b"a", b"b", b"c"], 1: [b"d"]}, committed={0: 2})
    records = kafka.read_to_end(consumer, [TopicPartition("t", 0)], timeout_s=5, from_committed=True)
    assert values(records) == [(0, b"c")]


def test_read_to_end_of_an_unknown_topic_is_empty():
    assert kafka.read_to_end(FakeConsumer({0: [b"a"]}), "other", timeout_s=5) == []


def test_read_to_end_times_out_with_what_it_read():
    consumer = FakeConsumer({0: [b"a", b"b", b"c"]}, batch=1)
    consumer.poll = lambda timeout_ms=0, real=consumer.poll: real() if consumer.polls < 1 else {}
    with pytest.raises(kafka.ReadTimeout) as caught:
        kafka.read_to_end(consumer, "t", timeout_s=0.5)
    assert isinstance(caught.value, TimeoutError)
    assert values(caught.value.records) == [(0, b"a")]


def test_read_to_end_times_out_when_the_end_cannot_be_looked_up():
    with pytest.raises(kafka.ReadTimeout) as caught:
        kafka.read_to_end(FakeConsumer({0: [b"a"]}, end_timeout=True), "t", timeout_s=1)
    assert caught.value.records == []
