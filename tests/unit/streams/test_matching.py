"""streams.matching and streams.counting together, in memory: the three source topics joined per
video and counted, against the independent oracle of tests.support.removals_oracle.

The worker is driven the way Faust drives it, minus Faust: source records (JSON, as producers
send them) in batches that mix the three topics; each batch's ledger writes and sends are
buffered and only become durable at the "commit" after the batch; a crash keeps any subset of
the buffered writes and sends (a flush cut short), throws the worker away, and a new worker
rebuilds both stages from the ledgers and re-reads everything after the last commit. The
published rows (highest version per key, as ClickHouse and the API read them) must end
exactly at the oracle's numbers.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoBatch, CampaignVideoRows
from forgood.domain.settings import Settings
from forgood.domain.video_state import VideoState, reason_code
from streams.counting import CountingWorker, DictLedger
from streams.ports import Consumed, Delivery
from streams.registry import CampaignRegistry
from streams.tally import TallyBook
from tests.support.removals_oracle import TOTAL_FIELDS, Created, Event, Stats, Status, audit_oracle, oracle
from tests.support.removals_strategies import BASE, CAMPAIGNS, event_lists

NOW = BASE + timedelta(days=1)
PARTITIONS = 2
SETTINGS = Settings(max_future_skew_s=300, pending_ttl_s=3600)


@dataclass
class Clock:
    at: float = NOW.timestamp()

    def now(self):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self.at, UTC)

    def time(self) -> float:
        return self.at


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def topic_of(event: Event) -> str:
    if isinstance(event, Created):
        return SETTINGS.video_topic
    return SETTINGS.status_topic if isinstance(event, Status) else SETTINGS.stats_topic


def source_log(events: list[Event]) -> list[Record]:
    """The events as the broker would hold them: per topic and partition (by video), offsets in order."""
    next_offset: dict[tuple[str, int], int] = defaultdict(int)
    out = []
    for event in events:
        tp = (topic_of(event), sum(event.video_id.encode()) % PARTITIONS)
        out.append(Record(tp[0], tp[1], next_offset[tp], event.video_id.encode(), event.to_json()))
        next_offset[tp] += 1
    return out


@dataclass
class Buffered:
    """A ledger and outputs whose writes only become durable at :meth:`commit` (Faust flushes
    the producer before committing offsets), or partly at :meth:`crash`."""

    videos: dict[str, bytes] = field(default_factory=dict)
    ledger: dict[str, bytes] = field(default_factory=dict)
    forwarded: list[CampaignVideoBatch] = field(default_factory=list)  # the campaign-videos log
    rows: list[CampaignTotal | CampaignMinute] = field(default_factory=list)
    audit: list[CampaignVideoRows] = field(default_factory=list)  # the video-rows log
    dead: list[tuple[str, bytes]] = field(default_factory=list)
    pending: list[tuple[str, object]] = field(default_factory=list)

    def commit(self) -> None:
        for kind, item in self.pending:
            self._apply(kind, item)
        self.pending.clear()

    def crash(self, rng: random.Random) -> None:
        for kind, item in self.pending:
            if rng.random() < 0.5:
                self._apply(kind, item)
        self.pending.clear()

    def _apply(self, kind: str, item) -> None:
        if kind == "videos":
            self.videos[item[0]] = item[1]
        elif kind == "ledger":
            self.ledger[item[0]] = item[1]
        elif kind == "forward":
            self.forwarded.append(item)
        elif kind == "row":
            self.rows.append(item)
        elif kind == "audit":
            self.audit.append(item)
        else:
            self.dead.append(item)


class TableView:
    """One of :class:`Buffered`'s tables as a :class:`~streams.ports.Ledger`."""

    def __init__(self, buffered: Buffered, name: str) -> None:
        self.buffered, self.name = buffered, name

    def append(self, handle, key: str, entry: bytes) -> None:
        self.buffered.pending.append((self.name, (key, entry)))

    def entries(self):
        durable = dict(getattr(self.buffered, self.name))
        durable.update(item for kind, item in self.buffered.pending if kind == self.name)  # read your writes
        return list(durable.items())


