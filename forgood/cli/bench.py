"""``forgood bench``: the pipeline's figures beside the broker's ceiling, measured in one run.

Phases (each in a fresh namespace — topics, consumer groups, ClickHouse database — on the
local stack, which it starts if needed):

1. **raw ceiling** — a plain aiokafka consumer reads and JSON-decodes the event topic
   (``getmany`` batches of 5,000, orjson): the most any consumer here can do; then the
   **Faust floor** — a Faust agent that only takes batches of the same topic
   (:mod:`forgood.cli.faust_floor`): the most a Faust worker can do, whatever its agents do;
2. **end to end** — a worker and a sink run; N events are produced as fast as the producer
   goes; events/s is N over the time from the first send until ``campaign_totals`` sums to N
   (and the pipeline's own pace once the producer has finished);
3. **freshness** — background load at half the end-to-end rate, and single probe events
   whose produce → visible-in-ClickHouse times give p50/p95/p99;
4. **state cost** — bytes of the tables' changelogs (``ledger`` and ``videos``) per distinct
   matched video (what a restart must read back; a disk-backed store holds the same) and the
   worker's resident memory growth per video; then two growing stats snapshots for half of
   those videos and removals of a twentieth, each waited for until ``campaign_totals`` shows
   them exactly, with the changelog bytes each kept snapshot and each removal added;
5. **scale-out** — phase 2 again with two workers;
6. **audit trail** — in phase 2, the time until ``campaign_videos`` holds a row for every
   video (events/s like the end-to-end figure); and the sink alone: rows/s it writes to
   ``campaign_videos`` from a topic filled beforehand with per-video rows (issue 14).

Prints a table, writes JSON, and never asserts a speed: it is a benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka.structs import TopicPartition
from clickhouse_driver import Client
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forgood import stack
from forgood.cli.processes import Child, spawn, stop_all
from forgood.domain.campaigns import Campaign, load_campaign_file
from forgood.domain.kafka import ReadTimeout, make_aio_consumer, make_producer, read_topic
from forgood.domain.records import CampaignVideoRows
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from producers.campaigns import publish_campaigns
from sinks.clickhouse import connect
from streams.app import changelog_topics

console = Console()


@dataclass
class BenchResult:
    events: int
    partitions: int
    raw_ceiling_eps: float = 0.0
    faust_floor_eps: float = 0.0
    faust_floor_three_topics_eps: float = 0.0
    produce_eps: float = 0.0
    end_to_end_eps: float = 0.0
    end_to_end_counted: int = 0
    end_to_end_after_producer_eps: float = 0.0
    ratio_end_to_end_to_raw: float = 0.0
    freshness_load_eps: float = 0.0
    freshness_p50_s: float = 0.0
    freshness_p95_s: float = 0.0
    freshness_p99_s: float = 0.0
    freshness_probes: int = 0
    state_changelog_bytes_per_video: float = 0.0
    state_memory_bytes_per_video: float = 0.0
    stats_snapshots: int = 0
    stats_eps: float = 0.0
    state_changelog_bytes_per_snapshot: float = 0.0
    removals: int = 0
    state_changelog_bytes_per_removal: float = 0.0
    scale_out_workers: int = 0
    scale_out_eps: float = 0.0
    scale_out_counted: int = 0
    audit_trail_eps: float = 0.0
    sink_video_rows: int = 0
    sink_video_rows_per_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def namespace(base: Settings, tag: str, state_root: Path, partitions: int) -> Settings:
    """``base`` in a fresh namespace named ``tag`` + 8 hex digits: its own topics, consumer
    groups, ClickHouse database and state folder (under ``state_root``), metrics ports off."""
    rid = f"{tag}{uuid.uuid4().hex[:8]}"
    return base.model_copy(update={
        "topic_prefix": f"{rid}-", "video_topic": f"{rid}-video-created",
        "status_topic": f"{rid}-video-status", "stats_topic": f"{rid}-video-stats", "app_id": f"forgood-{rid}",
        "clickhouse_url": base.clickhouse_url.rsplit("/", 1)[0] + f"/forgood_{rid}",
        "state_dir": state_root / rid, "partitions": partitions,
        "worker_metrics_port": 0, "sink_metrics_port": 0,
    })


def _payloads(n: int, tags: list[str], offset: int = 0) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(offset, offset + n):
        vid = f"bench-{i}"
        out.append((vid.encode(), orjson.dumps({
            "event_id": f"b-{i}", "video_id": vid, "creator_id": f"u{i % 5000}",
            "hashtags": [tags[i % len(tags)], "fyp"], "created_at": now})))
    return out


def _stats_payloads(videos: range, snapshot: int) -> list[tuple[bytes, bytes]]:
    """Snapshot number ``snapshot`` (0, 1, ...) of each video: views ``1000 * (snapshot + 1) + i``
    (so each snapshot is newer and larger), observed ``snapshot`` seconds after a minute ago."""
    observed = datetime.fromtimestamp(int(time.time()) - 60 + snapshot, UTC).isoformat()
    out = []
    for i in videos:
        vid = f"bench-{i}"
        views = 1000 * (snapshot + 1) + i
        out.append((vid.encode(), orjson.dumps({
            "event_id": f"t-{i}-{snapshot}", "video_id": vid, "views": views, "likes": views // 10,
            "shares": views // 100, "comments": views // 50, "observed_at": observed})))
    return out


def _removal_payloads(videos: range) -> list[tuple[bytes, bytes]]:
    at = datetime.fromtimestamp(int(time.time()) - 30, UTC).isoformat()
    return [(f"bench-{i}".encode(), orjson.dumps({
        "event_id": f"r-{i}", "video_id": f"bench-{i}", "status": "removed", "reason": "moderation", "at": at}))
        for i in videos]


def _produce(settings: Settings, payloads: list[tuple[bytes, bytes]], progress: Progress | None = None,
             label: str = "producing", topic: str | None = None) -> float:
    """Send every payload as fast as the producer goes (to ``topic``, by default the
    video-created topic); return seconds until all acknowledged."""
    producer = make_producer(settings, client_id="forgood-bench")
    task = progress.add_task(label, total=len(payloads)) if progress else None
    started = time.monotonic()
    topic = topic or settings.video_topic
    for i, (key, value) in enumerate(payloads, 1):
        producer.send(topic, key=key, value=value)
        if progress and task is not None and i % 2000 == 0:
            progress.update(task, completed=i)
    producer.flush()
    elapsed = time.monotonic() - started
    if progress and task is not None:
        progress.update(task, completed=len(payloads))
    producer.close()
    return elapsed


async def _raw_consume(settings: Settings, expected: int) -> float:
    consumer = make_aio_consumer(settings, client_id="forgood-bench-raw",
                                 max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        # aiokafka knows only the metadata of topics it was asked about: use the count we created.
        tps = [TopicPartition(settings.video_topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, started = 0, time.monotonic()
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
            if time.monotonic() - started > 600:
                raise TimeoutError(f"raw consumer read {seen} of {expected}")
        return time.monotonic() - started
    finally:
        await consumer.stop()


def _faust_floor(settings: Settings, expected: int, timeout: float = 600.0, topics: tuple[str, ...] = ()) -> float:
    """Events/s a do-nothing Faust agent takes from the (already filled) event topic; with
    ``topics``, an agent subscribed to all of them (as ``match_videos`` is to the three
    source topics), only the event topic holding events."""
    names = topics or (settings.video_topic,)
    result_file = settings.state_dir / f"faust-floor-{len(names)}.json"
    log = settings.state_dir / f"faust-floor-{len(names)}.log"
    child = spawn("faust-floor", [",".join(names), str(expected), str(result_file)], log,
                  settings.as_env(), module="forgood.cli.faust_floor")
    try:
        started = time.monotonic()
        while not result_file.exists():
            if not child.alive or time.monotonic() - started > timeout:
                raise RuntimeError(f"the Faust floor run did not finish; see {log}")
            time.sleep(0.1)
        time.sleep(0.05)  # written in one call; let it land
        figures = orjson.loads(result_file.read_bytes())
        return figures["events"] / figures["seconds"] if figures["seconds"] > 0 else 0.0
    finally:
        stop_all([child])


def _counted(client: Client, db: str) -> int:
    try:
        return client.execute(f"SELECT sum(videos) FROM {db}.campaign_totals")[0][0] or 0
    except Exception:
        return -1


def _wait_at_least(read: Callable[[Client, str], int], client: Client, db: str, target: int, timeout: float,
                   interval: float = 0.02) -> float | None:
    """When ``read(client, db)`` first reached ``target`` (monotonic time), polled every
    ``interval`` s; None if not within ``timeout`` s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if read(client, db) >= target:
            return time.monotonic()
        time.sleep(interval)
    return None


