"""streams.counting.CountingWorker driven directly: no Faust, no broker, a frozen clock.

The collaborators are the in-memory ones a reader can check by eye: a dict ledger, a list of
sent records and a clock stopped at ``NOW``. The Faust shell (streams.app) is tested apart in
test_agents.py; here the counting logic is checked against its rules, including that two
owners with different clocks publish the same versions for the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch, CampaignVideoRows
from forgood.domain.settings import Settings
from streams.counting import VIDEOS_PER_RECORD, Consumed, CountingWorker, Delivery
from streams.registry import CampaignRegistry
from streams.tally import TallyBook
from streams.versions import row_version

NOW = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)
AT = datetime(2026, 11, 24, 19, 0, 30, tzinfo=UTC)
MINUTE = int(AT.timestamp()) // 60 * 60


@dataclass
class Clock:
    at: datetime = NOW

    def now(self) -> datetime:
        return self.at

    def time(self) -> float:
        return self.at.timestamp()


@dataclass
class Record:
    value: bytes | None
    offset: int
    key: bytes | None = b"k"
    topic: str = "video-created"
    partition: int = 0


@dataclass
class DictLedger:
    entries_by_key: dict[str, bytes] = field(default_factory=dict)
    writers: list[object] = field(default_factory=list)

    def append(self, handle: object, key: str, entry: bytes) -> None:
        assert key not in self.entries_by_key, "a ledger entry must never be overwritten"
        self.entries_by_key[key] = entry
        self.writers.append(handle)

    def entries(self):
        return list(self.entries_by_key.items())


@dataclass
class Sent:
    forwarded: list[CampaignVideoBatch] = field(default_factory=list)
    totals: list[CampaignTotal] = field(default_factory=list)
    minutes: list[CampaignMinute] = field(default_factory=list)
    audit: list[CampaignVideoRows] = field(default_factory=list)
    dead: list[tuple[Record, dict[str, bytes]]] = field(default_factory=list)

    def forward(self, batch):
        self.forwarded.append(batch)

    def total(self, row):
        self.totals.append(row)

    def minute(self, row):
        self.minutes.append(row)

    def video_rows(self, rows):
        self.audit.append(rows)

    def dead_letter(self, record, headers):
        self.dead.append((record, dict(headers)))


def campaign(cid: str, tag: str, price: str = "1.00", cap: str | None = None) -> Campaign:
    return Campaign.model_validate({
        "id": cid, "name": cid, "nonprofit": "N", "hashtags": [tag], "donation_per_video": price,
        "donation_cap": cap, "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z",
    })


CAMPAIGNS = (campaign("dance", "Dance"), campaign("capped", "Cap", price="2.00", cap="5.00"))


def make_worker(tmp_path, clock: Clock | None = None, ledger: DictLedger | None = None, campaigns=CAMPAIGNS):
    settings = Settings(state_dir=tmp_path, max_future_skew_s=300)
    registry = CampaignRegistry(settings)
    for offset, c in enumerate(campaigns):
        registry.apply(c.id.encode(), c.to_json(), offset)
    sent = Sent()
    worker = CountingWorker(settings, registry, TallyBook(), ledger or DictLedger(), sent, clock or Clock())
    return worker, sent


def video(n: int, tags=("#Dance",), creator: str = "c1", at: datetime = AT) -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "video_id": f"v{n}", "creator_id": creator,
                         "hashtags": list(tags), "created_at": at.isoformat()})


def consumed(*records: Record) -> list[Consumed[str]]:
    return [Consumed(r, f"event@{r.offset}") for r in records]


def delivery(offset: int, campaign_id: str, *videos: tuple[str, str]) -> Delivery[str]:
    batch = CampaignVideoBatch(campaign_id, tuple(CampaignVideo(campaign_id, v, c, MINUTE) for v, c in videos))
    return Delivery(batch.to_bytes(), offset, f"event@{offset}")


# --- match_batch ---------------------------------------------------------------------------


def test_match_batch_forwards_one_record_per_campaign_and_dead_letters_with_the_clock(tmp_path):
    worker, sent = make_worker(tmp_path)
    future = NOW + timedelta(minutes=10)
    worker.match_batch(consumed(
        Record(video(1), 0), Record(video(2, ("#cap", "#dance")), 1), Record(b"{oops", 2, key=b"bad"),
        Record(video(3, ("#fyp",)), 3), Record(video(4, at=future), 4),
    ))
    assert [(b.campaign_id, [v.video_id for v in b.videos]) for b in sent.forwarded] == [
        ("dance", ["v1", "v2"]), ("capped", ["v2"])]
    assert [(r.offset, h["forgood-reason"]) for r, h in sent.dead] == [(2, b"not_json"), (4, b"future_timestamp")]
    assert {h["forgood-failed-at"] for _, h in sent.dead} == {str(int(NOW.timestamp())).encode()}


def test_a_campaign_with_many_videos_in_one_batch_is_forwarded_in_chunks(tmp_path):
    worker, sent = make_worker(tmp_path)
    worker.match_batch(consumed(*(Record(video(n), n) for n in range(VIDEOS_PER_RECORD + 1))))
    assert [len(b.videos) for b in sent.forwarded] == [VIDEOS_PER_RECORD, 1]


# --- count_batch, publish ------------------------------------------------------------------


def test_count_batch_counts_once_writes_one_entry_per_new_record_and_publishes(tmp_path):
    worker, sent = make_worker(tmp_path)
    ledger = worker.ledger
    worker.count_batch([delivery(0, "dance", ("v1", "a"), ("v2", "b")), delivery(1, "dance", ("v1", "a"))])
    worker.count_batch([delivery(0, "dance", ("v1", "a"), ("v2", "b"))])  # redelivered: nothing new
    assert list(ledger.entries_by_key) == ["dance\x1f0.0"]
    assert ledger.writers == ["event@0"]  # each write names the delivery it was made for
    last = sent.totals[-1]
    assert (last.videos, last.creators, last.donation_minor) == (2, 2, 200)
    assert {t.version for t in sent.totals} == {row_version(0, 0)}  # nothing new, no newer version
    assert last.updated_at == int(NOW.timestamp())


def test_cap_is_exact_and_unknown_campaigns_are_counted_but_never_published(tmp_path):
    worker, sent = make_worker(tmp_path)
    worker.count_batch([delivery(5, "capped", ("a", "1"), ("b", "2"), ("c", "3")), delivery(6, "ghost", ("g", "1"))])
    assert [(t.campaign_id, t.videos, t.donation_minor) for t in sent.totals] == [("capped", 3, 500)]
    assert worker.book.tallies["ghost"].videos == 1


# --- rebalance, republish, versions --------------------------------------------------------


def test_after_a_rebalance_the_next_batch_rebuilds_and_republishes_the_same_rows(tmp_path):
    worker, sent = make_worker(tmp_path)
    worker.count_batch([delivery(0, "dance", ("v1", "a")), delivery(3, "dance", ("v2", "b"))])
    before = sent.totals[-1]
    worker.on_rebalance()
    assert not worker.book.valid
    worker.count_batch([delivery(3, "dance", ("v2", "b"))])  # a redelivery after the rebalance
    after = sent.totals[-1]
    assert (after.videos, after.creators, after.version) == (before.videos, before.creators, before.version)
    assert after.version == row_version(3, 0)


def test_republish_owned_publishes_unpublished_and_repriced_campaigns_only(tmp_path):
    worker, sent = make_worker(tmp_path)
    dance, capped = (worker.registry.campaigns[c] for c in ("dance", "capped"))
    worker.republish_owned([dance, capped])
    assert sorted(t.campaign_id for t in sent.totals) == ["capped", "dance"]
    worker.republish_owned([dance, capped])
    assert len(sent.totals) == 2, "nothing changed: nothing republished"
    repriced = campaign("dance", "Dance", price="3.00")
    worker.registry.apply(b"dance", repriced.to_json(), 7)
    worker.republish_owned(list(worker.registry.campaigns.values()))
    assert [(t.campaign_id, t.version) for t in sent.totals[2:]] == [("dance", row_version(-1, 7))]
    assert sent.totals[2].version > sent.totals[0].version


def test_a_new_owner_with_a_clock_minutes_behind_publishes_versions_that_win(tmp_path):
    """The old owner (clock right) counts; the new owner (clock 10 minutes behind) rebuilds from
    the same ledger and counts one more record: ClickHouse's rule (highest version wins) must
    end at the new owner's numbers."""
    ledger = DictLedger()
    old, old_sent = make_worker(tmp_path, Clock(NOW), ledger)
    old.count_batch([delivery(0, "dance", ("v1", "a")), delivery(1, "dance", ("v2", "a"))])
    new, new_sent = make_worker(tmp_path, Clock(NOW - timedelta(minutes=10)), ledger)
    new.republish_owned([new.registry.campaigns["dance"]])  # after the rebalance: same rows
    new.count_batch([delivery(2, "dance", ("v3", "b"))])
    rows = old_sent.totals + new_sent.totals
    winner = max(rows, key=lambda r: r.version)
    assert (winner.videos, winner.creators, winner.donation_minor) == (3, 2, 300)
    assert new_sent.totals[0].version == old_sent.totals[-1].version  # same inputs, same version
    assert winner.updated_at < old_sent.totals[-1].updated_at  # its clock is behind, yet it wins


@pytest.mark.parametrize("offset", [-1, 5])
def test_a_campaign_read_without_an_offset_still_publishes(tmp_path, offset):
    worker, sent = make_worker(tmp_path)
    worker.registry.offsets.pop("dance")
    worker.count_batch([delivery(offset if offset >= 0 else 0, "dance", ("v1", "a"))])
    assert sent.totals[-1].version == row_version(max(offset, 0), -1)