class Outputs:
    def __init__(self, buffered: Buffered) -> None:
        self.buffered = buffered

    def forward(self, batch):
        self.buffered.pending.append(("forward", batch))

    def total(self, row):
        self.buffered.pending.append(("row", row))

    def minute(self, row):
        self.buffered.pending.append(("row", row))

    def video_rows(self, rows):
        self.buffered.pending.append(("audit", rows))

    def dead_letter(self, record, headers):
        self.buffered.pending.append(("dead", (record.topic, dict(headers)["forgood-reason"])))


def campaigns() -> list[Campaign]:
    return [Campaign.model_validate(c.yaml_entry()) for c in CAMPAIGNS]


def new_worker(buffered: Buffered, clock: Clock) -> CountingWorker:
    registry = CampaignRegistry(SETTINGS)
    for offset, c in enumerate(campaigns()):
        registry.apply(c.id.encode(), c.to_json(), offset)
    return CountingWorker(
        SETTINGS, registry, TallyBook(), TableView(buffered, "ledger"), Outputs(buffered), clock,
        videos=TableView(buffered, "videos"),
    )


def published(rows) -> tuple[dict, dict]:
    """What ClickHouse's views show: the highest version per key (minutes never published read 0, 0)."""
    totals: dict[str, CampaignTotal] = {}
    minutes: dict[tuple[str, int], CampaignMinute] = {}
    for row in rows:
        if isinstance(row, CampaignTotal):
            if row.campaign_id not in totals or row.version >= totals[row.campaign_id].version:
                totals[row.campaign_id] = row
        else:
            key = (row.campaign_id, row.minute)
            if key not in minutes or row.version >= minutes[key].version:
                minutes[key] = row
    return (
        {cid: {f: getattr(t, f) for f in TOTAL_FIELDS} for cid, t in totals.items()},
        {key: (m.videos, m.donation_minor) for key, m in minutes.items()},
    )


def audit_trail(logged: list[CampaignVideoRows]) -> dict[tuple[str, str], tuple]:
    """What the ``campaign_videos`` view shows: per (campaign, video) the row of the highest
    version. Rows of one version must agree (the view could pick any), unless a higher version
    exists (a record re-processed after a crash may know more than its first processing did)."""
    by_key: dict[tuple[str, str], dict[int, set]] = defaultdict(lambda: defaultdict(set))
    for record in logged:
        for row in record.expand():
            assert row.minute == row.created_at - row.created_at % 60
            by_key[(row.campaign_id, row.video_id)][row.version].add(
                (row.creator_id, row.created_at, row.status, row.status_at, row.reason, row.views, row.likes,
                 row.shares, row.comments))
    trail = {}
    for key, versions in by_key.items():
        newest = versions[max(versions)]
        assert len(newest) == 1, f"{key}: different rows at the newest version: {newest}"
        trail[key] = next(iter(newest))
    return trail


def run_pipeline(log: list[Record], rng: random.Random, crash_rate: float) -> Buffered:
    """Both stages over ``log`` until everything is committed, crashing now and then."""
    buffered = Buffered()
    clock = Clock()
    worker = new_worker(buffered, clock)
    source_done = count_done = 0  # committed positions in the source log and the campaign-videos log
    for _ in range(10_000):
        if source_done == len(log) and count_done == len(buffered.forwarded):
            break
        if rng.random() < crash_rate:
            buffered.crash(rng)
            worker = new_worker(buffered, clock)
            continue
        if source_done < len(log) and (count_done == len(buffered.forwarded) or rng.random() < 0.5):
            size = rng.randint(1, 5)
            batch = log[source_done: source_done + size]
            worker.match_batch([Consumed(r, None) for r in batch])
            if rng.random() < crash_rate:
                continue  # crashes before the commit (next loop turn may crash it)
            buffered.commit()
            source_done += len(batch)
        else:
            size = rng.randint(1, 3)
            batch = buffered.forwarded[count_done: count_done + size]
            worker.count_batch([Delivery(b.to_bytes(), count_done + i, None) for i, b in enumerate(batch)])
            if rng.random() < crash_rate:
                continue
            buffered.commit()
            count_done += len(batch)
        clock.at += rng.choice([0.0, 0.5])
    else:
        raise AssertionError("the pipeline did not finish")
    worker.republish_owned(list(worker.registry.campaigns.values()))
    buffered.commit()
    return buffered


def expected(events: list[Event]) -> tuple[dict, dict]:
    totals, minutes = oracle(events, CAMPAIGNS)
    # A campaign that never matched a video is published (by the timer) as all zeros.
    return totals, minutes


