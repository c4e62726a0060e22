"""The Faust agents of streams.app, run in memory with ``agent.test_context()``.

No broker and no ClickHouse: events are put straight into the agents, and everything the
agents would produce (forwarded campaign videos, dead letters, totals, minute rows, table
changelogs) is captured by replacing the app's ``producer.send_soon`` with a recorder.

Two things are pinned so the tests do not depend on the machine:

* the worker's clock (:class:`streams.counting.Clock`) is frozen at ``NOW``, so
  the example campaigns' fixed windows and the future-timestamp rule give the same answer
  whatever the date is;
* Prometheus counters are process-global, so every metric check is a delta.
"""

from __future__ import annotations

import asyncio
import logging
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from faust.agents.agent import AgentTestWrapper
from prometheus_client import REGISTRY

import streams.app
import streams.registry
from forgood.domain.campaigns import Campaign, load_campaign_file
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.settings import Settings
from streams.app import build_app
from streams.tally import SEP, LedgerEntry, campaign_of
from streams.versions import row_version
from tests.support.processes import REPO

pytestmark = pytest.mark.timeout(60)

EXAMPLE = REPO / "campaigns.example.yaml"
CAMPAIGNS = {c.id: c for c in load_campaign_file(EXAMPLE)}

RND = "red-nose-day-2026"  # #RedNoseDay, $2.00 (200), cap $1,000,000.00, 2026-11-01..2027-04-01
MOV = "movember-2026"  # #Movember #MoBro, $1.00, 2026-11-01..2027-01-01
DANCE = "dance-for-change"  # #DanceForChange, $1.00 (100), no cap, 2026-11-01..2027-03-01
MUSIC = "music-shaped-me"

NOW = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)  # the frozen wall clock
AT = "2026-11-24T19:00:30Z"  # inside every example campaign's window
M1 = 1_795_546_800  # 2026-11-24T19:00:00Z, the event-time minute of AT
M2 = M1 + 60
SKEW_S = 300

WAIT_S = 5.0
POLL_S = 0.02


class FrozenClock:
    """The worker's clock, stopped at ``NOW``."""

    def now(self) -> datetime:
        return NOW

    def time(self) -> float:
        return NOW.timestamp()


# --- helpers -----------------------------------------------------------------------------


