"""streams.campaign_aggregate with forgood.domain.video_state, against the independent oracle of
tests.support.removals_oracle: any interleaving and duplication of created, status and stats
events gives the oracle's totals and minute rows; incremental equals full recomputation;
caps, restores, equal times and pending events."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.domain.video_events import parse_video_stats, parse_video_status
from forgood.domain.video_state import PendingBuffer, StatsObservation, StatusObservation, VideoState, epoch_us
from streams.campaign_aggregate import CampaignAggregate, MatchedVideo, MinuteRow, recompute
from tests.support.eventset import OracleCampaign
from tests.support.removals_oracle import Created, Event, Stats, Status, oracle
from tests.support.removals_strategies import BASE, CAMPAIGNS, DAY, T0, M, event_lists


class Model:
    """The wiring the aggregate is built for, in miniature (no Faust): the matching stage keeps
    each created video's match and its VideoState *as bytes* (a table keyed by video id), holds
    events of unknown videos in a PendingBuffer, and forwards (campaign, match, state bytes)
    whenever a video is created or its state changes; each campaign's owner merges what it
    receives into its CampaignAggregate."""

    def __init__(self, campaigns: list[OracleCampaign], ttl_s: float = 3600) -> None:
        self.campaigns = campaigns
        self.table: dict[str, bytes] = {}
        self.matches: dict[str, tuple[MatchedVideo, tuple[str, ...]]] = {}
        self.pending = PendingBuffer(ttl_s)
        self.forwarded: list[tuple[str, MatchedVideo, bytes]] = []
        self.owners = {c.id: CampaignAggregate() for c in campaigns}
        self.dropped = 0
        self.now = 0.0

    def process(self, event: Event) -> None:
        self.now += 1.0
        self.dropped += self.pending.expire(self.now)
        if isinstance(event, Created):
            if event.video_id in self.matches:
                return  # a re-delivery: the match made the first time stays
            tags = {t.lstrip("#").casefold() for t in event.hashtags}
            ids = tuple(
                c.id for c in self.campaigns
                if tags & {t.casefold() for t in c.hashtags} and c.starts_at <= event.created_at < c.ends_at
            )
            minute = int(event.created_at.timestamp()) // M * M
            self.matches[event.video_id] = (MatchedVideo(event.video_id, event.creator_id, minute), ids)
            state = self.pending.take(event.video_id) or VideoState()
            self.table[event.video_id] = state.to_bytes()
            self._forward(event.video_id, state)
            return
        observation = observe(event)
        if event.video_id not in self.matches:
            self.pending.add(observation, self.now)
            return
        before = VideoState.from_bytes(self.table[event.video_id])
        after = before.merge(observation.state())
        if after != before:
            self.table[event.video_id] = after.to_bytes()
            self._forward(event.video_id, after)

    def _forward(self, video_id: str, state: VideoState) -> None:
        video, ids = self.matches[video_id]
        for campaign_id in ids:
            record = (campaign_id, video, state.to_bytes())
            self.forwarded.append(record)
            deliver(self.owners, record)

    def results(self) -> tuple[dict, dict]:
        return results(self.owners, self.campaigns)


def observe(event: Status | Stats) -> StatusObservation | StatsObservation:
    if isinstance(event, Status):
        return StatusObservation(event.video_id, epoch_us(event.at), event.status == "removed")
    return StatsObservation(event.video_id, epoch_us(event.observed_at), event.views, event.likes, event.shares,
                            event.comments)


def deliver(owners: dict[str, CampaignAggregate], record: tuple[str, MatchedVideo, bytes]) -> None:
    campaign_id, video, raw = record
    owners[campaign_id].observe(video, VideoState.from_bytes(raw))


def results(owners: dict[str, CampaignAggregate], campaigns: list[OracleCampaign]) -> tuple[dict, dict]:
    totals, minutes = {}, {}
    for c in campaigns:
        totals[c.id] = dataclasses.asdict(owners[c.id].totals(c.price_minor, c.cap_minor))
        for minute, row in owners[c.id].minute_rows(c.price_minor, c.cap_minor).items():
            minutes[(c.id, minute)] = (row.videos, row.donation_minor)
    return totals, minutes


def assert_incremental_is_recomputed(owner: CampaignAggregate, campaign: OracleCampaign) -> None:
    final = [(owner.match_of(v), owner.state_of(v)) for v in owner.entries]
    totals, minutes = recompute(final, campaign.price_minor, campaign.cap_minor)
    assert owner.totals(campaign.price_minor, campaign.cap_minor) == totals
    assert owner.minute_rows(campaign.price_minor, campaign.cap_minor) == minutes


@settings(max_examples=400, deadline=None)
@given(events=event_lists(), data=st.data())
def test_any_interleaving_and_duplication_gives_the_oracles_answer(events, data):
    again = data.draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    delivered = data.draw(st.permutations(events + again))
    model = Model(CAMPAIGNS)
    for event in delivered:
        model.process(event)
        for c in CAMPAIGNS:
            assert_incremental_is_recomputed(model.owners[c.id], c)
    assert model.dropped == 0
    assert model.results() == oracle(list(delivered), CAMPAIGNS)
    assert model.results() == oracle(events, CAMPAIGNS)


@settings(max_examples=200, deadline=None)
@given(events=event_lists(), seed=st.integers(0, 2**32 - 1))
def test_forwarded_records_reordered_and_redelivered_give_the_same_aggregates(events, seed):
    """The owner merges whole states: its forwarded input can be replayed (a ledger rebuild),
    re-delivered and reordered, and the aggregates are the same."""
    model = Model(CAMPAIGNS)
    for event in events:
        model.process(event)
    rng = random.Random(seed)
    replay = model.forwarded + rng.choices(model.forwarded, k=len(model.forwarded) // 2)
    rng.shuffle(replay)
    owners = {c.id: CampaignAggregate() for c in CAMPAIGNS}
    for record in replay:
        deliver(owners, record)
    assert results(owners, CAMPAIGNS) == model.results() == oracle(events, CAMPAIGNS)


# --- the rules, case by case ----------------------------------------------------------------


def created(n: int, tags: tuple[str, ...] = ("Plain",), minute: int = 0, creator: str | None = None) -> Created:
    return Created(f"c{n}", f"v{n}", creator or f"creator-{n}", tags, BASE + timedelta(minutes=minute, seconds=5))


def status(n: int, what: str, second: int = 0) -> Status:
    return Status(f"s{n}.{what}.{second}", f"v{n}", what, "moderation", BASE + timedelta(seconds=second))


def stats(n: int, views: int, likes: int = 0, shares: int = 0, comments: int = 0, second: int = 0) -> Stats:
    return Stats(f"t{n}.{views}", f"v{n}", views, likes, shares, comments, BASE + timedelta(seconds=second))


def run(events: list[Event], campaigns: list[OracleCampaign] = CAMPAIGNS) -> Model:
    model = Model(campaigns)
    for event in events:
        model.process(event)
    assert model.results() == oracle(events, campaigns)
    return model


def test_removal_in_a_campaign_over_its_cap_keeps_the_cap_until_the_count_falls_below_it():
    capped = CAMPAIGNS[1]  # 100 a video, cap 250
    events: list[Event] = [created(n, ("Cap",), minute=n) for n in range(4)]
    model = run(events)
    owner = model.owners["capped"]
    assert owner.totals(100, 250).donation_minor == 250
    assert owner.minute_rows(100, 250) == {
        T0: MinuteRow(1, 100), T0 + M: MinuteRow(1, 100), T0 + 2 * M: MinuteRow(1, 50), T0 + 3 * M: MinuteRow(1, 0)
    }
    events.append(status(0, "removed"))  # 3 videos: 300 > 250, still capped
    run(events)
    model.process(events[-1])
    assert owner.totals(100, 250).videos == 3 and owner.totals(100, 250).donation_minor == 250
    assert owner.totals(100, 250).removed == 1
    assert owner.minute_rows(100, 250) == {  # the capped remainder moved to the minutes after
        T0: MinuteRow(0, 0), T0 + M: MinuteRow(1, 100), T0 + 2 * M: MinuteRow(1, 100), T0 + 3 * M: MinuteRow(1, 50)
    }
    events.append(status(2, "removed"))  # 2 videos: 200 < 250
    run(events)
    model.process(events[-1])
    assert owner.totals(100, 250).donation_minor == 200
    assert sum(row.donation_minor for row in owner.minute_rows(100, 250).values()) == 200
    assert_incremental_is_recomputed(owner, capped)


def test_restore_after_removal_brings_back_the_video_its_creator_and_its_engagement():
    model = run([created(1), stats(1, 500, 40, 3, 2)])
    owner = model.owners["plain"]
    assert dataclasses.asdict(owner.totals(100, None)) == {
        "videos": 1, "creators": 1, "removed": 0, "donation_minor": 100,
        "views": 500, "likes": 40, "shares": 3, "comments": 2,
    }
    model.process(status(1, "removed", second=1))
    assert dataclasses.asdict(owner.totals(100, None)) == {
        "videos": 0, "creators": 0, "removed": 1, "donation_minor": 0,
        "views": 0, "likes": 0, "shares": 0, "comments": 0,
    }
    assert owner.minute_rows(100, None) == {T0: MinuteRow(0, 0)}  # published as 0, not left behind
    model.process(stats(1, 900, second=2))  # engagement of a removed video is kept, not summed
    assert owner.totals(100, None).views == 0
    model.process(status(1, "restored", second=3))
    assert dataclasses.asdict(owner.totals(100, None)) == {
        "videos": 1, "creators": 1, "removed": 0, "donation_minor": 100,
        "views": 900, "likes": 0, "shares": 0, "comments": 0,
    }
    model.process(status(1, "removed", second=2))  # older than the restore: changes nothing
    assert owner.totals(100, None).videos == 1


def test_a_creator_counts_while_one_of_their_videos_counts():
    model = run([created(1, creator="ann"), created(2, creator="ann"), status(1, "removed")])
    assert model.owners["plain"].totals(100, None).creators == 1
    model.process(status(2, "removed"))
    assert model.owners["plain"].totals(100, None).creators == 0


def test_equal_at_removed_wins_whatever_the_order():
    for events in ([created(1), status(1, "removed"), status(1, "restored")],
                   [status(1, "restored"), created(1), status(1, "removed")],
                   [status(1, "removed"), status(1, "restored"), created(1)]):
        owner = run(events).owners["plain"]
        assert (owner.totals(100, None).videos, owner.totals(100, None).removed) == (0, 1)


def test_equal_observed_at_takes_the_larger_value_of_each_counter():
    for events in ([created(1), stats(1, 10, 1, 7, 0), stats(1, 3, 5, 7, 2)],
                   [stats(1, 3, 5, 7, 2), created(1), stats(1, 10, 1, 7, 0)]):
        totals = run(events).owners["plain"].totals(100, None)
        assert (totals.views, totals.likes, totals.shares, totals.comments) == (10, 5, 7, 2)


def test_a_video_in_two_campaigns_is_removed_from_both():
    model = run([created(1, ("Plain",), minute=1), status(1, "removed")])
    assert model.owners["plain"].totals(100, None).removed == 1
    assert model.owners["narrow"].totals(7, None).removed == 1
    assert model.owners["capped"].totals(100, 250).removed == 0


def test_pending_events_held_then_applied_when_the_video_arrives():
    model = Model(CAMPAIGNS, ttl_s=3600)
    for event in [status(1, "removed"), stats(1, 70), stats(2, 5)]:
        model.process(event)
    assert len(model.pending) == 3 and not model.forwarded
    model.process(created(1))
    assert len(model.pending) == 1  # v2's snapshot still waits
    assert len(model.forwarded) == 1  # one forward, already removed: never counted in between
    totals = model.owners["plain"].totals(100, None)
    assert (totals.videos, totals.removed, totals.views) == (0, 1, 0)
    assert model.owners["plain"].state_of("v1") == VideoState().apply_status(
        epoch_us(BASE), True).apply_stats(epoch_us(BASE), 70, 0, 0, 0)


def test_pending_expired_is_dropped_and_counted():
    model = Model(CAMPAIGNS, ttl_s=10)  # each event advances the model's processing clock by 1 s
    model.process(status(1, "removed"))
    model.process(stats(1, 70))
    for n in range(2, 12):
        model.process(created(n, ("other",)))
    assert model.dropped == 2 and len(model.pending) == 0
    model.process(created(1))  # too late: the video counts as live, without engagement
    totals = model.owners["plain"].totals(100, None)
    assert (totals.videos, totals.removed, totals.views) == (1, 0, 0)


def test_observe_reports_what_changed():
    owner = CampaignAggregate()
    video = MatchedVideo("v", "ann", T0)
    live = VideoState()
    assert owner.observe(video, live) is not None
    assert owner.observe(video, live) is None  # a re-delivery
    assert owner.take_dirty_minutes() == {T0} and owner.take_dirty_minutes() == set()
    change = owner.observe(video, live.apply_stats(1, 5, 0, 0, 0))
    assert change is not None and change.counted_delta == 0 and change.totals_changed
    assert owner.take_dirty_minutes() == set()  # the minute's count did not move
    change = owner.observe(video, live.apply_status(1, True))
    assert change is not None and change.counted_delta == -1 and change.totals_changed
    change = owner.observe(video, live.apply_stats(2, 6, 0, 0, 0))  # removed: its stats are not summed
    assert change is not None and not change.totals_changed
    assert owner.take_dirty_minutes() == {T0}
    assert owner.capped(100, 50) is False


def test_oracle_events_as_json_parse_to_the_same_observations():
    """The oracle's events written as topic values (``to_json``) are valid events, and the
    schemas' parsed form gives the observations the model uses (the wiring's glue)."""
    now = BASE + DAY
    removal = Status("s", "v1", "removed", "moderation", BASE + timedelta(microseconds=123456))
    parsed = parse_video_status(removal.to_json(), now=now)
    assert StatusObservation(parsed.video_id, epoch_us(parsed.at), parsed.status == "removed") == observe(removal)
    snapshot = Stats("t", "v1", 81_000_000, 9, 8, 7, BASE)
    got = parse_video_stats(snapshot.to_json(), now=now)
    assert StatsObservation(got.video_id, epoch_us(got.observed_at), got.views, got.likes, got.shares,
                            got.comments) == observe(snapshot)