@settings(max_examples=150, deadline=None)
@given(events=event_lists(), seed=st.integers(0, 2**32 - 1), crash_rate=st.sampled_from([0.0, 0.1, 0.3]))
def test_any_interleaving_duplication_and_crashes_publish_the_oracles_numbers(events, seed, crash_rate):
    rng = random.Random(seed)
    delivered = events + rng.choices(events, k=len(events) // 3) if events else []
    rng.shuffle(delivered)
    buffered = run_pipeline(source_log(delivered), rng, crash_rate)
    totals, minutes = published(buffered.rows)
    want_totals, want_minutes = expected(events)
    assert totals == want_totals
    assert minutes == want_minutes
    assert audit_trail(buffered.audit) == audit_oracle(events, CAMPAIGNS)
    assert buffered.dead == []


# --- the matching stage, case by case ---------------------------------------------------------


def created(n: int, tags=("Plain",), second: int = 5, creator: str | None = None) -> Created:
    return Created(f"c{n}", f"v{n}", creator or f"creator-{n}", tags, BASE + timedelta(seconds=second))


def status(n: int, what: str, second: int = 0) -> Status:
    return Status(f"s{n}.{what}.{second}", f"v{n}", what, "moderation" if what == "removed" else "appeal",
                  BASE + timedelta(seconds=second))


def stats(n: int, views: int, second: int = 0) -> Stats:
    return Stats(f"t{n}.{views}", f"v{n}", views, 1, 2, 3, BASE + timedelta(seconds=second))


class Simple:
    """One worker with plain dict ledgers and a list of outputs; no crashes."""

    def __init__(self, ttl_s: float = 3600) -> None:
        self.clock = Clock()
        self.buffered = Buffered()
        self.settings = SETTINGS.model_copy(update={"pending_ttl_s": ttl_s})
        registry = CampaignRegistry(self.settings)
        for offset, c in enumerate(campaigns()):
            registry.apply(c.id.encode(), c.to_json(), offset)
        self.videos = DictLedger()
        self.worker = CountingWorker(
            self.settings, registry, TallyBook(), DictLedger(), Outputs(self.buffered), self.clock, videos=self.videos
        )
        self.offsets: dict[str, int] = defaultdict(int)

    def feed(self, *events: Event | Record) -> list[CampaignVideoBatch]:
        records = []
        for e in events:
            if isinstance(e, Record):
                records.append(e)
                continue
            topic = topic_of(e)
            records.append(Record(topic, 0, self.offsets[topic], e.video_id.encode(), e.to_json()))
            self.offsets[topic] += 1
        before = len(self.buffered.forwarded)
        self.worker.match_batch([Consumed(r, None) for r in records])
        self.buffered.commit()
        return self.buffered.forwarded[before:]


def states(batches: list[CampaignVideoBatch]) -> list[tuple[str, str, VideoState]]:
    return [(b.campaign_id, v.video_id, v.state) for b in batches for v in b.videos]


MODERATED = VideoState.of_status(int(BASE.timestamp() * 1e6), True, reason_code("moderation"))


def test_a_status_before_its_video_is_held_then_forwarded_with_the_video():
    s = Simple()
    assert s.feed(status(1, "removed")) == []
    assert len(s.worker.matching.book.pending) == 1
    forwarded = states(s.feed(created(1)))
    assert forwarded == [("plain", "v1", MODERATED)]
    assert len(s.worker.matching.book.pending) == 0


def test_every_status_or_stats_event_of_a_matched_video_is_forwarded_even_when_it_changes_nothing():
    s = Simple()
    s.feed(created(1))
    first = states(s.feed(stats(1, 10, second=2)))
    again = states(s.feed(stats(1, 10, second=2)))  # a re-delivery
    older = states(s.feed(stats(1, 5, second=1)))  # an older snapshot: the owner's merge ignores it
    assert first == again
    assert [s.views for _, _, s in first + older] == [10, 5]


def test_a_created_event_re_processed_after_a_crash_forwards_the_events_it_took_again():
    """The videos ledger kept the created video but its forward (with the held removal) was
    lost: the re-processed created event must carry the removal again, also after a rebuild."""
    s = Simple()
    s.feed(status(1, "removed"))
    first = states(s.feed(created(1)))
    s.worker.on_rebalance()
    again = states(s.feed(created(1)))
    assert first == again == [("plain", "v1", MODERATED)]


def test_a_video_that_matched_nothing_is_known_so_its_events_neither_wait_nor_forward():
    s = Simple()
    assert s.feed(created(1, tags=("other",))) == []
    assert s.feed(status(1, "removed"), stats(1, 4)) == []
    assert len(s.worker.matching.book.pending) == 0


def test_a_re_delivered_created_event_keeps_its_first_match():
    s = Simple()
    s.feed(created(1))
    s.worker.registry.apply(b"plain", None, 99)  # the campaign is deleted meanwhile
    forwarded = states(s.feed(created(1)))
    assert [c for c, _, _ in forwarded] == ["plain"]


def test_held_events_past_the_ttl_are_dropped_and_not_applied_even_before_the_timer():
    s = Simple(ttl_s=10)
    s.feed(status(1, "removed"))
    s.clock.at += 10  # exactly the TTL: too late
    forwarded = states(s.feed(created(1)))
    assert forwarded == [("plain", "v1", VideoState())]
    s.feed(status(2, "removed"))
    s.clock.at += 9.5
    assert s.worker.expire_pending() == 0
    s.clock.at += 0.5
    assert s.worker.expire_pending() == 1
    assert states(s.feed(created(2))) == [("plain", "v2", VideoState())]


def test_a_rebuild_decides_held_events_as_the_live_worker_did():
    s = Simple(ttl_s=10)
    s.feed(status(1, "removed"), status(2, "removed"), status(3, "removed"))
    s.clock.at += 5
    s.feed(created(1))  # in time: applied
    s.clock.at += 6
    s.feed(created(2))  # 11 s after its status: dropped
    live = dict(s.worker.matching.book.held)
    s.worker.on_rebalance()
    s.worker.matching.rebuild_if_needed()
    book = s.worker.matching.book
    assert dict(book.held) == live
    assert live["v1"].removed and "v2" not in live  # v2 took nothing: its removal came too early
    assert len(book.pending) == 0  # v3's status arrived 11 s ago: dropped by the rebuild too
    # a ledger is append-only and keyed by source partition and offset
    assert all(key.startswith("0\x1f") for key in s.videos.data)


def test_bad_status_and_stats_events_go_to_their_own_dead_letter_topic_with_a_reason():
    s = Simple()
    bad_status = orjson.dumps({"event_id": "x", "video_id": "v1", "status": "hidden", "reason": "other",
                               "at": "2026-11-02T10:00:00Z"})
    bad_stats = orjson.dumps({"event_id": "y", "video_id": "v1", "views": -1, "likes": 0, "shares": 0,
                              "comments": 0, "observed_at": "2026-11-02T10:00:00Z"})
    s.feed(Record(SETTINGS.status_topic, 0, 0, b"v1", bad_status), Record(SETTINGS.stats_topic, 0, 0, b"v1", bad_stats),
           Record(SETTINGS.stats_topic, 0, 1, b"v1", b"\xff"))
    assert s.buffered.dead == [
        (SETTINGS.status_topic, b"unknown_status"), (SETTINGS.stats_topic, b"negative_count"),
        (SETTINGS.stats_topic, b"not_utf8"),
    ]


def test_a_created_event_replayed_after_a_campaign_change_counts_for_it_and_keeps_earlier_ones():
    """The campaign-change rule, as before status and stats: a video that matched nothing, or
    only one campaign, and is replayed after a campaign was added counts for the new campaign
    too; later status events reach every campaign it counts for, also after a rebuild."""
    s = Simple()
    assert s.feed(created(1, tags=("Later",))) == []
    assert [c for c, _, _ in states(s.feed(created(2, tags=("Plain", "Later"))))] == ["plain"]
    late = Campaign.model_validate({
        "id": "later", "name": "later", "nonprofit": "X", "hashtags": ["Later"], "donation_per_video": "1.00",
        "currency": "USD", "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"})
    s.worker.registry.apply(b"later", late.to_json(), 50)
    replayed = states(s.feed(created(1, tags=("Later",)), created(2, tags=("Plain", "Later"))))
    assert sorted((c, v) for c, v, _ in replayed) == [("later", "v1"), ("later", "v2"), ("plain", "v2")]
    for rebuilt in (False, True):
        if rebuilt:
            s.worker.on_rebalance()
        removal = states(s.feed(status(2, "removed", second=int(rebuilt))))
        assert sorted(c for c, _, _ in removal) == ["later", "plain"]
