"""forgood.domain.video_state: the per-video state is a join-semilattice with the issue-13 rules,
its compact wire format, and the pending buffer's TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.video_state import (
    REASONS,
    PendingBuffer,
    StatsObservation,
    StatusObservation,
    VideoState,
    VideoStateError,
    epoch_us,
    reason_code,
)

T = epoch_us(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))  # a status or stats time, epoch µs
S = 1_000_000  # one second in µs

times = st.integers(min_value=T, max_value=T + 3)  # few values: equal times are common
counters = st.integers(min_value=0, max_value=5) | st.integers(min_value=0, max_value=2**63 - 1)


@st.composite
def states(draw: st.DrawFn) -> VideoState:
    state = VideoState()
    if draw(st.booleans()):
        state = state.apply_status(draw(times), draw(st.booleans()), draw(st.integers(0, len(REASONS) - 1)))
    if draw(st.booleans()):
        state = state.apply_stats(draw(times), draw(counters), draw(counters), draw(counters), draw(counters))
    return state


# --- the laws ------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(a=states(), b=states(), c=states())
def test_merge_is_a_join_semilattice(a, b, c):
    assert a.merge(b) == b.merge(a)  # commutative
    assert a.merge(b).merge(c) == a.merge(b.merge(c))  # associative
    assert a.merge(a) == a  # idempotent
    assert a.merge(VideoState()) == a  # the unobserved state is the bottom
    joined = a.merge(b)
    assert joined.merge(a) == joined and joined.merge(b) == joined  # an upper bound of both


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.tuples(st.booleans(), times, st.booleans(), counters, counters, counters, counters),
                       max_size=8), data=st.data())
def test_any_order_and_duplication_of_events_gives_the_same_state(events, data):
    def fold(sequence):
        state = VideoState()
        for is_status, at, removed, views, likes, shares, comments in sequence:
            state = (state.apply_status(at, removed) if is_status
                     else state.apply_stats(at, views, likes, shares, comments))
        return state

    again = data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    shuffled = data.draw(st.permutations(events + again))
    assert fold(shuffled) == fold(events)


# --- the rules -----------------------------------------------------------------------------


def test_no_status_event_is_live():
    assert VideoState().counts
    assert VideoState().apply_stats(T, 1, 2, 3, 4).counts


def test_latest_status_wins_in_any_order():
    removed_then_restored = VideoState().apply_status(T, True).apply_status(T + S, False)
    restored_then_removed = VideoState().apply_status(T + S, False).apply_status(T, True)
    assert removed_then_restored == restored_then_removed
    assert removed_then_restored.counts and removed_then_restored.status_at == T + S
    assert not VideoState().apply_status(T, False).apply_status(T + 1, True).counts  # a µs later wins


def test_equal_at_removed_wins():
    assert not VideoState().apply_status(T, True).apply_status(T, False).counts
    assert not VideoState().apply_status(T, False).apply_status(T, True).counts


def test_latest_snapshot_wins_even_if_smaller():
    state = VideoState().apply_stats(T + S, 10, 1, 0, 0).apply_stats(T, 99, 99, 99, 99)
    assert state.engagement == (10, 1, 0, 0) and state.stats_observed_at == T + S


def test_equal_observed_at_takes_each_counters_maximum():
    one = VideoState().apply_stats(T, 10, 1, 7, 0)
    two = VideoState().apply_stats(T, 3, 5, 7, 2)
    assert one.merge(two).engagement == two.merge(one).engagement == (10, 5, 7, 2)


def test_status_and_stats_are_independent():
    state = VideoState().apply_stats(T, 5, 4, 3, 2).apply_status(T, True)
    assert not state.counts and state.engagement == (5, 4, 3, 2)  # kept: a restore brings it back
    assert state.apply_status(T + S, False).engagement == (5, 4, 3, 2)


def test_merge_returns_self_when_nothing_changes():
    state = VideoState().apply_status(T, True)
    assert state.merge(VideoState.of_status(T - S, False)) is state


def test_observations_outside_the_domain_are_refused():
    with pytest.raises(VideoStateError):
        VideoState().apply_stats(T, -1, 0, 0, 0)
    with pytest.raises(VideoStateError):
        VideoState(removed=True)
    with pytest.raises(VideoStateError):
        VideoState(views=3)


def test_epoch_us_is_exact_and_needs_a_timezone():
    moment = datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert epoch_us(moment) == int(moment.replace(microsecond=0).timestamp()) * S + 123456
    assert epoch_us(moment + timedelta(microseconds=1)) == epoch_us(moment) + 1
    with pytest.raises(ValueError):
        epoch_us(datetime(2026, 1, 1))


# --- wire format ---------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(state=states() | st.builds(
    VideoState, st.none() | st.integers(-(2**70), 2**70), st.just(False), st.none(),
))
def test_bytes_round_trip(state):
    assert VideoState.from_bytes(state.to_bytes()) == state


def test_encoded_sizes_within_the_issue_budget():
    """≤ 100 B per video plus ≤ 40 B per stats snapshot kept (one snapshot per video)."""
    now = epoch_us(datetime(2026, 12, 3, 15, 0, 0, 123456, tzinfo=UTC))
    live = VideoState()
    removed = live.apply_status(now, True)
    popular = removed.apply_stats(now, 81_000_000, 9_500_000, 1_200_000, 310_000)
    typical = live.apply_stats(now, 1_234, 87, 5, 3)
    huge = removed.apply_stats(now, *(4 * [10**12]))  # a trillion each: the largest count video-stats accepts
    worst = removed.apply_stats(2**62, *(4 * [2**63 - 1]))  # every field at its widest (UInt64 counters)
    cases = [("live", live), ("removed", removed), ("typical", typical), ("popular", popular), ("huge", huge),
             ("worst", worst)]
    sizes = {name: len(state.to_bytes()) for name, state in cases}
    assert sizes == {"live": 1, "removed": 9, "typical": 14, "popular": 31, "huge": 41, "worst": 55}
    assert max(sizes.values()) <= 100
    assert sizes["popular"] - sizes["removed"] == 22  # the snapshot's share
    assert sizes["huge"] - sizes["removed"] == 32 <= 40


def test_the_latest_status_events_reason_is_kept_and_ties_go_to_the_later_reason():
    moderated = VideoState.of_status(T, True, reason_code("moderation"))
    appealed = VideoState.of_status(T + S, False, reason_code("appeal"))
    assert moderated.merge(appealed) == appealed and appealed.merge(moderated) == appealed
    assert appealed.reason_text == "appeal" and VideoState().reason_text == ""
    fraud = VideoState.of_status(T, True, reason_code("fraud"))  # same time and status: the later reason
    assert moderated.merge(fraud) == fraud == fraud.merge(moderated)
    for state in (moderated, appealed, fraud):
        assert VideoState.from_bytes(state.to_bytes()) == state
    assert len(moderated.to_bytes()) == len(VideoState.of_status(T, True).to_bytes()) + 1
    # bytes written before reasons were kept read with no reason
    assert VideoState.from_bytes(VideoState.of_status(T, True).to_bytes()).reason == 0
    with pytest.raises(ValueError):
        reason_code("bored")
    with pytest.raises(VideoStateError):
        VideoState(None, False, reason=1)
    with pytest.raises(VideoStateError):
        VideoState(T, True, reason=len(REASONS))


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00", b"\x21", b"\x13", b"\x11\x80", b"\x11\x02\x00", b"\x14\x02\x01\x01\x01", b"\x18"],
)
def test_from_bytes_refuses_what_is_not_a_state(raw):
    with pytest.raises(VideoStateError):
        VideoState.from_bytes(raw)


# --- pending buffer ------------------------------------------------------------------------


def removal(video: str, at: int = T) -> StatusObservation:
    return StatusObservation(video, at, True)


def snapshot(video: str, at: int = T, views: int = 1) -> StatsObservation:
    return StatsObservation(video, at, views, 0, 0, 0)


def test_pending_held_then_taken_when_the_video_arrives():
    buffer = PendingBuffer(ttl_s=3600)
    buffer.add(removal("v1"), now=100.0)
    buffer.add(snapshot("v1", views=7), now=101.0)
    buffer.add(snapshot("v2"), now=102.0)
    assert len(buffer) == 3 and buffer.videos() == 2 and "v1" in buffer
    state = buffer.take("v1")
    assert state == VideoState().apply_status(T, True).apply_stats(T, 7, 0, 0, 0)
    assert buffer.take("v1") is None and "v1" not in buffer
    assert buffer.expire(now=100.0 + 3600) == 0  # v1's events were taken: nothing to drop
    assert buffer.expire(now=102.0 + 3600) == 1  # v2's snapshot expired
    assert len(buffer) == 0 and buffer.take("v2") is None


def test_pending_expiry_is_per_event_and_at_the_ttl():
    buffer = PendingBuffer(ttl_s=10)
    buffer.add(removal("v"), now=0.0)
    buffer.add(StatusObservation("v", T + S, False), now=5.0)
    assert buffer.expire(now=9.999) == 0
    assert buffer.expire(now=10.0) == 1  # held for exactly the TTL: dropped
    assert buffer.held("v") == (StatusObservation("v", T + S, False),)
    assert buffer.expire(now=15.0) == 1 and buffer.videos() == 0


def test_pending_duplicate_is_held_once_from_its_first_arrival():
    buffer = PendingBuffer(ttl_s=10)
    buffer.add(removal("v"), now=0.0)
    buffer.add(removal("v"), now=8.0)  # re-delivered: does not extend the stay
    assert len(buffer) == 1
    assert buffer.expire(now=10.0) == 1
    assert buffer.expire(now=100.0) == 0


def test_pending_taken_and_held_again_expires_from_its_new_arrival():
    buffer = PendingBuffer(ttl_s=10)
    buffer.add(removal("v"), now=0.0)
    buffer.take("v")
    buffer.add(removal("v"), now=5.0)
    assert buffer.expire(now=10.0) == 0  # the old queue entry is stale
    assert buffer.expire(now=15.0) == 1


def test_pending_ttl_must_be_non_negative():
    with pytest.raises(ValueError):
        PendingBuffer(ttl_s=-1)


observations = st.one_of(
    st.builds(StatusObservation, st.sampled_from(["v", "w"]), times, st.booleans()),
    st.builds(StatsObservation, st.sampled_from(["v", "w"]), times, counters, counters, counters, counters),
)


@settings(max_examples=300, deadline=None)
@given(held=st.lists(st.tuples(observations, st.integers(0, 10**7).map(lambda ms: ms / 1000)), max_size=8))
def test_pending_bytes_restore_the_same_events_and_arrivals(held):
    buffer = PendingBuffer(ttl_s=60)
    for event, arrival in held:
        buffer.add(event, arrival)
    restored = PendingBuffer(ttl_s=60)
    for video in ("v", "w"):
        restored.restore(video, buffer.to_bytes(video))
        assert set(restored.held(video)) == set(buffer.held(video))
        assert restored.to_bytes(video) == buffer.to_bytes(video)
    assert len(restored) == len(buffer)
    for now in (0.0, 60.0, 5_000.0, 10_060.0):
        assert restored.expire(now) == buffer.expire(now)


def test_pending_bytes_sizes_and_expiry_after_restore():
    buffer = PendingBuffer(ttl_s=3600)
    now = 1_796_310_000.25  # processing time, epoch s
    buffer.add(removal("v", T), now)
    assert len(buffer.to_bytes("v")) == 15  # 6 (arrival, ms) + 9 (status)
    buffer.add(StatsObservation("v", T, 1_234, 87, 5, 3), now)
    assert len(buffer.to_bytes("v")) == 15 + 6 + 14  # + 6 (arrival) + 14 (a typical snapshot)
    assert buffer.to_bytes("nobody") == b""
    restored = PendingBuffer(ttl_s=3600)
    restored.restore("v", buffer.to_bytes("v"))
    assert restored.expire(now + 3599.9) == 0
    assert restored.expire(now + 3600) == 2


def test_pending_restore_refuses_a_state_that_is_not_one_event():
    both = VideoState().apply_status(T, True).apply_stats(T, 1, 1, 1, 1).to_bytes()
    with pytest.raises(VideoStateError):
        PendingBuffer(ttl_s=1).restore("v", b"\x00" + both)
    with pytest.raises(VideoStateError):
        PendingBuffer(ttl_s=1).restore("v", b"\x00" + VideoState().to_bytes())
