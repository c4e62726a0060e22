"""Every client and codec a platform may use, on the real local stack.

Platforms produce with librdkafka (kcat, confluent-kafka) or Java, and compress. One event set
(tests/support/eventset.py: duplicates, multi-campaign, out-of-window, invalid and cap-hitting events,
with its independent oracle) is cut into disjoint slices; each slice is produced into the same
source topic by one client x codec: kcat (librdkafka, ``-z``) and kafka-python
(``compression_type=``), each with gzip, snappy, lz4 and zstd, keyed by video id, many records
per batch. Then:

* the topic's raw record batches (the fetch bytes, parsed here without any Kafka client's
  decoder) carry exactly the codec their slice was produced with, many records per batch;
* kafka-python (the sink's and the CLI's client) reads every event back byte for byte;
* the real worker (aiokafka under Faust) and sink count them: ClickHouse's ``campaign_totals``
  and ``campaign_minutes`` equal the oracle, and the worker's group commits to the end.

The second test runs the worker without its codec libraries (``cramjam`` made unimportable
for that process): the lz4 / snappy / zstd batches cannot be decoded. The worker must not
crash (loop): it logs each skipped batch once with its offsets, counts everything it can
decode exactly, and commits past the skipped batches (streams.faust_patches.undecodable_batches).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer import fetcher as kafka_fetcher

from forgood.domain.campaigns import load_campaign_file
from forgood.domain.kafka import read_to_end
from forgood.domain.topics import ensure_topics
from producers.campaigns import publish_campaigns
from producers.sending import key_of
from tests.support.eventset import generate, make_campaigns, oracle
from tests.support.readback import read_back
from tests.support.reporting import SUMMARIES
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SETTLE_S = 240
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass
class Slice:
    client: str  # "kcat" or "kafka-python"
    codec: str
    lines: list[bytes]
    ranges: dict[int, tuple[int, int]] | None = None  # partition -> [start, end) offsets

    @property
    def name(self) -> str:
        return f"{self.client}/{self.codec}"


def produce_kcat(settings, topic: str, lines: list[bytes], codec: str) -> None:
    """librdkafka via kcat: ``key<TAB>value`` lines on stdin (a line without a tab: no key)."""
    payload = b"".join((key + b"\t" + raw if (key := key_of(raw)) else raw) + b"\n" for raw in lines)
    done = subprocess.run(
        ["kcat", "-P", "-b", settings.kafka_bootstrap, "-t", topic, "-K", "\t", "-z", codec,
         "-X", "acks=all", "-X", "linger.ms=50", "-X", "batch.num.messages=100000"],
        input=payload, capture_output=True, timeout=120,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr.decode(errors="replace")


def produce_kafka_python(settings, topic: str, lines: list[bytes], codec: str) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","),
                             compression_type=None if codec == "none" else codec,
                             acks="all", linger_ms=50, batch_size=1 << 20, max_request_size=4 << 20)
    try:
        futures = [producer.send(topic, key=key_of(raw), value=raw) for raw in lines]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close(timeout=10)


PRODUCERS = {"kcat": produce_kcat, "kafka-python": produce_kafka_python}


def end_offsets(settings, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def produce_slices(settings, slices: list[Slice]) -> None:
    """Produce the slices one after another, noting the offsets each one got per partition."""
    topic = settings.video_topic
    before = end_offsets(settings, topic)
    for piece in slices:
        assert not any(b"\t" in raw or b"\n" in raw for raw in piece.lines)  # kcat's separators
        PRODUCERS[piece.client](settings, topic, piece.lines, piece.codec)
        after = end_offsets(settings, topic)
        piece.ranges = {p: (before[p], after[p]) for p in after if after[p] > before[p]}
        assert sum(end - start for start, end in piece.ranges.values()) == len(piece.lines), piece.name
        before = after


def raw_batches(data: bytes):
    """(base offset, last offset, codec id, record count) of each whole v2 batch in fetch bytes."""
    pos = 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if pos + 12 + length > len(data):
            break  # a fetch may end inside a batch
        assert data[pos + 16] == 2, "magic"
        attributes, last_delta = struct.unpack_from(">hi", data, pos + 21)
        (count,) = struct.unpack_from(">i", data, pos + 57)
        yield base, base + last_delta, attributes & 0x07, count
        pos += 12 + length


def read_partition_raw(settings, topic: str, partition: int, monkeypatch):
    """kafka-python's records of one partition, and the raw batches its fetches returned."""
    fetched: list[bytes] = []
    real = kafka_fetcher.MemoryRecords

    def spy(data):
        fetched.append(bytes(data))
        return real(data)

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), group_id=None,
                             enable_auto_commit=False)
    tp = TopicPartition(topic, partition)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(kafka_fetcher, "MemoryRecords", spy)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            records = read_to_end(consumer, [tp], timeout_s=60)
    finally:
        consumer.close()
    batches = {base: (last, codec, count) for data in fetched for base, last, codec, count in raw_batches(data)}
    return records, batches


