"""streams.tally: exact, idempotent counting, the ledger it appends to, and the rows it publishes."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideo, CampaignVideoBatch
from forgood.domain.rules import minute_donations, total_donation
from forgood.domain.varints import put_varint, zigzag
from forgood.domain.video_state import VideoState
from streams.campaign_aggregate import MatchedVideo, recompute
from streams.tally import SEP, LedgerEntry, LedgerFormatError, TallyBook, campaign_of, ledger_key, offset_of
from streams.versions import BASE, VersionOverflow, row_version

M = 60
T0 = 1_793_000_040  # a minute boundary (epoch seconds)
assert T0 % 60 == 0


def make_campaign(
    cid: str = "dance", *, price: str = "1.00", cap: str | None = None, currency: str = "USD"
) -> Campaign:
    return Campaign.model_validate(
        {
            "id": cid,
            "name": cid,
            "nonprofit": "X",
            "hashtags": [cid.replace("-", "_")],
            "donation_per_video": price,
            "currency": currency,
            "starts_at": "2026-11-01T00:00:00Z",
            "ends_at": "2027-03-01T00:00:00Z",
            "donation_cap": cap,
        }
    )


def cv(campaign: str, video: str, creator: str, minute: int = T0) -> CampaignVideo:
    return CampaignVideo(campaign, video, creator, minute)


def counters(book: TallyBook) -> dict[str, tuple[int, int, dict[int, int]]]:
    """The derived counters of every campaign that has any."""
    out = {}
    for cid, tally in book.tallies.items():
        minutes = {m: n for m, n in tally.aggregate.minute_videos.items() if n}
        if tally.videos or tally.creators or minutes:
            out[cid] = (tally.videos, tally.creators, minutes)
    return out


def fresh() -> tuple[TallyBook, dict[str, bytes]]:
    book = TallyBook()
    book.rebuild([])
    return book, {}


def record(book: TallyBook, ledger: dict[str, bytes], *items: CampaignVideo, offset: int | None = None) -> int:
    """Record ``items`` (one campaign) as one forwarded batch, appending its entry the way the
    agent does; returns how many of its videos were new."""
    batch = CampaignVideoBatch(items[0].campaign_id, items)
    offset = len(ledger) if offset is None else offset
    done = book.record(batch, offset)
    if done.entry is not None:
        key = ledger_key(batch.campaign_id, offset, done.first_new)
        assert key not in ledger, "a ledger entry must never be overwritten"
        ledger[key] = done.entry.to_bytes()
    return len(done.new_videos)


def seen_in(ledger: dict[str, bytes]) -> dict[str, int]:
    """``campaign␟video -> minute`` of every video in the ledger."""
    return {
        f"{campaign_of(k)}{SEP}{video_id}": minute
        for k, raw in ledger.items()
        for video_id, _, minute in LedgerEntry.from_bytes(raw).videos
    }


def creators_in(ledger: dict[str, bytes]) -> set[str]:
    return {
        f"{campaign_of(k)}{SEP}{creator_id}"
        for k, raw in ledger.items()
        for _, creator_id, _ in LedgerEntry.from_bytes(raw).videos
    }


# --- keys ----------------------------------------------------------------------------------


def test_ledger_key_and_campaign_of():
    key = ledger_key("dance", 42, 7)
    assert key == "dance\x1f42.7"
    assert campaign_of(key) == "dance"
    assert offset_of(key) == 42
    assert offset_of(ledger_key("a\x1fb", 9, 0)) == 9


# --- versions ------------------------------------------------------------------------------


def test_versions_order_by_applied_offset_then_campaign_record_and_beat_wall_clock_versions():
    assert row_version(-1, -1) == BASE > 2**61 + 1_800_000_000 * 10**9  # > any time_ns() until 2116
    assert row_version(5, 0) < row_version(5, 1) < row_version(6, 0) < row_version(6, 1)
    assert row_version(10**11, 10**6) < 2**64  # fits ClickHouse's UInt64
    for bad in ((2**40, 0), (0, 2**24), (-2, 0)):
        try:
            row_version(*bad)
        except VersionOverflow:
            continue
        raise AssertionError(f"{bad} must not give a version")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3)), min_size=1, max_size=25), st.data())
def test_any_owner_that_applied_the_same_ledger_publishes_the_same_version(items, data):
    """The version is a function of what was applied, not of who applied it or when: a second
    book rebuilt from the ledger (a new owner after a rebalance) publishes the same rows with
    the same version as the first."""
    book, ledger = fresh()
    for i, (video, creator) in enumerate(items):
        record(book, ledger, cv("dance", f"v{video}", f"c{creator}", T0 + video * M), offset=i)
    camp = make_campaign("dance", price="1.00", cap=data.draw(st.sampled_from([None, "3.00"])))
    first, first_rows = book.take_unpublished(camp, 7, now_s=100)
    other = TallyBook()
    other.rebuild(data.draw(st.permutations(list(ledger.items()))))
    second, second_rows = other.take_unpublished(camp, 7, now_s=999_999)  # another host's clock
    assert (second.version, second.videos, second.creators, second.donation_minor) == (
        first.version, first.videos, first.creators, first.donation_minor)
    assert first.version == row_version(max(offset_of(k) for k in ledger), 7)
    assert minute_rows(second_rows) == minute_rows(first_rows)
    assert {r.version for r in second_rows} <= {first.version}


REMOVED = VideoState.of_status(1_000, True)
RESTORED = VideoState.of_status(2_000, False)


def test_ledger_entry_round_trips_groups_by_minute_and_stays_small():
    entry = LedgerEntry((("v1", "alice", T0), ("v2", "bob", T0 + M), ("v3", "alice", T0)),
                        (("v3", REMOVED),))
    raw = entry.to_bytes()
    decoded = LedgerEntry.from_bytes(raw)
    assert sorted(decoded.videos) == sorted(entry.videos)
    assert decoded.states == entry.states
    # format byte, 2 groups, each: minute (5 B), count, then per video 2 length bytes, the ids
    # and the second of the minute (1 B)
    assert raw[:3] == b"\x03\x02" + bytes([zigzag(T0) & 0x7F | 0x80])
    assert len(raw) == 1 + 1 + 2 * (5 + 1) + 3 * 3 + len("v1alicev2bobv3alice") + 1 + (1 + 2) + len(REMOVED.to_bytes())
    # a kept stats snapshot of a bench-sized id costs the id and its state: under 40 bytes
    snapshot = LedgerEntry((), (("bench-123456", VideoState.of_stats(1_764_669_600_000_000, 2123, 212, 21, 42)),))
    assert len(snapshot.to_bytes()) - len(LedgerEntry(()).to_bytes()) <= 30


def test_a_videos_second_within_its_minute_is_kept_and_format_2_entries_read_as_the_minutes_start():
    entry = LedgerEntry((("v1", "alice", T0 + 59), ("v3", "carol", T0), ("v2", "bob", T0 + M + 1)))
    assert T0 % 60 == 0 and LedgerEntry.from_bytes(entry.to_bytes()) == entry
    # the same entry as forgood wrote it before issue 14: no second after each creator
    old = bytes([0x02, 2, *varint(zigzag(T0)), 2, 2, *b"v1", 5, *b"alice", 2, *b"v3", 5, *b"carol",
                 *varint(zigzag(T0 + M)), 1, 2, *b"v2", 3, *b"bob", 0])
    assert LedgerEntry.from_bytes(old) == LedgerEntry((("v1", "alice", T0), ("v3", "carol", T0), ("v2", "bob", T0 + M)))
    with pytest.raises(LedgerFormatError, match="second 60"):
        LedgerEntry.from_bytes(bytes([0x03, 1, *varint(zigzag(T0)), 1, 2, *b"v1", 1, *b"a", 60, 0]))


def varint(value: int) -> bytes:
    out = bytearray()
    put_varint(out, value)
    return bytes(out)


@pytest.mark.parametrize("raw", [b"", b"\x02\x01", b"\x02\x00\x01\x05ab", b"\x02\x00\x00extra", b"\x09",
                                 b"\x03\x01\x00\x01\x01a\x01b"])
def test_unreadable_entries_raise_a_ledger_format_error(raw):
    with pytest.raises(LedgerFormatError):
        LedgerEntry.from_bytes(raw)


def test_an_entry_of_forgood_0_1_is_refused_with_a_clear_error():
    old = b'[[[%d,["v1"]]],["alice"]]' % T0  # 0.1 kept no creator per video: removals cannot apply
    with pytest.raises(LedgerFormatError, match="forgood 0.1"):
        LedgerEntry.from_bytes(old)
    with pytest.raises(LedgerFormatError):
        TallyBook().rebuild([(ledger_key("dance", 0, 0), old)])


def test_batch_records_only_changes_and_names_the_first_changing_item():
    book, ledger = fresh()
    first = CampaignVideoBatch("dance", (cv("dance", "v1", "alice"), cv("dance", "v2", "alice")))
    done = book.record(first, 0)
    assert (done.first_new, [v.video_id for v in done.new_videos], done.unchanged) == (0, ["v1", "v2"], 0)
    assert done.entry == LedgerEntry((("v1", "alice", T0), ("v2", "alice", T0)))
    # A redelivered batch with one new item: the entry holds only that item, and its key
    # (the first new position) differs from any earlier entry's.
    again = CampaignVideoBatch("dance", first.videos + (cv("dance", "v3", "bob", T0 + M),))
    done = book.record(again, 1)
    assert (done.first_new, done.entry, done.unchanged) == (2, LedgerEntry((("v3", "bob", T0 + M),)), 2)
    # A known video's new state is an entry of its own, with the merged state.
    removal = CampaignVideoBatch("dance", (CampaignVideo("dance", "v1", "alice", T0, 0.0, REMOVED),))
    done = book.record(removal, 2)
    assert (done.first_new, done.entry, done.new_videos) == (0, LedgerEntry((), (("v1", REMOVED),)), ())
    # Nothing new at all: no entry.
    assert book.record(again, 3).entry is None
    assert book.record(removal, 4).entry is None
    assert counters(book) == {"dance": (2, 2, {T0: 1, T0 + M: 1})}
    assert book.tallies["dance"].aggregate.removed == 1


# --- record --------------------------------------------------------------------------------


def test_record_counts_new_video_and_creator():
    book, ledger = fresh()
    assert record(book, ledger, cv("dance", "v1", "alice", T0 + 5 * M)) == 1
    assert seen_in(ledger) == {"dance\x1fv1": T0 + 5 * M}
    assert creators_in(ledger) == {"dance\x1falice"}
    assert counters(book) == {"dance": (1, 1, {T0 + 5 * M: 1})}


def test_same_video_twice_counts_once():
    book, ledger = fresh()
    assert record(book, ledger, cv("dance", "v1", "alice")) == 1
    assert record(book, ledger, cv("dance", "v1", "alice")) == 0
    assert counters(book) == {"dance": (1, 1, {T0: 1})}
    assert len(seen_in(ledger)) == 1 and len(creators_in(ledger)) == 1 and len(ledger) == 1


def test_redelivery_in_another_minute_keeps_first_minute():
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "alice", T0))
    assert record(book, ledger, cv("dance", "v1", "alice", T0 + M)) == 0
    assert seen_in(ledger) == {"dance\x1fv1": T0}
    assert counters(book) == {"dance": (1, 1, {T0: 1})}


def test_same_video_in_two_campaigns_counts_once_each():
    book, ledger = fresh()
    assert record(book, ledger, cv("dance", "v1", "alice")) == 1
    assert record(book, ledger, cv("music", "v1", "alice")) == 1
    assert record(book, ledger, cv("music", "v1", "alice")) == 0
    assert counters(book) == {"dance": (1, 1, {T0: 1}), "music": (1, 1, {T0: 1})}
    assert set(seen_in(ledger)) == {"dance\x1fv1", "music\x1fv1"}
    assert creators_in(ledger) == {"dance\x1falice", "music\x1falice"}


def test_distinct_creators_and_minute_counts():
    book, ledger = fresh()
    items = [
        cv("dance", "v1", "alice", T0),
        cv("dance", "v2", "alice", T0),
        cv("dance", "v3", "bob", T0 + M),
        cv("dance", "v4", "carol", T0 + 3 * M),
        cv("dance", "v5", "bob", T0 + 3 * M),
        cv("dance", "v6", "bob", T0 + 3 * M),
    ]
    for item in items:
        assert record(book, ledger, item) == 1
    assert counters(book) == {"dance": (6, 3, {T0: 2, T0 + M: 1, T0 + 3 * M: 3})}


SEQUENCE = [
    cv("dance", "v1", "alice", T0),
    cv("dance", "v2", "bob", T0),
    cv("music", "v1", "alice", T0),
    cv("dance", "v3", "alice", T0 + M),
    cv("music", "v4", "carol", T0 + 2 * M),
    cv("dance", "v1", "alice", T0),  # redelivery
]


def test_replaying_the_whole_sequence_changes_nothing():
    book, ledger = fresh()
    first = [record(book, ledger, item) for item in SEQUENCE]
    assert first == [True, True, True, True, True, False]
    after_once = (counters(book), dict(ledger))
    second = [record(book, ledger, item) for item in SEQUENCE]
    assert second == [False] * len(SEQUENCE)
    assert (counters(book), dict(ledger)) == after_once  # nothing new: no entry written
    assert after_once[0] == {
        "dance": (3, 2, {T0: 2, T0 + M: 1}),
        "music": (2, 2, {T0: 1, T0 + 2 * M: 1}),
    }


def test_removal_and_restoration_move_every_counter_and_survive_a_rebuild():
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "alice", T0), cv("dance", "v2", "alice", T0), cv("dance", "v3", "bob", T0))
    assert counters(book) == {"dance": (3, 2, {T0: 3})}
    record(book, ledger, CampaignVideo("dance", "v3", "bob", T0, 0.0, REMOVED))
    assert counters(book) == {"dance": (2, 1, {T0: 2})}  # bob's only video: bob no longer takes part
    record(book, ledger, CampaignVideo("dance", "v3", "bob", T0, 0.0, RESTORED))
    assert counters(book) == {"dance": (3, 2, {T0: 3})}
    # An older removal arriving late changes nothing (the latest status wins).
    assert record(book, ledger, CampaignVideo("dance", "v3", "bob", T0, 0.0, REMOVED)) == 0
    assert counters(book) == {"dance": (3, 2, {T0: 3})}
    for order in (list(ledger.items()), list(reversed(ledger.items()))):
        other = TallyBook()
        other.rebuild(order)
        assert counters(other) == counters(book)


# --- rebuild -------------------------------------------------------------------------------


def test_rebuild_reproduces_counters():
    book, ledger = fresh()
    for item in SEQUENCE:
        record(book, ledger, item)
    other = TallyBook()
    assert other.valid is False
    other.rebuild(ledger.items())
    assert other.valid is True
    assert counters(other) == counters(book)
    # rebuild replaces earlier state, and tolerates a video found in two entries.
    other.rebuild(list(ledger.items()) + list(ledger.items()))
    assert counters(other) == counters(book)
    other.rebuild([])
    assert counters(other) == {}


def test_invalidate_forgets_counters():
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "alice"))
    book.invalidate()
    assert book.valid is False
    assert counters(book) == {}
    assert ledger  # the ledger is untouched


# --- changes -------------------------------------------------------------------------------


def minute_rows(rows: list[CampaignMinute]) -> dict[int, tuple[int, int]]:
    return {row.minute: (row.videos, row.donation_minor) for row in rows}


def test_changes_first_call_then_nothing_then_one_new_minute():
    dance = make_campaign("dance", price="2.00")
    book, ledger = fresh()
    for item in [
        cv("dance", "v1", "alice", T0),
        cv("dance", "v2", "bob", T0),
        cv("dance", "v3", "alice", T0 + M),
    ]:
        record(book, ledger, item)

    total, rows = book.take_unpublished(dance, 1, now_s=1000)
    assert total == CampaignTotal("dance", videos=3, creators=2, donation_minor=600, currency="USD", updated_at=1000,
                                 version=row_version(2, 1))  # 3 entries at offsets 0..2, campaign record 1
    assert minute_rows(rows) == {T0: (2, 400), T0 + M: (1, 200)}
    assert all(r.campaign_id == "dance" and r.version == row_version(2, 1) for r in rows)

    total, rows = book.take_unpublished(dance, 2, now_s=1001)
    assert rows == []
    assert (total.videos, total.creators, total.donation_minor, total.version, total.updated_at) == (
        3, 2, 600, row_version(2, 2), 1001)

    record(book, ledger, cv("dance", "v4", "carol", T0 + 5 * M))
    total, rows = book.take_unpublished(dance, 3, now_s=1002)
    assert rows == [CampaignMinute("dance", T0 + 5 * M, 1, 200, row_version(3, 3))]
    assert (total.videos, total.creators, total.donation_minor) == (4, 3, 800)

    # A duplicate touches nothing.
    record(book, ledger, cv("dance", "v4", "carol", T0 + 5 * M))
    assert book.take_unpublished(dance, 4, now_s=1003)[1] == []

    # A new video in an already published minute re-publishes just that minute.
    record(book, ledger, cv("dance", "v5", "dave", T0))
    total, rows = book.take_unpublished(dance, 5, now_s=1004)
    assert minute_rows(rows) == {T0: (3, 600)}
    assert total.donation_minor == 1000


def test_changes_after_nothing_new_returns_no_rows_even_when_capped():
    dance = make_campaign("dance", price="1.00", cap="0.50")
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "alice"))
    assert len(book.take_unpublished(dance, 1, now_s=0)[1]) == 1
    assert book.take_unpublished(dance, 2, now_s=0)[1] == []


def test_changes_for_unknown_campaign_is_zero():
    book, _ = fresh()
    total, rows = book.take_unpublished(make_campaign("quiet", cap="10.00"), 1, now_s=5)
    assert (total.videos, total.creators, total.donation_minor, total.currency) == (0, 0, 0, "USD")
    assert rows == []


def test_cap_change_republishes_affected_minutes():
    book, ledger = fresh()
    for i, minute in enumerate([T0, T0, T0 + M, T0 + 2 * M, T0 + 2 * M]):
        record(book, ledger, cv("dance", f"v{i}", f"c{i}", minute))
    uncapped = make_campaign("dance", price="1.00")
    total, rows = book.take_unpublished(uncapped, 1, now_s=0)
    assert total.donation_minor == 500
    assert minute_rows(rows) == {T0: (2, 200), T0 + M: (1, 100), T0 + 2 * M: (2, 200)}

    # Cap 2.50: minute T0 keeps 200 (unchanged, not re-sent), T0+M gets 50, T0+2M gets 0.
    capped = make_campaign("dance", price="1.00", cap="2.50")
    total, rows = book.take_unpublished(capped, 2, now_s=0)
    assert total.donation_minor == 250
    assert minute_rows(rows) == {T0 + M: (1, 50), T0 + 2 * M: (2, 0)}
    assert all(r.version == row_version(4, 2) for r in rows)

    # Cap raised to 4.00: the remainder moves to the last minute only.
    raised = make_campaign("dance", price="1.00", cap="4.00")
    total, rows = book.take_unpublished(raised, 3, now_s=0)
    assert total.donation_minor == 400
    assert minute_rows(rows) == {T0 + M: (1, 100), T0 + 2 * M: (2, 100)}

    # Cap removed: back to price per video everywhere.
    total, rows = book.take_unpublished(uncapped, 4, now_s=0)
    assert total.donation_minor == 500
    assert minute_rows(rows) == {T0 + 2 * M: (2, 200)}


def test_price_change_republishes_every_minute():
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "a", T0))
    record(book, ledger, cv("dance", "v2", "b", T0 + M))
    book.take_unpublished(make_campaign("dance", price="1.00"), 1, now_s=0)
    total, rows = book.take_unpublished(make_campaign("dance", price="3.00"), 2, now_s=0)
    assert total.donation_minor == 600
    assert minute_rows(rows) == {T0: (1, 300), T0 + M: (1, 300)}


def test_late_event_under_cap_moves_remainder_between_minutes():
    capped = make_campaign("dance", price="1.00", cap="3.00")
    book, ledger = fresh()
    for i, minute in enumerate([T0 + M, T0 + M, T0 + 2 * M, T0 + 2 * M]):
        record(book, ledger, cv("dance", f"v{i}", f"c{i}", minute))
    total, rows = book.take_unpublished(capped, 1, now_s=0)
    assert total.donation_minor == 300
    assert minute_rows(rows) == {T0 + M: (2, 200), T0 + 2 * M: (2, 100)}
    # A late video in an earlier minute takes its share from the last minute.
    record(book, ledger, cv("dance", "late", "z", T0))
    total, rows = book.take_unpublished(capped, 2, now_s=0)
    assert total.donation_minor == 300
    assert minute_rows(rows) == {T0: (1, 100), T0 + 2 * M: (2, 0)}


def test_crossing_the_cap_republishes_earlier_minutes_correctly():
    capped = make_campaign("dance", price="1.00", cap="3.00")
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "a", T0))
    record(book, ledger, cv("dance", "v2", "b", T0 + M))
    assert minute_rows(book.take_unpublished(capped, 1, now_s=0)[1]) == {T0: (1, 100), T0 + M: (1, 100)}
    # Two late videos in minute T0 push the campaign over its cap.
    record(book, ledger, cv("dance", "v3", "c", T0))
    record(book, ledger, cv("dance", "v4", "d", T0))
    total, rows = book.take_unpublished(capped, 2, now_s=0)
    assert total.donation_minor == 300
    assert minute_rows(rows) == {T0: (3, 300), T0 + M: (1, 0)}


def test_rebuild_then_changes_republishes_everything_with_same_values():
    capped = make_campaign("dance", price="1.00", cap="2.00")
    book, ledger = fresh()
    for i, minute in enumerate([T0, T0 + M, T0 + 2 * M]):
        record(book, ledger, cv("dance", f"v{i}", f"c{i}", minute))
    before_total, before_rows = book.take_unpublished(capped, 1, now_s=0)
    other = TallyBook()
    other.rebuild(ledger.items())
    after_total, after_rows = other.take_unpublished(capped, 1, now_s=0)
    assert after_total == before_total
    assert sorted(after_rows, key=lambda r: r.minute) == sorted(before_rows, key=lambda r: r.minute)


# --- property: any order, any duplicates, same counters as a simple oracle -------------------

CAMPAIGN_IDS = ["dance", "music", "mo"]


@st.composite
def deliveries(draw):
    """CampaignVideo records with redeliveries; a video has one creator and one minute."""
    n_videos = draw(st.integers(min_value=0, max_value=25))
    videos = {
        f"v{i}": (
            draw(st.sampled_from(["alice", "bob", "carol", "dave", "erin"])),
            T0 + draw(st.integers(min_value=0, max_value=5)) * M,
        )
        for i in range(n_videos)
    }
    items = []
    for video, (creator, minute) in videos.items():
        for cid in draw(st.lists(st.sampled_from(CAMPAIGN_IDS), min_size=1, max_size=3)):
            items.append(CampaignVideo(cid, video, creator, minute))
    items = draw(st.permutations(items)) if items else items
    return items


def oracle(items: list[CampaignVideo]) -> dict[str, tuple[int, int, dict[int, int]]]:
    videos = {(i.campaign_id, i.video_id): i.minute for i in items}
    people = {(i.campaign_id, i.creator_id) for i in items}
    out = {}
    for cid in {c for c, _ in videos}:
        minutes = Counter(m for (c, _), m in videos.items() if c == cid)
        out[cid] = (
            sum(1 for c, _ in videos if c == cid),
            sum(1 for c, _ in people if c == cid),
            dict(minutes),
        )
    return out


@settings(max_examples=200, deadline=None)
@given(items=deliveries(), data=st.data())
def test_any_order_with_duplicates_matches_oracle(items, data):
    expected = oracle(items)

    book, ledger = fresh()
    new = sum(record(book, ledger, item) for item in items)
    assert counters(book) == expected
    assert new == len({(i.campaign_id, i.video_id) for i in items})

    # The same deliveries in another order, replayed twice, give the same result.
    shuffled = data.draw(st.permutations(items)) if items else items
    book2, ledger2 = fresh()
    # ...recorded as multi-video batches (consecutive items of one campaign, random sizes).
    pending = list(shuffled + shuffled)
    while pending:
        run = [pending.pop(0)]
        size = data.draw(st.integers(min_value=1, max_value=6))
        while pending and len(run) < size and pending[0].campaign_id == run[0].campaign_id:
            run.append(pending.pop(0))
        record(book2, ledger2, *run)
    assert counters(book2) == expected
    assert seen_in(ledger2) == seen_in(ledger)
    assert creators_in(ledger2) == creators_in(ledger)

    # Rebuilding from the stores gives the same counters too.
    rebuilt = TallyBook()
    rebuilt.rebuild(ledger.items())
    assert counters(rebuilt) == expected

    # Published totals agree with the counters and with the donation rule.
    cap = data.draw(st.sampled_from([None, "0.00", "3.00", "10.00"]))
    for cid in expected:
        camp = make_campaign(cid, price="1.00", cap=cap)
        total, rows = book.take_unpublished(camp, 1, now_s=0)
        videos, people, minutes = expected[cid]
        assert (total.videos, total.creators) == (videos, people)
        assert total.donation_minor == total_donation(videos, 100, camp.cap_minor)
        assert {r.minute: r.videos for r in rows} == minutes
        assert sum(r.donation_minor for r in rows) == total.donation_minor


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("video"), st.integers(0, 15), st.integers(0, 6)),
            st.tuples(
                st.just("terms"),
                st.sampled_from(["1.00", "2.00", "0"]),
                st.sampled_from([None, "0", "3.00", "5.00", "12.00"]),
            ),
        ),
        max_size=30,
    )
)
def test_published_rows_always_add_up_to_the_rule(steps):
    """Applying every published minute row in order yields exactly the rule's minute values."""
    book, ledger = fresh()
    camp = make_campaign("dance", price="1.00")
    published: dict[int, tuple[int, int]] = {}
    version = 0
    last: tuple[int, CampaignTotal] | None = None
    for kind, a, b in steps:
        if kind == "video":
            record(book, ledger, cv("dance", f"v{a}", f"c{a % 4}", T0 + b * M))
        else:  # a new campaign record: a greater offset in the campaigns topic
            camp = make_campaign("dance", price=a, cap=b)
            version += 1
        total, rows = book.take_unpublished(camp, version, now_s=0)
        assert all(row.version == total.version for row in rows)
        if last is not None:  # inputs only grew: the version never goes back, and grows with any change
            assert total.version > last[0] or (total.version == last[0] and total == last[1])
        last = (total.version, total)
        for row in rows:
            published[row.minute] = (row.videos, row.donation_minor)
        seen = seen_in(ledger)
        counts = Counter(seen.values())
        expected = minute_donations(dict(counts), camp.price_minor, camp.cap_minor)
        assert published == {m: (counts[m], expected[m]) for m in counts}
        assert total.videos == len(seen)
        assert total.donation_minor == total_donation(len(seen), camp.price_minor, camp.cap_minor)
        assert sum(d for _, d in published.values()) == total.donation_minor