def metric(name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (the other labels summed over)."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


class Metrics:
    """Snapshot of counters; ``delta(name, **labels)`` is the change since the snapshot."""

    def __init__(self) -> None:
        self._start: dict[tuple, float] = {}

    def _key(self, name: str, labels: dict) -> tuple:
        return (name, tuple(sorted(labels.items())))

    def watch(self, name: str, **labels: str) -> None:
        self._start[self._key(name, labels)] = metric(name, **labels)

    def delta(self, name: str, **labels: str) -> float:
        key = self._key(name, labels)
        assert key in self._start, f"metric {key} was not watched"
        return metric(name, **labels) - self._start[key]


WATCHED = [
    "forgood_events_consumed_total",
    "forgood_events_valid_total",
    "forgood_events_unmatched_total",
    "forgood_campaign_videos_matched_total",
    "forgood_campaign_videos_counted_total",
    "forgood_campaign_videos_duplicate_total",
]
REASONS = ("not_json", "not_utf8", "not_object", "missing_field", "empty_field", "no_hashtags",
           "bad_timestamp", "no_timezone", "future_timestamp")


def snapshot() -> Metrics:
    m = Metrics()
    for name in WATCHED:
        m.watch(name)
    for reason in REASONS:
        m.watch("forgood_events_dead_lettered_total", reason=reason)
    for kind in ("total", "minute"):
        m.watch("forgood_aggregates_published_total", kind=kind)
    return m


@dataclass
class Sent:
    """One record an agent handed to the producer."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: dict[str, bytes]


@dataclass
class Harness:
    p: streams.app.StreamApp
    loop: asyncio.AbstractEventLoop
    sent: list[Sent] = field(default_factory=list)

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def to(self, topic: str, since: int = 0) -> list[Sent]:
        return [s for s in self.sent[since:] if s.topic == topic]

    @property
    def s(self) -> Settings:
        return self.p.settings

    def forwarded_batches(self, since: int = 0) -> list[CampaignVideoBatch]:
        out = []
        for s in self.to(self.s.campaign_videos_topic, since):
            batch = CampaignVideoBatch.from_bytes(s.value)
            assert s.key == batch.campaign_id.encode(), "campaign videos must be keyed by campaign"
            assert batch.videos, "no empty batches"
            out.append(batch)
        return out

    def forwarded(self, since: int = 0) -> list[CampaignVideo]:
        return [item for batch in self.forwarded_batches(since) for item in batch.videos]

    def ledger(self) -> tuple[dict[str, int], set[str]]:
        """``campaign␟video -> minute`` and ``campaign␟creator`` of every ledger entry."""
        seen, creators = {}, set()
        for key, raw in self.p.ledger.items():
            entry = LedgerEntry.from_bytes(raw)
            seen.update({f"{campaign_of(key)}{SEP}{v}": m for v, _, m in entry.videos})
            creators.update(f"{campaign_of(key)}{SEP}{c}" for _, c, _ in entry.videos)
        return seen, creators

    def totals(self, since: int = 0) -> list[CampaignTotal]:
        out = []
        for s in self.to(self.s.totals_topic, since):
            row = CampaignTotal.from_bytes(s.value)
            assert s.key == row.campaign_id.encode()
            out.append(row)
        return out

    def minutes(self, since: int = 0) -> list[CampaignMinute]:
        out = []
        for s in self.to(self.s.minutes_topic, since):
            row = CampaignMinute.from_bytes(s.value)
            assert s.key == f"{row.campaign_id}\x1f{row.minute}".encode()
            out.append(row)
        return out

    def changelog(self, table: str) -> list[tuple[str, object, int | None]]:
        topic = f"{self.s.app_id}-{table}-changelog"
        decode = LedgerEntry.from_bytes if table == "ledger" else orjson.loads
        return [(orjson.loads(s.key), decode(s.value), s.partition) for s in self.to(topic)]


async def eventually(predicate, what: str, timeout: float = WAIT_S) -> None:
    """Poll ``predicate`` every 20 ms until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(POLL_S)


def event(video: str = "v1", creator: str = "u1", tags=("#RedNoseDay",), at: str = AT, **extra) -> bytes:
    body = {"event_id": f"e-{video}", "video_id": video, "creator_id": creator,
            "hashtags": list(tags), "created_at": at}
    body.update(extra)
    return orjson.dumps(body)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def campaign_json(cid: str, tags, *, price: str = "1.00", cap: str | None = None,
                  starts: str = "2026-11-01T00:00:00Z", ends: str = "2027-03-01T00:00:00Z",
                  currency: str = "USD") -> bytes:
    return Campaign.model_validate({
        "id": cid, "name": cid, "nonprofit": "X", "hashtags": list(tags),
        "donation_per_video": price, "donation_cap": cap, "currency": currency,
        "starts_at": starts, "ends_at": ends,
    }).to_json()


def last_by(rows, key):
    out = {}
    for row in rows:
        out[key(row)] = row
    return out


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def make_harness(tmp_path, monkeypatch):
    """Build a StreamApp (fresh faust.App, own state_dir, frozen clock) on a fresh event loop.

    ``match_videos`` reads three topics, and Faust's test wrapper names the topic of a record
    put into a multi-topic agent ``<internal>``: records put there are given the wrapper's
    ``put_topic`` (set it for status and stats events), ``video-created`` by default."""
    loops: list[asyncio.AbstractEventLoop] = []
    original_to_message = AgentTestWrapper.to_message

    def to_message(self, key, value, **kwargs):
        message = original_to_message(self, key, value, **kwargs)
        if message.topic == "<internal>":
            message.topic = getattr(self, "put_topic", None) or self.app.conf.forgood_video_topic
        return message

    monkeypatch.setattr(AgentTestWrapper, "to_message", to_message)

    def make(**overrides) -> Harness:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loops.append(loop)
        options = dict(batch_window_s=0.02, batch_size=2000, max_future_skew_s=SKEW_S,
                       partitions=8, state_dir=tmp_path / f"state{len(loops)}")
        options.update(overrides)

        async def build():
            return build_app(Settings(**options), clock=FrozenClock())

        p = loop.run_until_complete(build())
        p.app.conf.forgood_video_topic = p.settings.video_topic
        h = Harness(p=p, loop=loop)

        def record(fut) -> None:  # replaces Producer.send_soon: keep, never send
            m = fut.message
            headers = m.headers
            headers = dict(headers.items() if hasattr(headers, "items") else headers or ())
            h.sent.append(Sent(m.channel.get_topic_name(), m.key, m.value, m.partition, headers))

        p.app.producer.send_soon = record
        for offset, c in enumerate(CAMPAIGNS.values()):
            p.registry.apply(c.id.encode(), c.to_json(), offset)
        p.registry.ready.set()
        return h

    yield make
    for loop in loops:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def h(make_harness) -> Harness:
    return make_harness()


# --- 1. match_videos ---------------------------------------------------------------------


def test_event_with_two_campaign_hashtags_is_forwarded_to_both(h):
    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            # Mixed case, with and without '#', plus a second tag of the same campaign
            # (MoBro) and a tag of no campaign.
            tags = ["#rEdNoSeDaY", "MOVEMBER", "#mobro", "#fyp"]
            await agent.put(event("v1", "u1", tags), key=b"v1")
            await eventually(lambda: len(h.forwarded()) >= 2, "two forwarded videos")
            await eventually(lambda: m.delta("forgood_events_valid_total") == 1, "batch end")

    h.run(scenario())
    assert sorted(h.forwarded(), key=lambda c: c.campaign_id) == [
        CampaignVideo(MOV, "v1", "u1", M1),
        CampaignVideo(RND, "v1", "u1", M1),
    ]
    assert m.delta("forgood_campaign_videos_matched_total") == 2
    assert m.delta("forgood_events_consumed_total") == 1
    assert m.delta("forgood_events_unmatched_total") == 0
    assert h.to(h.s.dlq_topic) == []


def test_event_with_no_campaign_hashtag_is_unmatched(h):
    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            # "DanceForChang" is one letter short; "Red Nose Day" is not the same tag.
            await agent.put(event("v1", tags=["#fyp", "#DanceForChang", "Red Nose Day"]), key=b"v1")
            await eventually(lambda: m.delta("forgood_events_unmatched_total") == 1, "unmatched event")

    h.run(scenario())
    assert m.delta("forgood_events_valid_total") == 1
    assert m.delta("forgood_campaign_videos_matched_total") == 0
    assert h.forwarded() == []
    assert h.to(h.s.dlq_topic) == []


def test_campaign_window_is_start_inclusive_end_exclusive(h):
    # movember-2026: [2026-11-01T00:00Z, 2027-01-01T00:00Z); dance-for-change until 2027-03-01.
    cases = {
        "before-start": ("2026-10-31T23:59:59Z", []),
        "at-start": ("2026-11-01T00:00:00Z", [MOV]),
        "just-before-end": ("2026-12-31T23:59:59.999999Z", [MOV]),
        "end-in-other-zone": ("2027-01-01T00:30:00+01:00", [MOV]),  # 2026-12-31T23:30Z
        "at-end": ("2027-01-01T00:00:00Z", []),
        "after-end": ("2027-01-15T10:00:00Z", []),
    }
    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            for video, (at, _) in cases.items():
                await agent.put(event(video, tags=["#Movember"], at=at), key=video.encode())
            # After its window Movember no longer counts, but another campaign on the same
            # video still does.
            await agent.put(event("mixed", tags=["#Movember", "#DanceForChange"], at="2027-01-15T10:00:00Z"))
            await eventually(lambda: m.delta("forgood_events_valid_total") == len(cases) + 1, "all events")

    h.run(scenario())
    by_video: dict[str, list[str]] = {}
    for item in h.forwarded():
        by_video.setdefault(item.video_id, []).append(item.campaign_id)
    expected = {video: ids for video, (_, ids) in cases.items() if ids}
    expected["mixed"] = [DANCE]
    assert by_video == expected
    assert m.delta("forgood_events_unmatched_total") == 3
    assert m.delta("forgood_campaign_videos_matched_total") == 4
    minutes = {item.video_id: item.minute for item in h.forwarded()}
    assert minutes["at-start"] == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    assert minutes["end-in-other-zone"] == int(datetime(2026, 12, 31, 23, 30, tzinfo=UTC).timestamp())


INVALID = [
    (b"this is not json", "not_json"),
    (b"\xff\xfe{}", "not_utf8"),
    (b"[1, 2]", "not_object"),
    (orjson.dumps({"event_id": "e", "video_id": "x1", "hashtags": ["#RedNoseDay"], "created_at": AT}),
     "missing_field"),
    (event("", tags=["#RedNoseDay"]), "empty_field"),
    (event("x2", tags=[]), "no_hashtags"),
    (event("x3", at="yesterday"), "bad_timestamp"),
    (event("x4", at="2026-11-24T19:00:30"), "no_timezone"),
    (event("x5", at=iso(NOW + timedelta(seconds=SKEW_S + 1))), "future_timestamp"),
]


def test_invalid_events_are_dead_lettered_and_the_agent_keeps_going(h):
    m = snapshot()
    # Exactly at now + skew is still acceptable (the rule is "later than").
    edge = event("edge", "u2", tags=["#DanceForChange"], at=iso(NOW + timedelta(seconds=SKEW_S)))
    last = event("last", "u3", tags=["#RedNoseDay"])

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            for i, (raw, _) in enumerate(INVALID):
                # put() re-raises the agent's crash, if any: the agent must not crash.
                await agent.put(raw, key=f"k{i}".encode(), partition=i % 8)
            await agent.put(edge, key=b"edge", partition=1)
            await agent.put(last, key=b"last", partition=2)
            await eventually(lambda: m.delta("forgood_events_valid_total") == 2, "the valid events")

    h.run(scenario())
    for _, reason in INVALID:
        assert m.delta("forgood_events_dead_lettered_total", reason=reason) == 1, reason
    assert m.delta("forgood_events_consumed_total") == len(INVALID) + 2
    assert m.delta("forgood_campaign_videos_matched_total") == 2
    assert m.delta("forgood_events_unmatched_total") == 0
    edge_minute = (int((NOW + timedelta(seconds=SKEW_S)).timestamp()) // 60) * 60
    assert h.forwarded() == [CampaignVideo(DANCE, "edge", "u2", edge_minute), CampaignVideo(RND, "last", "u3", M1)]

    dead = h.to(h.s.dlq_topic)
    assert len(dead) == len(INVALID)
    now_s = int(NOW.timestamp())  # the worker's (frozen) clock
    for i, (d, (raw, reason)) in enumerate(zip(dead, INVALID, strict=True)):
        assert d.value == raw  # the original bytes, untouched
        assert d.key == f"k{i}".encode()
        assert d.headers["forgood-reason"] == reason.encode()
        assert d.headers["forgood-source-topic"] == h.s.video_topic.encode()
        assert d.headers["forgood-source-partition"] == str(i % 8).encode()
        assert d.headers["forgood-source-offset"] == str(i).encode()
        assert d.headers["forgood-message"]
        assert int(d.headers["forgood-failed-at"]) == now_s
        assert set(d.headers) == {"forgood-reason", "forgood-message", "forgood-source-topic",
                                  "forgood-source-partition", "forgood-source-offset", "forgood-failed-at"}


def test_tombstone_on_the_source_topic_is_dead_lettered_as_not_json(h):
    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            await agent.put(None, key=b"gone")
            await agent.put(event("after"), key=b"after")
            await eventually(lambda: m.delta("forgood_events_valid_total") == 1, "the valid event")

    h.run(scenario())
    assert m.delta("forgood_events_dead_lettered_total", reason="not_json") == 1
    [dead] = h.to(h.s.dlq_topic)
    assert (dead.key, dead.value, dead.headers["forgood-reason"]) == (b"gone", None, b"not_json")
    assert h.forwarded() == [CampaignVideo(RND, "after", "u1", M1)]


# --- 2. count_videos ---------------------------------------------------------------------


def put_items(agent, items, partition: int | None = None):
    """Put each item as its own forwarded record (a batch of one)."""
    async def go():
        for item in items:
            batch = CampaignVideoBatch(item.campaign_id, (item,))
            await agent.put(batch.to_bytes(), key=item.campaign_id.encode(), partition=partition)
    return go()


def test_count_videos_counts_once_publishes_totals_and_minutes(h):
    m = snapshot()
    first = [
        CampaignVideo(RND, "v1", "u1", M1),
        CampaignVideo(RND, "v2", "u1", M1),
        CampaignVideo(RND, "v1", "u1", M1),  # duplicate
        CampaignVideo(RND, "v1", "u1", M2),  # redelivered in another minute: still a duplicate
        CampaignVideo(RND, "v3", "u2", M2),
        CampaignVideo(DANCE, "v1", "u1", M1),  # the same video in a second campaign
        CampaignVideo(DANCE, "v1", "u1", M1),  # duplicate
    ]
    marks = {}

    async def scenario():
        async with h.p.count_videos.test_context() as agent:
            await put_items(agent, first)
            await eventually(lambda: m.delta("forgood_campaign_videos_counted_total")
                             + m.delta("forgood_campaign_videos_duplicate_total") == len(first), "first items")

            # A rebalance invalidates the derived counters: the next batch rebuilds them from
            # the tables and republishes the campaign it touches in full (every minute).
            marks["rebuild"] = len(h.sent)
            h.p.book.invalidate()
            await put_items(agent, [CampaignVideo(RND, "v2", "u1", M1)])
            await eventually(lambda: len(h.totals(marks["rebuild"])) == 1, "republish after rebuild")

            # An ordinary batch publishes only the touched campaign and its changed minute.
            marks["incremental"] = len(h.sent)
            await put_items(agent, [CampaignVideo(RND, "v4", "u3", M2)])
            await eventually(lambda: len(h.totals(marks["incremental"])) == 1, "incremental publish")

    h.run(scenario())
    now_s = int(NOW.timestamp())

    # The ledger: the sets the counters derive from.
    seen, creators = h.ledger()
    assert seen == {
        f"{RND}\x1fv1": M1, f"{RND}\x1fv2": M1, f"{RND}\x1fv3": M2, f"{RND}\x1fv4": M2,
        f"{DANCE}\x1fv1": M1,
    }
    assert creators == {f"{RND}\x1fu1", f"{RND}\x1fu2", f"{RND}\x1fu3", f"{DANCE}\x1fu1"}
    assert m.delta("forgood_campaign_videos_counted_total") == 5
    assert m.delta("forgood_campaign_videos_duplicate_total") == 3 + 1

    # After the first phase: the latest rows per campaign / minute hold the exact values.
    phase1 = h.sent[: marks["rebuild"]]
    totals1 = last_by([CampaignTotal.from_bytes(s.value) for s in phase1 if s.topic == h.s.totals_topic],
                      lambda r: r.campaign_id)
    assert {cid: (r.videos, r.creators, r.donation_minor, r.currency) for cid, r in totals1.items()} == {
        RND: (3, 2, 600, "USD"),  # 3 videos x $2.00
        DANCE: (1, 1, 100, "USD"),
    }
    minutes1 = last_by([CampaignMinute.from_bytes(s.value) for s in phase1 if s.topic == h.s.minutes_topic],
                       lambda r: (r.campaign_id, r.minute))
    assert {k: (r.videos, r.donation_minor) for k, r in minutes1.items()} == {
        (RND, M1): (2, 400), (RND, M2): (1, 200), (DANCE, M1): (1, 100),
    }

    # Rebuild: the touched campaign again with every minute, same values and the same version
    # (a version is a function of what was applied: the ledger up to offset 4 of the campaign
    # videos and the campaign record at offset 0). Untouched campaigns are rebuilt but left to
    # the republish timer.
    rebuilt = h.totals(marks["rebuild"])[:1]
    assert [(r.campaign_id, r.videos, r.creators, r.donation_minor) for r in rebuilt] == [(RND, 3, 2, 600)]
    assert rebuilt[0].version == totals1[RND].version == row_version(4, h.p.registry.offsets[RND])
    assert rebuilt[0].updated_at == now_s
    rebuilt_minutes = [r for r in h.minutes(marks["rebuild"]) if r.version == rebuilt[0].version]
    assert sorted((r.campaign_id, r.minute, r.videos, r.donation_minor) for r in rebuilt_minutes) == [
        (RND, M1, 2, 400), (RND, M2, 1, 200)]
    dance = h.p.book.tallies[DANCE]
    assert (dance.videos, dance.creators, dict(dance.aggregate.minute_videos)) == (1, 1, {M1: 1})
    assert dance.published_terms is None  # the timer's job: never published since the rebuild

    # Incremental: only red-nose-day, only minute M2.
    inc_totals = h.totals(marks["incremental"])
    inc_minutes = h.minutes(marks["incremental"])
    assert [(r.campaign_id, r.videos, r.creators, r.donation_minor) for r in inc_totals] == [(RND, 4, 3, 800)]
    assert [(r.campaign_id, r.minute, r.videos, r.donation_minor, r.version) for r in inc_minutes] == [
        (RND, M2, 2, 400, inc_totals[0].version)]

    # The published-rows counter agrees with what was handed to the producer.
    assert m.delta("forgood_aggregates_published_total", kind="total") == len(h.totals())
    assert m.delta("forgood_aggregates_published_total", kind="minute") == len(h.minutes())


def test_count_videos_applies_the_cap_and_skips_unknown_campaigns(h):
    # $2.00 a video, capped at $5.00: the third video's minute gets only the $1.00 left.
    h.p.registry.apply(b"tiny-cap", campaign_json("tiny-cap", ["TinyCap"], price="2.00", cap="5.00"), 101)
    m = snapshot()
    items = [
        CampaignVideo("tiny-cap", "a", "u1", M1),
        CampaignVideo("tiny-cap", "b", "u2", M2),
        CampaignVideo("tiny-cap", "c", "u3", M2 + 60),
        CampaignVideo("tiny-cap", "d", "u3", M2 + 120),
        CampaignVideo("ghost", "g1", "u1", M1),  # no such campaign: counted, never published
    ]

    async def scenario():
        async with h.p.count_videos.test_context() as agent:
            await put_items(agent, items)
            await eventually(lambda: m.delta("forgood_campaign_videos_counted_total") == len(items), "all items")

    h.run(scenario())
    totals = last_by(h.totals(), lambda r: r.campaign_id)
    assert set(totals) == {"tiny-cap"}
    t = totals["tiny-cap"]
    assert (t.videos, t.creators, t.donation_minor, t.currency) == (4, 3, 500, "USD")
    minutes = last_by(h.minutes(), lambda r: r.minute)
    assert {k: (r.videos, r.donation_minor) for k, r in minutes.items()} == {
        M1: (1, 200), M2: (1, 200), M2 + 60: (1, 100), M2 + 120: (1, 0)}
    assert "ghost\x1fg1" in h.ledger()[0]
    assert h.p.book.tallies["ghost"].videos == 1


def test_ledger_writes_go_to_the_changelog_partition_of_their_own_event(make_harness):
    # One batch of exactly three events from three partitions (batch_size=3, long window):
    # each ledger write must land in its own event's partition, not the batch's last one.
    h = make_harness(batch_size=3, batch_window_s=2.0)
    items = [(CampaignVideo(RND, "p5", "c5", M1), 5), (CampaignVideo(DANCE, "p2", "c2", M1), 2),
             (CampaignVideo(MOV, "p7", "c7", M1), 7)]
    before = metric("forgood_batches_processed_total", agent="count_videos")

    async def scenario():
        async with h.p.count_videos.test_context() as agent:
            for item, partition in items:
                await put_items(agent, [item], partition)
            await eventually(lambda: len(h.totals()) == 3, "the batch's totals")

    h.run(scenario())
    batches = metric("forgood_batches_processed_total", agent="count_videos") - before
    assert batches == 1, "the three events were expected in one batch"
    # One entry per campaign, keyed by the source offset and position of its first new item.
    # (The test context numbers offsets across partitions: 0, 1, 2 in put order.)
    assert sorted(h.changelog("ledger")) == sorted([
        (f"{RND}\x1f0.0", LedgerEntry((("p5", "c5", M1),)), 5),
        (f"{DANCE}\x1f1.0", LedgerEntry((("p2", "c2", M1),)), 2),
        (f"{MOV}\x1f2.0", LedgerEntry((("p7", "c7", M1),)), 7)])


def test_a_batch_is_forwarded_as_one_record_per_campaign(make_harness):
    # Five events in one batch (batch_size=5, long window), three matching RND, three DANCE
    # (one event matches both): exactly one record per campaign, items in event order.
    h = make_harness(batch_size=5, batch_window_s=2.0)
    m = snapshot()
    events = [("a", ["#RedNoseDay"]), ("b", ["#DanceForChange"]), ("c", ["#RedNoseDay", "#DanceForChange"]),
              ("d", ["#fyp"]), ("e", ["#RedNoseDay", "#DanceForChange"])]

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            for video, tags in events:
                await agent.put(event(video, f"u-{video}", tags), key=video.encode())
            await eventually(lambda: m.delta("forgood_events_valid_total") == 5, "the batch")

    h.run(scenario())
    batches = sorted(h.forwarded_batches(), key=lambda b: b.campaign_id)
    assert [(b.campaign_id, [v.video_id for v in b.videos]) for b in batches] == [
        (DANCE, ["b", "c", "e"]), (RND, ["a", "c", "e"])]
    assert all(v.creator_id == f"u-{v.video_id}" and v.minute == M1 for b in batches for v in b.videos)
    assert m.delta("forgood_campaign_videos_matched_total") == 6


def test_multi_video_records_count_once_and_a_redelivery_writes_no_entry(h):
    m = snapshot()
    first = CampaignVideoBatch(RND, (CampaignVideo(RND, "v1", "u1", M1), CampaignVideo(RND, "v2", "u2", M1),
                                     CampaignVideo(RND, "v1", "u1", M2)))  # a duplicate inside the record
    second = CampaignVideoBatch(RND, (CampaignVideo(RND, "v2", "u2", M1), CampaignVideo(RND, "v3", "u1", M2)))

    async def scenario():
        async with h.p.count_videos.test_context() as agent:
            for batch in (first, second, first, second):  # then both redelivered
                await agent.put(batch.to_bytes(), key=RND.encode())
            await eventually(lambda: m.delta("forgood_campaign_videos_counted_total")
                             + m.delta("forgood_campaign_videos_duplicate_total") == 10, "all items")

    h.run(scenario())
    assert m.delta("forgood_campaign_videos_counted_total") == 3
    assert m.delta("forgood_campaign_videos_duplicate_total") == 7
    # Two entries: the first record's (from its position 0) and the second's new item (position 1).
    assert sorted(h.changelog("ledger"), key=lambda c: c[0]) == [
        (f"{RND}\x1f0.0", LedgerEntry((("v1", "u1", M1), ("v2", "u2", M1))), 0),
        (f"{RND}\x1f1.1", LedgerEntry((("v3", "u1", M2),)), 0),
    ]
    total = last_by(h.totals(), lambda r: r.campaign_id)[RND]
    assert (total.videos, total.creators, total.donation_minor) == (3, 2, 600)


# --- 3. live campaign updates ------------------------------------------------------------


def test_campaign_updates_change_matching_without_rebuilding(h):
    m = snapshot()
    app, agent_obj = h.p.app, h.p.match_videos
    revision = h.p.registry.revision

    async def one(agent, raw: bytes, n: int):
        await agent.put(raw)
        await eventually(lambda: m.delta("forgood_events_valid_total") == n, f"event {n}")

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            await one(agent, event("k1", tags=["#BeKind"]), 1)
            assert m.delta("forgood_events_unmatched_total") == 1

            # A new campaign, and a second campaign sharing #RedNoseDay.
            h.p.registry.apply(b"be-kind", campaign_json("be-kind", ["BeKind"]), 102)
            h.p.registry.apply(b"rnd-extra", campaign_json("rnd-extra", ["rednoseday"],
                                                            starts="2026-11-24T00:00:00Z"), 103)
            await one(agent, event("k2", tags=["#bekind"]), 2)
            await one(agent, event("r1", tags=["#RedNoseDay"]), 3)

            # Red Nose Day's window now ends before AT: no longer matched; rnd-extra still is.
            changed = CAMPAIGNS[RND].model_copy(update={"ends_at": datetime(2026, 11, 20, tzinfo=UTC)})
            h.p.registry.apply(RND.encode(), changed.to_json(), 104)
            await one(agent, event("r2", tags=["#RedNoseDay"]), 4)

            # ... and moved back, it matches again.
            h.p.registry.apply(RND.encode(), CAMPAIGNS[RND].to_json(), 105)
            await one(agent, event("r3", tags=["#RedNoseDay"]), 5)

    h.run(scenario())
    assert [(c.video_id, c.campaign_id) for c in h.forwarded()] == [
        ("k2", "be-kind"),
        ("r1", RND), ("r1", "rnd-extra"),
        ("r2", "rnd-extra"),
        ("r3", RND), ("r3", "rnd-extra"),
    ]
    assert m.delta("forgood_events_unmatched_total") == 1
    assert m.delta("forgood_campaign_videos_matched_total") == 6
    assert h.p.registry.revision == revision + 4
    assert h.p.app is app and h.p.match_videos is agent_obj


# --- 4. registry.apply: tombstones and invalid records -----------------------------------


def test_tombstone_removes_the_campaign(h):
    registry = h.p.registry
    revision = registry.revision
    registry.apply(MOV.encode(), None, 106)
    assert set(registry.campaigns) == set(CAMPAIGNS) - {MOV}
    assert registry.revision == revision + 1
    created = datetime(2026, 11, 24, 19, tzinfo=UTC)
    assert registry.index.match(["#Movember", "#MoBro"], created) == []
    assert [c.id for c in registry.index.match(["#RedNoseDay"], created)] == [RND]
    # A tombstone for an unknown campaign or without a key changes nothing.
    registry.apply(b"never-existed", None, 107)
    registry.apply(None, CAMPAIGNS[MOV].to_json(), 108)
    assert set(registry.campaigns) == set(CAMPAIGNS) - {MOV}

    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            await agent.put(event("m1", tags=["#Movember"]))
            await agent.put(event("m2", tags=["#Movember", "#RedNoseDay"]))
            await eventually(lambda: m.delta("forgood_events_valid_total") == 2, "both events")

    h.run(scenario())
    assert m.delta("forgood_events_unmatched_total") == 1
    assert h.forwarded() == [CampaignVideo(RND, "m2", "u1", M1)]


@pytest.mark.parametrize("value", [
    b"{not json",
    b"null",
    orjson.dumps({"id": RND}),  # missing fields
    # Valid JSON, invalid campaign: the window ends before it starts.
    CAMPAIGNS[RND].to_json().replace(b'"ends_at":"2027-04-01T00:00:00Z"', b'"ends_at":"2026-01-01T00:00:00Z"'),
    # Valid JSON, invalid campaign: a float amount.
    CAMPAIGNS[RND].to_json().replace(b'"donation_per_video":"2.00"', b'"donation_per_video":2.0'),
], ids=["not-json", "null", "missing-fields", "ends-before-start", "float-amount"])
def test_invalid_campaign_record_is_ignored_and_logged(h, caplog, value):
    registry = h.p.registry
    before = dict(registry.campaigns)
    index, revision = registry.index, registry.revision
    with caplog.at_level(logging.ERROR, logger="streams.registry"):
        registry.apply(RND.encode(), value, 109)
        registry.apply(b"brand-new", value, 110)
    assert registry.campaigns == before
    assert registry.campaigns[RND] is before[RND]
    assert registry.index is index and registry.revision == revision
    messages = [r.getMessage() for r in caplog.records if r.name == "streams.registry"]
    assert len(messages) == 2
    assert messages[0].startswith(f"ignoring invalid campaign record {RND}: ")
    assert messages[1].startswith("ignoring invalid campaign record brand-new: ")

    m = snapshot()

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            await agent.put(event("v1", tags=["#RedNoseDay"]))
            await eventually(lambda: m.delta("forgood_events_valid_total") == 1, "the event")

    h.run(scenario())
    assert h.forwarded() == [CampaignVideo(RND, "v1", "u1", M1)]


# --- registry.run over a fake consumer (no broker) ---------------------------------------


class FakeConsumer:
    """The slice of AIOKafkaConsumer that CampaignRegistry.run uses; one partition."""

    def __init__(self, records) -> None:
        self.records = records
        self.pos = 0

    async def start(self):
        pass

    async def stop(self):
        pass

    def partitions_for_topic(self, topic):
        return {0}

    def assign(self, tps):
        self.tps = tps

    async def seek_to_beginning(self, *tps):
        self.pos = 0

    async def end_offsets(self, tps):
        return {tp: len(self.records) for tp in tps}

    async def getmany(self, timeout_ms=0):
        if self.pos < len(self.records):
            batch, self.pos = self.records[self.pos:], len(self.records)
            return {self.tps[0]: batch}
        await asyncio.sleep(0.01)
        return {}

    def highwater(self, tp):
        return len(self.records)

    async def position(self, tp):
        return self.pos


def run_registry(monkeypatch, tmp_path, records, timeout: float):
    recs = [types.SimpleNamespace(key=k, value=v, offset=i) for i, (k, v) in enumerate(records)]
    monkeypatch.setattr(streams.registry, "AIOKafkaConsumer", lambda **kw: FakeConsumer(recs))

    async def go():
        registry = streams.registry.CampaignRegistry(Settings(state_dir=tmp_path))
        task = asyncio.create_task(registry.run())
        try:
            await asyncio.wait_for(registry.ready.wait(), timeout)
            return registry
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return asyncio.run(go())


def test_registry_run_applies_the_topic_and_becomes_ready(monkeypatch, tmp_path):
    registry = run_registry(monkeypatch, tmp_path, [
        (RND.encode(), CAMPAIGNS[RND].to_json()),
        (MOV.encode(), CAMPAIGNS[MOV].to_json()),
        (b"bad", b"{not json"),
        (MOV.encode(), None),
    ], timeout=2.0)
    assert set(registry.campaigns) == {RND}
    assert registry.revision == 3
    assert registry.offsets == {RND: 0}  # the record each campaign was read from (tombstones drop it)


def test_record_with_non_utf8_key_is_ignored(h):
    registry = h.p.registry
    before = dict(registry.campaigns)
    registry.apply(b"\xffbad", campaign_json("be-kind", ["BeKind"]), 111)
    assert registry.campaigns == before


def test_registry_survives_a_non_utf8_key(monkeypatch, tmp_path):
    registry = run_registry(monkeypatch, tmp_path, [
        (b"\xffbad", CAMPAIGNS[DANCE].to_json()),
        (RND.encode(), CAMPAIGNS[RND].to_json()),
    ], timeout=1.0)
    assert set(registry.campaigns) == {RND}


def test_registry_keys_campaigns_by_their_id(h):
    registry = h.p.registry
    registry.apply(b"alias", campaign_json("be-kind", ["BeKind"]), 112)
    assert all(key == c.id for key, c in registry.campaigns.items())


# --- status and stats through match_videos (issue 13) ---------------------------------------


def test_match_videos_joins_status_and_stats_from_their_own_topics(h):
    """A removal put on video-status before its video is held (a videos-table entry in the
    event's partition), then forwarded with the created video; a snapshot on video-stats is
    forwarded as it comes; a bad status goes to video-status.dlq with its reason."""
    m = snapshot()
    m.watch("forgood_events_consumed_total", topic=h.s.status_topic)
    m.watch("forgood_events_dead_lettered_total", reason="unknown_status", topic=h.s.status_topic)
    removal = orjson.dumps({"event_id": "s1", "video_id": "v1", "status": "removed", "reason": "fraud",
                            "at": "2026-11-24T19:05:00Z"})
    snapshot_ = orjson.dumps({"event_id": "t1", "video_id": "v1", "views": 81_000_000, "likes": 1, "shares": 2,
                              "comments": 3, "observed_at": "2026-11-24T20:00:00Z"})
    bad = orjson.dumps({"event_id": "s2", "video_id": "v2", "status": "hidden", "reason": "fraud",
                        "at": "2026-11-24T19:05:00Z"})

    async def scenario():
        async with h.p.match_videos.test_context() as agent:
            agent.put_topic = h.s.status_topic
            await agent.put(removal, key=b"v1", partition=3)
            await agent.put(bad, key=b"v2", partition=1)
            await eventually(lambda: m.delta("forgood_events_consumed_total", topic=h.s.status_topic) == 2,
                             "the status events")
            agent.put_topic = None
            await agent.put(event("v1", "u1", ["#RedNoseDay"]), key=b"v1", partition=3)
            await eventually(lambda: len(h.forwarded()) == 1, "the created video")
            agent.put_topic = h.s.stats_topic
            await agent.put(snapshot_, key=b"v1", partition=3)
            await eventually(lambda: len(h.forwarded()) == 2, "the snapshot")

    h.run(scenario())
    created, stats = h.forwarded()
    assert (created.campaign_id, created.video_id, created.creator_id, created.minute) == (RND, "v1", "u1", M1)
    assert created.state.removed and created.state.status_at is not None
    assert (stats.video_id, stats.state.views, stats.state.removed) == ("v1", 81_000_000, False)
    held = [(key, value, partition) for key, value, partition in h.changelog("videos") if value[3]]
    assert len(held) == 1 and held[0][2] == 3, "the held removal is written to its own event's partition"
    dead = h.to(h.s.status_dlq_topic)
    assert [(d.value, d.headers["forgood-reason"]) for d in dead] == [(bad, b"unknown_status")]
    assert m.delta("forgood_events_dead_lettered_total", reason="unknown_status", topic=h.s.status_topic) == 1
    assert h.to(h.s.dlq_topic) == []