def check_topic_carries_the_codecs(settings, slices: list[Slice], monkeypatch) -> list[bytes]:
    """Every slice's batches carry its codec, many records each; returns the values read."""
    values: list[bytes] = []
    per_slice = {piece.name: [] for piece in slices}
    for partition in range(settings.partitions):
        records, batches = read_partition_raw(settings, settings.video_topic, partition, monkeypatch)
        values += [r.value for r in records]
        for piece in slices:
            start, end = (piece.ranges or {}).get(partition, (0, 0))
            inside = [(base, *batches[base]) for base in sorted(batches) if start <= base < end]
            assert sum(count for *_, count in inside) == end - start, f"{piece.name} p{partition}: batches missing"
            assert {codec for _, _, codec, _ in inside} <= {CODEC_IDS[piece.codec]}, (piece.name, inside)
            per_slice[piece.name] += inside
    rows = ["client x codec: records in batches on the topic (codec read from each batch's attributes)"]
    for name, inside in per_slice.items():
        records = sum(count for *_, count in inside)
        assert inside and records / len(inside) >= 5, f"{name}: {len(inside)} batches for {records} records"
        codecs = sorted({next(k for k, v in CODEC_IDS.items() if v == codec) for _, _, codec, _ in inside})
        rows.append(f"  {name:<20} {records:>5} records in {len(inside):>3} batches "
                    f"(largest {max(count for *_, count in inside)}), codec {', '.join(codecs)}")
    SUMMARIES.append("\n".join(rows) + "\n")
    return values



def committed_to_end(settings) -> bool:
    """The worker's group has committed every partition of the source topic to its end."""
    ends = end_offsets(settings, settings.video_topic)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","), group_id=settings.app_id,
                             enable_auto_commit=False)
    try:
        return all(consumer.committed(TopicPartition(settings.video_topic, p)) == end for p, end in ends.items())
    finally:
        consumer.close(autocommit=False)


def worker_log(procs) -> str:
    return (procs.logs / f"worker-{procs.starts_of['worker']}.log").read_text(errors="replace")


def setup_campaigns(settings, tmp_path):
    campaigns = make_campaigns()
    path = tmp_path / "campaigns.yaml"
    path.write_text(yaml.safe_dump({"campaigns": [c.yaml_entry() for c in campaigns]}))
    publish_campaigns(settings, load_campaign_file(path))
    ensure_topics(settings)
    return campaigns


def settle(clickhouse, database, expected_totals, expected_minutes, procs):
    worker = procs.running["worker"]

    def settled():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.returncode}")
        totals, minutes = read_back(clickhouse, database)
        return totals == expected_totals and minutes == expected_minutes

    try:
        wait_until(settled, SETTLE_S, what="ClickHouse to equal the oracle")
    except AssertionError as exc:
        totals, minutes = read_back(clickhouse, database)
        diff = {k: (totals.get(k), v) for k, v in expected_totals.items() if totals.get(k) != v}
        pytest.fail(f"{exc}\ntotals diff (got, want): {diff}\n{procs.tail()}")


