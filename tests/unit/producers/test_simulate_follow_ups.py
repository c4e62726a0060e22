"""The simulator's traffic on all three source topics: every event passes its topic's schema,
and removals, restorations and stats snapshots have the shape the issue asks for."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from forgood.domain.campaigns import Campaign
from forgood.domain.events import parse_video_created
from forgood.domain.video_events import REMOVAL_REASONS, parse_video_stats, parse_video_status
from producers.sending import key_of
from producers.simulate import CREATED_ONLY, Outgoing, TrafficGenerator, TrafficShape

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VIDEOS = 6000
STEP = timedelta(seconds=1 / 200)  # 200 new videos per second
LATER = START + timedelta(days=1)  # "now" when parsing: nothing is in the future
DEFAULT = TrafficShape()


def _campaigns() -> list[Campaign]:
    return [Campaign(id="dance", name="Dance", nonprofit="X", hashtags=("DanceForChange",),
                     donation_per_video=Decimal("1.00"), currency="USD",
                     starts_at=START - timedelta(days=1), ends_at=START + timedelta(days=1))]


def _run(seed: int, shape: TrafficShape = DEFAULT) -> tuple[list[tuple[datetime, Outgoing]], int]:
    """Drive a generator with a clock of our own: VIDEOS new videos, then 15 minutes of
    follow-ups. Returns (send time, record) in send order, and the number of new videos."""
    generator = TrafficGenerator(_campaigns(), seed, shape)
    sent: list[tuple[datetime, Outgoing]] = []
    now = START
    new_videos = 0
    for _ in range(VIDEOS):
        now += STEP
        records = generator.next_records(now)
        new_videos += not records[0].duplicate
        sent += [(now, r) for r in records]
        sent += [(now, r) for r in generator.due_records(now)]
    for _ in range(15 * 60):
        now += timedelta(seconds=1)
        sent += [(now, r) for r in generator.due_records(now)]
    assert generator.planned == 0
    return sent, new_videos


@pytest.fixture(scope="module")
def traffic() -> tuple[list[tuple[datetime, Outgoing]], int]:
    return _run(seed=7)


def test_every_event_passes_its_topics_schema_and_is_keyed_by_its_video(traffic):
    sent, _ = traffic
    parse = {"created": parse_video_created, "status": parse_video_status, "stats": parse_video_stats}
    roles = Counter()
    for at, record in sent:
        event = parse[record.role](record.value, now=at, max_future_skew=timedelta(0))  # never dated ahead
        assert key_of(record.value) == event.video_id.encode()
        roles[record.role] += 1
    assert roles["status"] > 0 and roles["stats"] > 0, roles


def test_a_few_per_cent_of_videos_are_removed_some_before_their_created_event(traffic):
    sent, new_videos = traffic
    first_created: dict[str, int] = {}
    first_removed: dict[str, int] = {}
    reasons = Counter()
    for index, (_, record) in enumerate(sent):
        video = orjson.loads(record.value)["video_id"]
        if record.role == "created":
            first_created.setdefault(video, index)
        elif record.role == "status" and parse_video_status(record.value, now=LATER).status == "removed":
            assert video not in first_removed, "one removal per video"
            first_removed[video] = index
            reasons[orjson.loads(record.value)["reason"]] += 1
    assert len(first_created) == new_videos
    assert 0.02 <= len(first_removed) / new_videos <= 0.04, len(first_removed) / new_videos
    assert set(first_removed) <= set(first_created), "every removed video is also created"
    early = [v for v in first_removed if first_removed[v] < first_created[v]]
    assert 0.1 <= len(early) / len(first_removed) <= 0.3, (len(early), len(first_removed))
    assert set(reasons) <= set(REMOVAL_REASONS) - {"appeal"}
    assert len(reasons) >= 3, reasons


def test_some_removed_videos_are_restored_later(traffic):
    sent, _ = traffic
    by_video: dict[str, list] = defaultdict(list)
    for _, record in sent:
        if record.role == "status":
            event = parse_video_status(record.value, now=LATER)
            by_video[event.video_id].append(event)
    restored = [events for events in by_video.values() if any(e.status == "restored" for e in events)]
    assert 0.15 <= len(restored) / len(by_video) <= 0.45, (len(restored), len(by_video))
    for events in restored:  # removed first, restored strictly later (an equal `at` would keep it removed)
        assert [e.status for e in events] == ["removed", "restored"]
        assert events[1].at > events[0].at
        assert events[1].reason in REMOVAL_REASONS


def test_stats_snapshots_grow_and_are_observed_later_each_time(traffic):
    sent, new_videos = traffic
    by_video: dict[str, list] = defaultdict(list)
    for _, record in sent:
        if record.role == "stats":
            event = parse_video_stats(record.value, now=LATER)
            by_video[event.video_id].append(event)
    assert 0.2 <= len(by_video) / new_videos <= 0.4, len(by_video) / new_videos
    assert all(len(snapshots) == TrafficShape().stats_snapshots for snapshots in by_video.values())
    grew = 0
    for snapshots in by_video.values():
        for before, after in zip(snapshots, snapshots[1:], strict=False):
            assert after.observed_at > before.observed_at
            for counter in ("views", "likes", "shares", "comments"):
                assert getattr(after, counter) >= getattr(before, counter), (counter, before, after)
            grew += after.views > before.views
    assert grew > 0.9 * sum(len(s) - 1 for s in by_video.values())


def test_the_switches_turn_follow_ups_off_and_the_created_events_stay_those_of_the_seed(traffic):
    sent, _ = traffic
    plain, _ = _run(seed=7, shape=CREATED_ONLY)
    assert {r.role for _, r in plain} == {"created"}
    # Same created events (values and re-deliveries) with or without follow-ups; only the
    # ones held back behind their removal move.
    assert Counter(r.value for _, r in plain) == Counter(r.value for _, r in sent if r.role == "created")
    no_stats, _ = _run(seed=7, shape=TrafficShape(stats_share=0.0))
    assert {r.role for _, r in no_stats} == {"created", "status"}


def test_held_created_events_are_given_at_the_end_of_a_run():
    generator = TrafficGenerator(_campaigns(), 3, TrafficShape(removed_share=1.0, status_first_share=1.0,
                                                                 duplicate_share=0.0, stats_share=0.0))
    first = generator.next_records(START)
    assert [r.role for r in first] == ["status"]
    held = generator.held_records()
    assert [r.role for r in held] == ["created"]
    assert key_of(held[0].value) == key_of(first[0].value)
    assert generator.held_records() == []
