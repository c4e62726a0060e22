"""forgood.domain.rules: donation totals and the order-independent per-minute cap rule."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.rules import minute_donations, percent_of, total_donation

M = 60  # one minute, epoch seconds


@pytest.mark.parametrize(
    ("videos", "price", "cap", "expected"),
    [
        (0, 100, None, 0),
        (3, 100, None, 300),
        (1_000_000, 200, None, 200_000_000),
        (3, 100, 1000, 300),  # under the cap
        (10, 100, 1000, 1000),  # exactly at the cap
        (11, 100, 1000, 1000),  # over the cap
        (7, 150, 1000, 1000),
        (5, 0, 1000, 0),  # awareness-only campaign
        (5, 100, 0, 0),  # cap of zero
        (0, 100, 1000, 0),
    ],
)
def test_total_donation(videos, price, cap, expected):
    assert total_donation(videos, price, cap) == expected


def test_minute_donations_uncapped_is_videos_times_price():
    counts = {0: 3, M: 1, 5 * M: 10}
    assert minute_donations(counts, 200, None) == {0: 600, M: 200, 5 * M: 2000}


def test_minute_donations_uncapped_keeps_zero_count_minutes():
    assert minute_donations({M: 0, 2 * M: 2}, 100, None) == {M: 0, 2 * M: 200}


def test_minute_donations_under_cap_equals_uncapped():
    counts = {0: 2, M: 3}
    assert minute_donations(counts, 100, 10_000) == {0: 200, M: 300}


def test_minute_donations_capped_full_then_partial_then_zero():
    # price 100, cap 750: minutes 0 and 1 give 300 each (600), minute 2 the remaining 150,
    # minutes 3 and 4 nothing.
    counts = {0: 3, M: 3, 2 * M: 3, 3 * M: 3, 4 * M: 1}
    result = minute_donations(counts, 100, 750)
    assert result == {0: 300, M: 300, 2 * M: 150, 3 * M: 0, 4 * M: 0}
    assert sum(result.values()) == total_donation(sum(counts.values()), 100, 750) == 750


def test_minute_donations_cap_reached_exactly_at_minute_end():
    counts = {0: 5, M: 5, 2 * M: 5}
    assert minute_donations(counts, 100, 1000) == {0: 500, M: 500, 2 * M: 0}


def test_minute_donations_follow_event_time_not_insertion_order():
    # Given newest minute first: event time still decides who gets the money under the cap.
    counts = {10 * M: 5, 0: 5}
    result = minute_donations(counts, 100, 700)
    assert result == {0: 500, 10 * M: 200}


def test_late_event_in_earlier_minute_moves_capped_remainder():
    price, cap = 100, 1000
    before = {5 * M: 6, 6 * M: 6}
    assert minute_donations(before, price, cap) == {5 * M: 600, 6 * M: 400}
    # A late video for minute 5 arrives: minute 5 gets it, minute 6 gives up the same amount.
    after = {5 * M: 7, 6 * M: 6}
    assert minute_donations(after, price, cap) == {5 * M: 700, 6 * M: 300}
    # A late video in an earlier minute still nobody had counted: it takes from the last minute.
    earlier = {4 * M: 1, 5 * M: 7, 6 * M: 6}
    assert minute_donations(earlier, price, cap) == {4 * M: 100, 5 * M: 700, 6 * M: 200}
    assert sum(minute_donations(earlier, price, cap).values()) == cap


def test_minute_donations_empty():
    assert minute_donations({}, 100, None) == {}
    assert minute_donations({}, 100, 500) == {}


def test_percent_of():
    assert percent_of(50, 200) == 25.0
    assert percent_of(0, 10) == 0.0
    assert percent_of(5, None) is None
    assert percent_of(5, 0) is None


minute_maps = st.dictionaries(
    keys=st.integers(min_value=0, max_value=10_000).map(lambda k: k * M),
    values=st.integers(min_value=0, max_value=1_000),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    counts=minute_maps,
    price=st.integers(min_value=0, max_value=10_000),
    cap=st.none() | st.integers(min_value=0, max_value=5_000_000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_minute_donations_properties(counts, price, cap, seed):
    result = minute_donations(counts, price, cap)
    assert set(result) == set(counts)
    assert sum(result.values()) == total_donation(sum(counts.values()), price, cap)
    for minute, value in result.items():
        assert 0 <= value <= counts[minute] * price
    # The rule from the module docstring: min(cap, price*S(m)) - min(cap, price*S(m-1)).
    running = 0
    for minute in sorted(counts):
        before = total_donation(running, price, cap)
        running += counts[minute]
        assert result[minute] == total_donation(running, price, cap) - before
    # Same answer whatever order the mapping was built in.
    items = list(counts.items())
    random.Random(seed).shuffle(items)
    assert minute_donations(dict(items), price, cap) == result
    assert minute_donations(dict(reversed(items)), price, cap) == result