# --- property: removals, restorations and stats in any order, any duplication ----------------


@st.composite
def observed_deliveries(draw):
    """Forwarded items of one campaign: each video's creation and a few of its states (status,
    stats) in any order, some repeated, each item carrying a state as the matching stage
    would (the join of some of the video's events)."""
    n = draw(st.integers(0, 12))
    items: list[CampaignVideo] = []
    finals = {}
    for i in range(n):
        creator = draw(st.sampled_from(["alice", "bob", "carol"]))
        minute = T0 + draw(st.integers(0, 4)) * M
        events = draw(st.lists(st.one_of(
            st.builds(VideoState.of_status, st.integers(0, 5), st.booleans()),
            st.builds(VideoState.of_stats, st.integers(0, 5), st.integers(0, 9), st.integers(0, 9),
                      st.integers(0, 9), st.integers(0, 9)),
        ), max_size=4))
        finals[f"v{i}"] = (MatchedVideo(f"v{i}", creator, minute), VideoState.join(events))
        items.append(CampaignVideo("dance", f"v{i}", creator, minute))
        for k in range(len(events)):
            subset = draw(st.lists(st.sampled_from(events), min_size=1, max_size=len(events))) if k else events[:1]
            items.append(CampaignVideo("dance", f"v{i}", creator, minute, 0.0, VideoState.join(subset)))
        items.append(CampaignVideo("dance", f"v{i}", creator, minute, 0.0, VideoState.join(events)))
    items = draw(st.permutations(items)) if items else items
    repeats = draw(st.lists(st.sampled_from(items), max_size=5)) if items else []
    return items + repeats, list(finals.values())