def cut(lines: list[bytes], combos: list[tuple[str, str]]) -> list[Slice]:
    size = -(-len(lines) // len(combos))
    return [Slice(client, codec, lines[i * size:(i + 1) * size]) for i, (client, codec) in enumerate(combos)]


def test_every_client_and_codec_is_counted_exactly(run_settings, procs, clickhouse, tmp_path, monkeypatch):
    started = time.monotonic()
    campaigns = setup_campaigns(run_settings, tmp_path)
    lines, injected = generate(seed=23, videos=4000, campaigns=campaigns)
    expected_totals, expected_minutes = oracle(lines, campaigns)
    assert injected["duplicates"] > 100 and expected_totals["capped-gbp"][2] == 5_000
    slices = cut(lines, [(client, codec) for codec in ("gzip", "snappy", "lz4", "zstd") for client in PRODUCERS])

    procs.start("worker", "worker")
    procs.start("sink", "sink")
    produce_slices(run_settings, slices)

    values = check_topic_carries_the_codecs(run_settings, slices, monkeypatch)
    assert Counter(values) == Counter(lines), "kafka-python must read back every event, byte for byte"

    settle(clickhouse, run_settings.clickhouse.database, expected_totals, expected_minutes, procs)
    wait_until(lambda: committed_to_end(run_settings), 60, what="the worker's commits to reach the end")
    log = worker_log(procs)
    assert "undecodable" not in log and "Drain messages raised" not in log, procs.tail()
    print(f"\n{len(lines)} events in {len(slices)} client x codec slices counted exactly "
          f"in {time.monotonic() - started:.0f} s")


def test_a_worker_without_codec_libraries_skips_what_it_cannot_decode_and_counts_the_rest(
    run_settings, procs, clickhouse, tmp_path, monkeypatch
):
    campaigns = setup_campaigns(run_settings, tmp_path)
    lines, _ = generate(seed=29, videos=1500, campaigns=campaigns)
    combos = [("kafka-python", "gzip"), ("kcat", "lz4"), ("kafka-python", "none"), ("kcat", "zstd"),
              ("kafka-python", "snappy"), ("kcat", "gzip")]
    slices = cut(lines, combos)
    readable = [raw for piece in slices if piece.codec in ("gzip", "none") for raw in piece.lines]
    expected_totals, expected_minutes = oracle(readable, campaigns)

    # aiokafka finds no cramjam in the worker: snappy, lz4 and zstd batches cannot be decoded.
    hidden = tmp_path / "no-codecs"
    hidden.mkdir()
    (hidden / "cramjam.py").write_text('raise ImportError("cramjam hidden by the test")\n')
    with monkeypatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(hidden), os.environ.get("PYTHONPATH")) if p))
        worker = procs.start("worker", "worker")
    procs.start("sink", "sink")
    produce_slices(run_settings, slices)

    settle(clickhouse, run_settings.clickhouse.database, expected_totals, expected_minutes, procs)
    wait_until(lambda: committed_to_end(run_settings), 60, what="the worker's commits to pass the skipped batches")
    assert worker.poll() is None, procs.tail()

    log = worker_log(procs)
    skipped = re.findall(r"skipping undecodable record batch (\S+)\[(\d+)\] offsets (\d+)\.\.(\d+) "
                         r"\((\d+) records, codec (\w+)\)", log)
    lost = {(int(p), o) for _, p, first, last, _, _ in skipped for o in range(int(first), int(last) + 1)}
    unreadable = {(p, o) for piece in slices if piece.codec not in ("gzip", "none")
                  for p, (start, end) in piece.ranges.items() for o in range(start, end)}
    assert lost == unreadable, procs.tail()  # every unreadable offset logged, and only those
    assert len(skipped) == len(set(skipped)), "each batch is logged once"
    assert {codec for *_, codec in skipped} == {"lz4", "zstd", "snappy"}
    assert {topic for topic, *_ in skipped} == {run_settings.video_topic}
    assert "Drain messages raised" not in log, procs.tail()
    # A jump over skipped offsets only is no jump: streams.faust_patches.offset_jumps must not seek back for it
    # (it would re-fetch and re-skip the batch for ever). Other jumps keep their seek back.
    jumps = re.findall(r"offset jump on \S+\[(\d+)\]: offsets (\d+)\.\.(\d+) were not read", log)
    assert not [j for j in jumps if {(int(j[0]), o) for o in range(int(j[1]), int(j[2]) + 1)} <= lost], log
