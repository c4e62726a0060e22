"""Generated created, status and stats events for the oracle of :mod:`tests.support.removals_oracle`
(hypothesis strategies), and the campaigns they are matched against: shared by the aggregate's
tests and the worker's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from tests.support.eventset import OracleCampaign
from tests.support.removals_oracle import REASON_ORDER, Created, Event, Stats, Status

BASE = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
M = 60
T0 = int(BASE.timestamp())
DAY = timedelta(days=1)

CAMPAIGNS = [
    OracleCampaign("plain", ("Plain",), 100, None, "USD", BASE - DAY, BASE + DAY),
    OracleCampaign("capped", ("Cap",), 100, 250, "USD", BASE - DAY, BASE + DAY),  # full at 3 videos
    OracleCampaign("narrow", ("Narrow", "Plain"), 7, None, "EUR", BASE + timedelta(minutes=1),
                   BASE + timedelta(minutes=3)),
]


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event]:
    """Up to 8 videos (most created, some never), each with up to 3 status and 2 stats events
    at a handful of times (equal times are common), over 5 minutes and 4 creators."""
    events: list[Event] = []
    for i in range(draw(st.integers(0, 8))):
        video = f"v{i}"
        if draw(st.integers(0, 5)):
            tags = draw(st.lists(st.sampled_from(["Plain", "#cap", "CAP", "narrow", "other"]), max_size=3))
            created_at = BASE + timedelta(minutes=draw(st.integers(0, 4)), seconds=draw(st.integers(0, 59)),
                                          microseconds=draw(st.sampled_from([0, 999_999])))
            creator = f"creator-{draw(st.integers(0, 3))}"
            events.append(Created(f"c{i}", video, creator, tuple(tags) or ("other",), created_at))
        for j in range(draw(st.integers(0, 3))):
            at = BASE + timedelta(seconds=draw(st.integers(0, 2)), microseconds=draw(st.sampled_from([0, 1])))
            status = draw(st.sampled_from(["removed", "restored"]))
            events.append(Status(f"s{i}.{j}", video, status, draw(st.sampled_from(REASON_ORDER)), at))
        for j in range(draw(st.integers(0, 2))):
            counts = [draw(st.integers(0, 5)) for _ in range(4)]
            observed_at = BASE + timedelta(seconds=draw(st.integers(0, 1)))
            events.append(Stats(f"t{i}.{j}", video, *counts, observed_at))
    return events