@settings(max_examples=200, deadline=None)
@given(observed_deliveries(), st.sampled_from([None, "0", "2.00", "4.00", "50.00"]), st.data())
def test_states_in_any_order_publish_exactly_what_the_rules_give(delivered, cap, data):
    """Recording forwarded states one record at a time, publishing after each, ends with the
    published totals and minute rows (the last row per minute) equal to recomputing the
    rules from the final states — including under a cap that removals bring back into play."""
    items, finals = delivered
    camp = make_campaign("dance", price="1.00", cap=cap)
    book, ledger = fresh()
    published: dict[int, tuple[int, int]] = {}
    total = None
    pending = list(items)
    while pending:
        size = data.draw(st.integers(1, 4))
        run, pending = pending[:size], pending[size:]
        record(book, ledger, *run)
        total, rows = book.take_unpublished(camp, 1, now_s=0)
        published.update({r.minute: (r.videos, r.donation_minor) for r in rows})
    expected_totals, expected_minutes = recompute(finals, 100, camp.cap_minor)
    if total is not None:
        assert (total.videos, total.creators, total.removed, total.donation_minor,
                total.views, total.likes, total.shares, total.comments) == (
            expected_totals.videos, expected_totals.creators, expected_totals.removed,
            expected_totals.donation_minor, expected_totals.views, expected_totals.likes,
            expected_totals.shares, expected_totals.comments)
    assert published == {m: (row.videos, row.donation_minor) for m, row in expected_minutes.items()}
    rebuilt = TallyBook()
    rebuilt.rebuild(data.draw(st.permutations(list(ledger.items()))))
    again, rows = rebuilt.take_unpublished(camp, 1, now_s=0)
    if total is not None:
        assert again == total
    assert {r.minute: (r.videos, r.donation_minor) for r in rows} == published


