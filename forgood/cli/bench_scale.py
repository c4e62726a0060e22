"""``forgood bench --scale N``: one campaign at #MusicShapedMe scale (issue 15), measured.

A separate phase of the benchmark (never in CI: at the default 15 million videos it runs for
most of an hour and the worker needs several GB). In a fresh namespace on the local stack:

1. **events** — N distinct videos for one campaign by ``2N/3`` creators (creator of video *i*:
   ``i mod 2N/3``), 3 % of the created events delivered twice, a removal for 1 % of the videos
   and one stats snapshot for a tenth. They are written to files and produced *before* anything
   consumes, by ``kcat`` (librdkafka, with the murmur2 partitioner of Kafka's own clients, so
   the three source topics stay co-partitioned by video): the fastest well-kept producer here,
   and what a platform's firehose looks like to a catching-up worker;
2. **anchor** — a plain kafka-python consumer reads ``video-created`` end to end (orjson-decoding
   each value): the rate the pipeline is compared with (target: end to end ≥ half of it);
3. **catch-up** — the worker and the sink start; the bench samples ``campaign_totals`` and
   records when the campaign's first video shows (the worker is up: its start-up is reported
   apart), when its matched videos (counted + removed) reach the checkpoint (1 M by default)
   and N, with the worker's RSS (absolute per video, and its growth since the first video)
   and the changelogs' bytes on the broker's disk at each, per video;
4. **recovery** — the worker is SIGKILLed at N and a new one started; the time until
   ``campaign_totals`` shows a row written after the kill with exactly the expected figures;
5. **check** — the final totals against the known answer (videos, participants, removed,
   donation, views), computed from the generator's arithmetic, not from the pipeline.

Blocks for the whole run; raises ``RuntimeError`` (with the log's path) when a phase does not
finish in its bound. Prints nothing itself: :func:`print_scale` draws the figures.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from clickhouse_driver import Client
from rich.console import Console
from rich.table import Table

from forgood import stack
from forgood.cli.bench import namespace, rss_bytes
from forgood.cli.processes import Child, spawn, stop_all
from forgood.domain.campaigns import Campaign
from forgood.domain.kafka import bootstrap_servers, make_consumer
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from forgood.stack.layout import StackLayout
from producers.campaigns import publish_campaigns
from sinks.clickhouse import connect
from streams.app import changelog_topics

console = Console()

CAMPAIGN_ID = "music-shaped-me-scale"
HASHTAG = "MusicShapedMe"
PRICE = "0.50"  # GBP a video, uncapped: the donation is exactly N_counted × 50 pence
DUPLICATE_EVERY = 33  # created events delivered twice (~3 %)
REMOVE_MOD = (100, 7)  # videos with i % 100 == 7 are removed (1 %)
STATS_MOD = (10, 3)  # videos with i % 10 == 3 get one snapshot (10 %)


@dataclass
class ScaleResult:
    videos: int
    checkpoint: int
    partitions: int
    produce_s: float = 0.0
    produced_events: int = 0
    anchor_kafka_python_eps: float = 0.0
    to_checkpoint_eps: float = 0.0
    checkpoint_to_n_eps: float = 0.0
    end_to_end_eps: float = 0.0
    ratio_to_anchor: float = 0.0
    slowdown_at_n: float = 0.0
    startup_s: float = 0.0
    rss_bytes_at_start: int = 0
    rss_bytes_per_video_at_checkpoint: float = 0.0
    rss_bytes_per_video_at_n: float = 0.0
    rss_growth_bytes_per_video: float = 0.0
    rss_bytes_at_n: int = 0
    disk_bytes_per_video_at_checkpoint: float = 0.0
    disk_bytes_per_video_at_n: float = 0.0
    recovery_s: float = 0.0
    exact: bool = False
    expected: dict = field(default_factory=dict)
    got: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Expected:
    """The known answer, from the generator's arithmetic."""

    videos: int
    creators: int
    removed: int
    donation_minor: int
    views: int

    @classmethod
    def of(cls, n: int) -> Expected:
        creators_total = max(1, 2 * n // 3)
        seen = bytearray(creators_total)
        counted = removed = views = 0
        for i in range(n):
            if i % REMOVE_MOD[0] == REMOVE_MOD[1]:
                removed += 1
                continue
            counted += 1
            seen[i % creators_total] = 1
            if i % STATS_MOD[0] == STATS_MOD[1]:
                views += _views(i)
        return cls(counted, sum(seen), removed, counted * 50, views)


def _views(i: int) -> int:
    return i % 1000


def write_events(folder: Path, n: int, now: datetime) -> dict[str, tuple[Path, int]]:
    """The three topics' events as ``key<TAB>value`` lines (kcat's ``-K`` format), by topic role:
    (file, lines). Event times spread over 20 hours ending an hour before ``now`` (status and
    stats events 5 and 10 minutes after their video: every event in the past)."""
    creators_total = max(1, 2 * n // 3)
    start = now - timedelta(hours=21)
    files = {role: folder / f"{role}.tsv" for role in ("created", "status", "stats")}
    counts = dict.fromkeys(files, 0)
    span_us = 20 * 3600 * 1_000_000
    with files["created"].open("wb") as created, files["status"].open("wb") as status, \
            files["stats"].open("wb") as stats:
        for i in range(n):
            video = f"m{i}"
            at = start + timedelta(microseconds=i * span_us // max(1, n))
            line = video.encode() + b"\t" + orjson.dumps({
                "event_id": f"c{i}", "video_id": video, "creator_id": f"u{i % creators_total}",
                "hashtags": [HASHTAG, "fyp"], "created_at": at.isoformat()}) + b"\n"
            created.write(line)
            counts["created"] += 1
            if i % DUPLICATE_EVERY == 0:
                created.write(line)
                counts["created"] += 1
            if i % REMOVE_MOD[0] == REMOVE_MOD[1]:
                status.write(video.encode() + b"\t" + orjson.dumps({
                    "event_id": f"s{i}", "video_id": video, "status": "removed", "reason": "moderation",
                    "at": (at + timedelta(minutes=5)).isoformat()}) + b"\n")
                counts["status"] += 1
            if i % STATS_MOD[0] == STATS_MOD[1]:
                views = _views(i)
                stats.write(video.encode() + b"\t" + orjson.dumps({
                    "event_id": f"t{i}", "video_id": video, "views": views, "likes": views // 10, "shares": 0,
                    "comments": 0, "observed_at": (at + timedelta(minutes=10)).isoformat()}) + b"\n")
                counts["stats"] += 1
    return {role: (files[role], counts[role]) for role in files}


def kcat_produce(settings: Settings, topic: str, path: Path) -> None:
    """Produce every ``key<TAB>value`` line of ``path`` to ``topic`` with kcat; blocks until
    all are acknowledged (``acks=all``); raises ``RuntimeError`` when kcat fails or is missing."""
    kcat = shutil.which("kcat")
    if kcat is None:
        raise RuntimeError("kcat is not installed (scripts/setup.sh installs it)")
    done = subprocess.run(
        [kcat, "-P", "-b", ",".join(bootstrap_servers(settings)), "-t", topic, "-K", "\t", "-l",
         "-X", "partitioner=murmur2_random", "-X", "acks=all", "-X", "linger.ms=20",
         "-X", "batch.num.messages=10000", "-X", "queue.buffering.max.messages=1000000", str(path)],
        capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kcat could not produce {path} to {topic}: {done.stderr.strip()[-2000:]}")


def anchor_rate(settings: Settings, expected: int) -> float:
    """Events/s a plain kafka-python consumer reads and orjson-decodes ``video-created`` at."""
    consumer = make_consumer(settings, client_id="forgood-bench-anchor", auto_offset_reset="earliest",
                             max_poll_records=5000, fetch_max_bytes=16 * 1024 * 1024)
    try:
        from kafka import TopicPartition

        tps = [TopicPartition(settings.video_topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        seen, started = 0, time.monotonic()
        while seen < expected:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
            if time.monotonic() - started > 3600:
                raise RuntimeError(f"the anchor consumer read {seen} of {expected} in an hour")
        return seen / (time.monotonic() - started)
    finally:
        consumer.close(autocommit=False)


def changelog_disk_bytes(settings: Settings, layout: StackLayout) -> int:
    """Bytes of the worker tables' changelog segments on the local broker's disk (``*.log``,
    under the stack's ``layout``)."""
    data = layout.work_dir("kafka") / "data"
    names = {spec.name for spec in changelog_topics(settings)}
    total = 0
    for folder in data.iterdir() if data.exists() else ():
        if folder.name.rsplit("-", 1)[0] in names:
            total += sum(f.stat().st_size for f in folder.glob("*.log"))
    return total


def _totals(client: Client, db: str) -> tuple[int, ...] | None:
    """(videos, creators, removed, donation_minor, views, updated_at) of the campaign; None
    before it has a row (or while ClickHouse cannot be read)."""
    try:
        rows = client.execute(
            f"SELECT videos, creators, removed, donation_minor, views, toUInt32(updated_at) "
            f"FROM {db}.campaign_totals WHERE campaign_id = '{CAMPAIGN_ID}'")
    except Exception:
        return None
    return tuple(rows[0]) if rows else None


def run_scale(base: Settings, *, videos: int, checkpoint: int, partitions: int, json_path: Path | None) -> ScaleResult:
    """Run the scale phase (module docstring); returns the figures (and writes them to ``json_path``)."""
    stack.up(base)
    checkpoint = checkpoint if 0 < checkpoint < videos else max(1, videos // 3)
    result = ScaleResult(videos=videos, checkpoint=checkpoint, partitions=partitions)
    settings = namespace(base, "x", (base.state_dir / "bench").resolve(), partitions)
    layout = StackLayout.for_settings(base)  # the stack's files: under the base state dir
    now = datetime.now(UTC)
    campaign = Campaign.model_validate({
        "id": CAMPAIGN_ID, "name": "#MusicShapedMe at scale", "nonprofit": "Youth Music", "hashtags": [HASHTAG],
        "donation_per_video": PRICE, "currency": "GBP", "starts_at": (now - timedelta(days=2)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat()})
    ensure_topics(settings, extra=changelog_topics(settings))
    publish_campaigns(settings, (campaign,), by="forgood-bench")
    expected = Expected.of(videos)
    result.expected = asdict(expected)
    logs = settings.state_dir / "logs"
    with tempfile.TemporaryDirectory(prefix="forgood-scale-") as tmp:
        files = write_events(Path(tmp), videos, now)
        producing = time.monotonic()
        for role, topic in (("created", settings.video_topic), ("status", settings.status_topic),
                            ("stats", settings.stats_topic)):
            kcat_produce(settings, topic, files[role][0])
        result.produce_s = time.monotonic() - producing
        result.produced_events = sum(count for _, count in files.values())
    result.anchor_kafka_python_eps = anchor_rate(settings, files["created"][1])

    client = connect(settings)
    db = settings.clickhouse.database
    children: list[Child] = []
    try:
        worker = spawn("worker", ["worker"], logs / "worker.log", settings.as_env())
        children += [worker, spawn("sink", ["sink"], logs / "sink.log", settings.as_env())]
        spawned = time.monotonic()
        started: float | None = None  # the first video counted: the worker is up and assigned
        at_checkpoint: float | None = None
        deadline = spawned + max(1800.0, videos / 500)
        while True:
            totals = _totals(client, db)
            matched = (totals[0] + totals[2]) if totals else 0
            if started is None and matched:
                started = time.monotonic()
                result.startup_s = started - spawned
                result.rss_bytes_at_start = rss_bytes(worker.process.pid)
            if at_checkpoint is None and matched >= checkpoint:
                at_checkpoint = time.monotonic()
                result.rss_bytes_per_video_at_checkpoint = rss_bytes(worker.process.pid) / max(1, matched)
                result.disk_bytes_per_video_at_checkpoint = changelog_disk_bytes(settings, layout) / max(1, matched)
            if matched >= videos:
                break
            if time.monotonic() > deadline or not worker.alive:
                raise RuntimeError(f"the worker counted {matched} of {videos} videos; see {logs}")
            time.sleep(0.5)
        at_n = time.monotonic()
        result.rss_bytes_at_n = rss_bytes(worker.process.pid)
        result.rss_bytes_per_video_at_n = result.rss_bytes_at_n / videos
        result.rss_growth_bytes_per_video = (result.rss_bytes_at_n - result.rss_bytes_at_start) / videos
        result.disk_bytes_per_video_at_n = changelog_disk_bytes(settings, layout) / videos
        assert at_checkpoint is not None and started is not None
        result.end_to_end_eps = result.produced_events / (at_n - started)
        result.to_checkpoint_eps = checkpoint / (at_checkpoint - started)
        result.checkpoint_to_n_eps = (videos - checkpoint) / max(1e-9, at_n - at_checkpoint)
        result.slowdown_at_n = 1 - result.checkpoint_to_n_eps / result.to_checkpoint_eps
        result.ratio_to_anchor = result.end_to_end_eps / result.anchor_kafka_python_eps
        _wait_exact(client, db, expected, 600, logs)
        # 4. recovery after a SIGKILL of the owner
        worker.process.kill()
        worker.process.wait()
        killed_at = time.time()
        killed = time.monotonic()
        children.append(spawn("worker2", ["worker"], logs / "worker2.log", settings.as_env()))
        while time.monotonic() - killed < 900:
            totals = _totals(client, db)
            if totals and totals[5] >= math.floor(killed_at) and totals[:5] == _tuple(expected):
                result.recovery_s = time.monotonic() - killed
                break
            time.sleep(0.2)
        else:
            result.notes.append("no correct totals were published within 900 s of the SIGKILL")
        final = _totals(client, db)
        if final is not None:
            result.got = dict(zip(("videos", "creators", "removed", "donation_minor", "views"), final[:5], strict=True))
            result.exact = final[:5] == _tuple(expected)
    finally:
        stop_all(children)
    if json_path:
        json_path.write_text(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2).decode())
    return result


def _tuple(expected: Expected) -> tuple[int, int, int, int, int]:
    return (expected.videos, expected.creators, expected.removed, expected.donation_minor, expected.views)


def _wait_exact(client: Client, db: str, expected: Expected, timeout: float, logs: Path) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        totals = _totals(client, db)
        if totals and totals[:5] == _tuple(expected):
            return
        time.sleep(0.5)
    raise RuntimeError(f"campaign_totals shows {_totals(client, db)}, expected {_tuple(expected)}; see {logs}")


def print_scale(result: ScaleResult) -> None:
    """The figures as a table, with the issue's targets beside them."""
    table = Table(title=f"forgood bench --scale — {result.videos:,} videos in one campaign, "
                        f"{result.partitions} partitions")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    c = result.checkpoint
    rows = [
        ("events produced (kcat), seconds", f"{result.produced_events:,} in {result.produce_s:,.0f} s", ""),
        ("anchor: plain kafka-python consumer", f"{result.anchor_kafka_python_eps:,.0f} events/s", ""),
        ("worker start-up (spawn → first video counted)", f"{result.startup_s:,.1f} s", ""),
        ("end to end, all events, after start-up", f"{result.end_to_end_eps:,.0f} events/s", ""),
        ("  / anchor", f"{result.ratio_to_anchor:.1%}", "≥ 50%"),
        (f"  videos 0 → {c:,}", f"{result.to_checkpoint_eps:,.0f} videos/s", ""),
        (f"  videos {c:,} → {result.videos:,}", f"{result.checkpoint_to_n_eps:,.0f} videos/s", ""),
        ("  slower at N than at the checkpoint", f"{result.slowdown_at_n:.1%}", "≤ 20%"),
        (f"worker RSS per video at {c:,} / at N", f"{result.rss_bytes_per_video_at_checkpoint:,.0f} B / "
                                                  f"{result.rss_bytes_per_video_at_n:,.0f} B", ""),
        ("worker RSS at N (growth per video since the first)",
         f"{result.rss_bytes_at_n / 2**30:,.2f} GiB ({result.rss_growth_bytes_per_video:,.0f} B)", "≤ 2 GiB at 15 M"),
        (f"changelog on disk per video at {c:,} / at N", f"{result.disk_bytes_per_video_at_checkpoint:,.0f} B / "
                                                        f"{result.disk_bytes_per_video_at_n:,.0f} B", "≤ 100 B"),
        ("SIGKILL of the owner → correct totals again",
         f"{result.recovery_s:,.1f} s" if result.recovery_s else "—", "≤ 60 s"),
        ("totals equal the known answer", "yes" if result.exact else f"NO: {result.got} ≠ {result.expected}", ""),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