def _pipeline(settings: Settings, workers: int, logs: Path) -> list[Child]:
    env = settings.as_env()
    children = [spawn(f"worker{i}", ["worker"], logs / f"worker{i}.log", env) for i in range(workers)]
    children.append(spawn("sink", ["sink"], logs / "sink.log", env))
    return children


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` in bytes (0 when it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _changelog_bytes(settings: Settings) -> int:
    """Key + value bytes of every record in the tables' changelogs (what a restart reads back)."""
    total = 0
    for spec in changelog_topics(settings):
        try:
            records = read_topic(settings, spec.name, timeout_s=60, client_id="forgood-bench-changelog")
        except ReadTimeout as exc:  # a figure from what was read in time
            records = exc.records
        total += sum(len(record.key or b"") + len(record.value or b"") for record in records)
    return total


def _end_to_end(base: Settings, result: BenchResult, campaigns: tuple[Campaign, ...], tags: list[str],
                state_root: Path, workers: int,
                progress: Progress) -> tuple[float, int, Settings, list[Child]]:
    settings = namespace(base, "e" if workers == 1 else "s", state_root, result.partitions)
    ensure_topics(settings, extra=changelog_topics(settings))
    publish_campaigns(settings, campaigns)
    logs = settings.state_dir / "logs"
    children = _pipeline(settings, workers, logs)
    client = connect(settings)
    db = settings.clickhouse.database
    _produce(settings, _payloads(1, tags, offset=-1))  # warm-up: group joins, schema
    if _wait_at_least(_counted, client, db, 1, 180) is None:
        stop_all(children)
        raise RuntimeError(f"warm-up event never reached ClickHouse; see {logs}")
    rss_before = rss_bytes(children[0].process.pid)
    n = result.events
    payloads = _payloads(n, tags)
    task = progress.add_task(f"end to end, {workers} worker(s)", total=n)
    started = time.monotonic()
    produced = threading.Thread(target=_produce, args=(settings, payloads), daemon=True)
    produced.start()
    done_at = None
    producer_done: tuple[float, int] | None = None  # (when the producer finished, counted then)
    while time.monotonic() - started < max(600.0, n / 200):
        c = _counted(client, db) - 1
        progress.update(task, completed=max(0, c))
        if c >= n:
            done_at = time.monotonic()
            break
        if producer_done is None and not produced.is_alive():
            producer_done = (time.monotonic(), c)
        time.sleep(0.05)
    produced.join()
    counted = _counted(client, db) - 1
    elapsed = (done_at or time.monotonic()) - started
    if workers == 1 and done_at:
        audited_at = _wait_at_least(_audited, client, db, n + 1, 120, interval=0.05)
        result.audit_trail_eps = n / (audited_at - started) if audited_at else 0.0
    if workers == 1:
        result.state_memory_bytes_per_video = max(0, rss_bytes(children[0].process.pid) - rss_before) / max(1, n)
        # The pipeline's own pace once the producer no longer competes for the cores.
        if done_at and producer_done and done_at - producer_done[0] > 1.0:
            result.end_to_end_after_producer_eps = (n - producer_done[1]) / (done_at - producer_done[0])
    return n / elapsed, counted, settings, children


def _audited(client: Client, db: str) -> int:
    """Distinct (campaign, video) keys in ``campaign_videos_versions``; -1 while unreadable."""
    try:
        return client.execute(f"SELECT uniqExact(campaign_id, video_id) FROM {db}.campaign_videos_versions")[0][0]
    except Exception:
        return -1


def _sink_video_rows(base: Settings, result: BenchResult, state_root: Path, rows: int, progress: Progress) -> None:
    """Phase 6's second half: ``rows`` per-video rows (records of 2,000, as the owners send
    them) produced to a fresh namespace's rows topic first, then a sink alone; rows/s from its
    first row visible in ``campaign_videos_versions`` until all are (from the sink's start
    when they all land in one write)."""
    settings = namespace(base, "a", state_root, result.partitions)
    ensure_topics(settings)
    now = int(time.time())
    records = [
        (b"bench", CampaignVideoRows("bench", 1 << 62, tuple(
            (f"bench-{i}", f"u{i % 5000}", now - i % 3600, "counted", now - i % 3600, "", i, i // 10, i // 100,
             i // 50) for i in range(start, min(rows, start + 2000)))).to_bytes())
        for start in range(0, rows, 2000)
    ]
    _produce(settings, records, None, topic=settings.video_rows_topic)
    client = connect(settings)
    db = settings.clickhouse.database
    task = progress.add_task("sink alone: per-video rows", total=rows)
    spawned = time.monotonic()
    children = [spawn("sink", ["sink"], settings.state_dir / "logs" / "sink.log", settings.as_env())]
    try:
        first: tuple[float, int] | None = None
        seen = 0
        deadline = time.monotonic() + max(300.0, rows / 1000)
        while time.monotonic() < deadline:
            try:
                seen = client.execute(f"SELECT count() FROM {db}.campaign_videos_versions")[0][0]
            except Exception:
                seen = 0
            progress.update(task, completed=seen)
            if seen and first is None:
                first = (time.monotonic(), seen)
            if seen >= rows:
                break
            time.sleep(0.02)
        if first and seen >= rows:
            result.sink_video_rows = rows
            result.sink_video_rows_per_s = (
                (rows - first[1]) / (time.monotonic() - first[0]) if seen > first[1]
                else rows / (time.monotonic() - spawned))  # all in one write: from the sink's start
        else:
            result.notes.append(f"the sink wrote {seen} of {rows} per-video rows in time")
    finally:
        stop_all(children)


def _sums(client: Client, db: str) -> tuple[int, int]:
    """(views, removed) summed over ``campaign_totals``; (-1, -1) while it cannot be read."""
    try:
        views, removed = client.execute(f"SELECT sum(views), sum(removed) FROM {db}.campaign_totals")[0]
        return views or 0, removed or 0
    except Exception:
        return -1, -1


def _engagement_state(settings: Settings, result: BenchResult, progress: Progress) -> None:
    """Phase 4's second half, on the running end-to-end pipeline: two growing snapshots for
    each of the first half of the videos, then removals of every twentieth video, each waited
    for (bounded) until ``campaign_totals`` shows exactly the expected views and removed; the
    changelog bytes they added are divided by the snapshots and removals kept."""
    client = connect(settings)
    db = settings.clickhouse.database
    videos = range(result.events // 2)
    before = _changelog_bytes(settings)
    started = time.monotonic()
    for snapshot in (0, 1):
        _produce(settings, _stats_payloads(videos, snapshot), progress, f"stats snapshot {snapshot + 1}",
                 topic=settings.stats_topic)
    want_views = sum(2000 + i for i in videos)
    while _sums(client, db)[0] != want_views:
        if time.monotonic() - started > max(300.0, len(videos) / 100):
            result.notes.append(f"stats: campaign_totals views {_sums(client, db)[0]:,} never reached {want_views:,}")
            return
        time.sleep(0.05)
    result.stats_snapshots = 2 * len(videos)
    result.stats_eps = result.stats_snapshots / (time.monotonic() - started)
    after_stats = _changelog_bytes(settings)
    result.state_changelog_bytes_per_snapshot = (after_stats - before) / max(1, result.stats_snapshots)
    removed = range(0, result.events, 20)
    _produce(settings, _removal_payloads(removed), progress, "removals", topic=settings.status_topic)
    started = time.monotonic()
    while _sums(client, db)[1] != len(removed):
        if time.monotonic() - started > 300:
            result.notes.append(f"removals: campaign_totals removed {_sums(client, db)[1]:,} never reached "
                                f"{len(removed):,}")
            return
        time.sleep(0.05)
    result.removals = len(removed)
    result.state_changelog_bytes_per_removal = (_changelog_bytes(settings) - after_stats) / max(1, len(removed))


def _freshness(settings: Settings, tags: list[str], load_eps: float, probes: int, progress: Progress) -> list[float]:
    client = connect(settings)
    db = settings.clickhouse.database
    stop = threading.Event()

    def background() -> None:
        producer = make_producer(settings, client_id="forgood-bench-load")
        i, started = 0, time.monotonic()
        while not stop.is_set():
            due = int(load_eps * (time.monotonic() - started)) - i
            for key, value in _payloads(max(0, due), tags, offset=50_000_000 + i):
                producer.send(settings.video_topic, key=key, value=value)
            i += max(0, due)
            time.sleep(0.01)
        producer.close()

    loader = threading.Thread(target=background, daemon=True)
    loader.start()
    probe_producer = make_producer(settings, client_id="forgood-bench-probe")
    # probe campaign: the last tag's campaign only receives probes during this phase
    latencies = []
    task = progress.add_task("freshness probes", total=probes)
    try:
        time.sleep(2)
        for p in range(probes):
            before = client.execute(f"SELECT videos FROM {db}.campaign_totals WHERE campaign_id = 'bench-probe'")
            before = before[0][0] if before else 0
            key, value = _payloads(1, ["BenchProbe"], offset=90_000_000 + p)[0]
            sent = time.monotonic()
            probe_producer.send(settings.video_topic, key=key, value=value)
            probe_producer.flush()
            while time.monotonic() - sent < 60:
                rows = client.execute(f"SELECT videos FROM {db}.campaign_totals WHERE campaign_id = 'bench-probe'")
                if rows and rows[0][0] > before:
                    latencies.append(time.monotonic() - sent)
                    break
                time.sleep(0.01)
            progress.update(task, completed=p + 1)
            time.sleep(0.2)
    finally:
        stop.set()
        loader.join()
        probe_producer.close()
    return latencies


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_bench(base: Settings, *, events: int, probes: int, partitions: int, scale_out: bool,
              campaigns_file: Path, json_path: Path | None) -> BenchResult:
    """Run every phase; returns the figures (and writes them to ``json_path``)."""
    stack.up(base)
    state_root = (base.state_dir / "bench").resolve()
    result = BenchResult(events=events, partitions=partitions)
    campaigns = load_campaign_file(campaigns_file)
    probe = load_campaign_file(campaigns_file)[0].model_copy(update={"id": "bench-probe", "name": "probe",
                                                                       "hashtags": ("benchprobe",),
                                                                       "donation_cap": None, "goal_videos": None})
    campaigns = (*campaigns, probe)
    tags = [c.hashtags[0] for c in campaigns if c.id != "bench-probe"]
    children: list[Child] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        # 1. raw ceiling
        raw = namespace(base, "r", state_root, partitions)
        ensure_topics(raw)
        payloads = _payloads(events, tags)
        result.produce_eps = events / _produce(raw, payloads, progress, "producing for the raw ceiling")
        result.raw_ceiling_eps = events / asyncio.run(_raw_consume(raw, events))
        result.faust_floor_eps = _faust_floor(raw, events)
        result.faust_floor_three_topics_eps = _faust_floor(raw, events, topics=raw.source_topics)
        # 2. end to end, one worker
        try:
            eps, counted, settings, children = _end_to_end(base, result, campaigns, tags, state_root, 1, progress)
            result.end_to_end_eps, result.end_to_end_counted = eps, counted
            result.ratio_end_to_end_to_raw = eps / result.raw_ceiling_eps if result.raw_ceiling_eps else 0.0
            result.state_changelog_bytes_per_video = _changelog_bytes(settings) / max(1, counted)
            _engagement_state(settings, result, progress)
            # 3. freshness at half the measured rate
            result.freshness_load_eps = round(eps / 2, 1)
            latencies = _freshness(settings, tags, eps / 2, probes, progress)
            result.freshness_probes = len(latencies)
            result.freshness_p50_s = round(_quantile(latencies, 0.50), 3)
            result.freshness_p95_s = round(_quantile(latencies, 0.95), 3)
            result.freshness_p99_s = round(_quantile(latencies, 0.99), 3)
        finally:
            stop_all(children)
        # 6. the sink alone on per-video rows
        _sink_video_rows(base, result, state_root, events, progress)
        # 5. scale-out
        if scale_out:
            try:
                eps, counted, _, children = _end_to_end(base, result, campaigns, tags, state_root, 2, progress)
                result.scale_out_workers, result.scale_out_eps, result.scale_out_counted = 2, eps, counted
            finally:
                stop_all(children)
    if json_path:
        json_path.write_text(json.dumps(asdict(result), indent=2))
    return result


def print_result(result: BenchResult) -> None:
    table = Table(title=f"forgood bench — {result.events:,} events, {result.partitions} partitions")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("end to end / raw ceiling (headline)", f"{result.ratio_end_to_end_to_raw:.1%}"),
        ("raw ceiling: aiokafka getmany + orjson", f"{result.raw_ceiling_eps:,.0f} events/s"),
        ("Faust floor: a do-nothing agent, take_events", f"{result.faust_floor_eps:,.0f} events/s"),
        ("  the same agent subscribed to the three source topics",
         f"{result.faust_floor_three_topics_eps:,.0f} events/s"),
        ("producer (kafka-python)", f"{result.produce_eps:,.0f} events/s"),
        ("end to end: produced → visible in ClickHouse", f"{result.end_to_end_eps:,.0f} events/s"),
        ("  counted / produced", f"{result.end_to_end_counted:,} / {result.events:,}"),
        ("  pipeline alone, after the producer finished",
         f"{result.end_to_end_after_producer_eps:,.0f} events/s" if result.end_to_end_after_producer_eps else "—"),
        (f"freshness at {result.freshness_load_eps:,.0f} events/s: p50 / p95 / p99",
         f"{result.freshness_p50_s:.2f} / {result.freshness_p95_s:.2f} / {result.freshness_p99_s:.2f} s"),
        ("  probes", str(result.freshness_probes)),
        ("state: changelog bytes per video", f"{result.state_changelog_bytes_per_video:,.0f} B"),
        ("state: worker memory growth per video", f"{result.state_memory_bytes_per_video:,.0f} B"),
        (f"stats: {result.stats_snapshots:,} snapshots kept, produced → visible",
         f"{result.stats_eps:,.0f} snapshots/s" if result.stats_snapshots else "—"),
        ("state: changelog bytes per stats snapshot kept",
         f"{result.state_changelog_bytes_per_snapshot:,.0f} B" if result.stats_snapshots else "—"),
        (f"state: changelog bytes per removal ({result.removals:,})",
         f"{result.state_changelog_bytes_per_removal:,.0f} B" if result.removals else "—"),
    ]
    rows += [
        ("audit trail: produced → a campaign_videos row per video",
         f"{result.audit_trail_eps:,.0f} events/s" if result.audit_trail_eps else "—"),
        (f"sink alone: rows written to campaign_videos ({result.sink_video_rows:,})",
         f"{result.sink_video_rows_per_s:,.0f} rows/s" if result.sink_video_rows else "—"),
    ]
    if result.scale_out_workers:
        rows += [(f"scale-out: {result.scale_out_workers} workers, end to end",
                  f"{result.scale_out_eps:,.0f} events/s"),
                 ("  counted / produced", f"{result.scale_out_counted:,} / {result.events:,}")]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