def test_a_removal_that_brings_the_count_under_the_cap_republishes_the_minute_it_did_not_touch():
    capped = make_campaign("dance", price="1.00", cap="2.00")
    book, ledger = fresh()
    record(book, ledger, cv("dance", "v1", "a", T0), cv("dance", "v2", "b", T0), cv("dance", "v3", "c", T0 + M))
    total, rows = book.take_unpublished(capped, 1, now_s=0)
    assert (total.donation_minor, minute_rows(rows)) == (200, {T0: (2, 200), T0 + M: (1, 0)})
    # Removing v1 (minute T0) leaves 2 videos: no longer over the cap, so T0+M's share comes back
    # although nothing happened in that minute.
    record(book, ledger, CampaignVideo("dance", "v1", "a", T0, 0.0, REMOVED))
    total, rows = book.take_unpublished(capped, 1, now_s=0)
    assert (total.videos, total.removed, total.donation_minor) == (2, 1, 200)
    assert minute_rows(rows) == {T0: (1, 100), T0 + M: (1, 100)}
    # While over the cap, a removal leaves the donation at the cap.
    record(book, ledger, cv("dance", "v4", "d", T0), cv("dance", "v5", "e", T0))
    book.take_unpublished(capped, 1, now_s=0)
    record(book, ledger, CampaignVideo("dance", "v4", "d", T0, 0.0, REMOVED))
    total, _ = book.take_unpublished(capped, 1, now_s=0)
    assert (total.videos, total.removed, total.donation_minor) == (3, 2, 200)


def test_a_rebuild_keeps_a_state_whose_video_entry_was_lost_until_the_video_is_added_again():
    """A crash kept the ledger entry of a later record (v1's removal) but lost the earlier one
    that added v1 (neither record was committed): the rebuild holds the removal, and when the
    first record is processed again the video is added already removed."""
    later = LedgerEntry((), (("v1", REMOVED),))
    book = TallyBook()
    book.rebuild([(ledger_key("dance", 1, 0), later.to_bytes())])
    assert counters(book) == {}
    book.record(CampaignVideoBatch("dance", (cv("dance", "v1", "alice"), cv("dance", "v2", "bob"))), 0)
    assert counters(book) == {"dance": (1, 1, {T0: 1})}
    assert book.tallies["dance"].aggregate.removed == 1
