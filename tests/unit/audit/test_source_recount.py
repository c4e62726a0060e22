"""The source recount (``forgood reconcile --from-source``): the worker's rules applied to the
three source topics' values, against examples and against a brute-force oracle written here.

Examples cover each rule: status order and duplicates, removal and restoration, ties at an
equal ``at`` (``removed`` wins; then the later reason in the schema's order), snapshots (the
latest; ties counter by counter), outside the window before and after, re-delivered created
events matching different campaigns, bad values skipped and counted by reason, events of
videos never created ignored, times floored to whole seconds. The property test draws
interleavings of all of it and compares every row with the oracle.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.audit.source import recount_source
from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignVideoRow
from tests.support.removals_oracle import Created, Stats, Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
SKEW = timedelta(minutes=5)
REASON_ORDER = ("creator_deleted", "moderation", "fraud", "appeal", "other")  # the schema's, restated


def campaign(cid: str, tags: tuple[str, ...], start: timedelta = timedelta(0), end: timedelta = timedelta(days=1),
             price: str = "1.00", cap: str | None = None) -> Campaign:
    return Campaign.model_validate({
        "id": cid, "name": cid, "nonprofit": "np", "hashtags": list(tags), "donation_per_video": price,
        "currency": "USD", "starts_at": (T0 + start).isoformat(), "ends_at": (T0 + end).isoformat(),
        "donation_cap": cap,
    })


DANCE = campaign("dance", ("Dance",), timedelta(hours=1), timedelta(hours=2))
SING = campaign("sing", ("sing", "Song"))


def run(created=(), statuses=(), stats=(), campaigns=(DANCE, SING), now=NOW):
    return recount_source([e.to_json() if hasattr(e, "to_json") else e for e in created],
                          [e.to_json() if hasattr(e, "to_json") else e for e in statuses],
                          [e.to_json() if hasattr(e, "to_json") else e for e in stats],
                          campaigns, now=now, max_future_skew=SKEW)


def secs(moment: datetime) -> int:
    return int(moment.timestamp()) if moment.microsecond == 0 else int(moment.replace(microsecond=0).timestamp())


def row(cid, video, creator, created, status, status_at, reason, views=0, likes=0, shares=0, comments=0):
    at = secs(created)
    return CampaignVideoRow(cid, video, creator, at, at - at % 60, status, secs(status_at), reason, views, likes,
                            shares, comments, 0)


H1 = T0 + timedelta(hours=1, minutes=10, seconds=5)  # inside DANCE's window


def made(video="v1", tags=("#DANCE", "fyp"), at=H1, creator="ann", event="e1") -> Created:
    return Created(event, video, creator, tags, at)


# --- status: order, duplicates, removal and restoration, ties ------------------------------

def test_a_video_without_events_counts_from_its_creation():
    result = run([made()])
    assert result.rows == {"dance": {"v1": row("dance", "v1", "ann", H1, "counted", H1, "")}, "sing": {}}


def test_the_latest_status_wins_in_any_order_and_duplicates_change_nothing():
    removed = Status("s1", "v1", "removed", "moderation", H1 + timedelta(minutes=5))
    restored = Status("s2", "v1", "restored", "appeal", H1 + timedelta(minutes=9, microseconds=700_000))
    again = Status("s3", "v1", "removed", "fraud", H1 + timedelta(minutes=20))
    want_restored = row("dance", "v1", "ann", H1, "counted", H1 + timedelta(minutes=9), "appeal")
    want_removed = row("dance", "v1", "ann", H1, "removed", H1 + timedelta(minutes=20), "fraud")
    for events in ([removed, restored], [restored, removed], [restored, removed, restored, removed]):
        assert run([made()], events).rows["dance"]["v1"] == want_restored
    for events in ([removed, restored, again], [again, restored, removed], [again, again, removed]):
        assert run([made()], events).rows["dance"]["v1"] == want_removed


def test_at_an_equal_at_removed_wins_then_the_later_reason_in_the_schema():
    at = H1 + timedelta(minutes=3)
    restored = Status("s1", "v1", "restored", "other", at)  # "other" is last, but a restoration loses
    removed = Status("s2", "v1", "removed", "creator_deleted", at)
    assert run([made()], [restored, removed]).rows["dance"]["v1"] == row(
        "dance", "v1", "ann", H1, "removed", at, "creator_deleted")
    fraud = Status("s3", "v1", "removed", "fraud", at)
    for events in ([removed, fraud, restored], [fraud, restored, removed]):
        assert run([made()], events).rows["dance"]["v1"] == row("dance", "v1", "ann", H1, "removed", at, "fraud")
    appeal, other = Status("s4", "v1", "restored", "appeal", at), Status("s5", "v1", "restored", "other", at)
    assert run([made()], [other, appeal]).rows["dance"]["v1"].reason == "other"


def test_a_status_before_the_creation_counts_and_a_status_after_the_window_too():
    early = Status("s1", "v1", "removed", "moderation", H1 - timedelta(hours=5))
    late = Status("s2", "v1", "removed", "fraud", H1 + timedelta(days=3))
    assert run([made()], [early]).rows["dance"]["v1"].status == "removed"
    assert run([made()], [late]).rows["dance"]["v1"] == row("dance", "v1", "ann", H1, "removed", late.at, "fraud")


# --- stats ---------------------------------------------------------------------------------

def test_the_latest_snapshot_wins_and_equal_observations_take_each_counters_maximum():
    old = Stats("t1", "v1", 900, 90, 9, 9, H1 + timedelta(minutes=1))
    new = Stats("t2", "v1", 100, 10, 1, 1, H1 + timedelta(minutes=2))
    twin = Stats("t3", "v1", 50, 20, 0, 7, H1 + timedelta(minutes=2))
    for events in ([old, new, twin], [twin, new, old], [new, old, twin, twin]):
        got = run([made()], [], events).rows["dance"]["v1"]
        assert (got.views, got.likes, got.shares, got.comments) == (100, 20, 1, 7)


# --- the window, re-deliveries, matching -----------------------------------------------------

def test_outside_the_window_before_and_after_with_the_creation_as_status_time():
    before = made("v1", ("dance",), DANCE.starts_at - timedelta(microseconds=1), event="e1")
    edge = made("v2", ("dance",), DANCE.starts_at, event="e2")
    after = made("v3", ("Dance", "sing"), DANCE.ends_at, event="e3")
    removal = Status("s1", "v1", "removed", "fraud", H1)
    snapshot = Stats("t1", "v3", 5, 4, 3, 2, H1)
    result = run([before, edge, after], [removal], [snapshot])
    start, end = DANCE.starts_at, DANCE.ends_at
    assert result.rows["dance"] == {
        "v1": row("dance", "v1", "ann", before.created_at, "outside_window", before.created_at, "before_start"),
        "v2": row("dance", "v2", "ann", start, "counted", start, ""),
        "v3": row("dance", "v3", "ann", end, "outside_window", end, "after_end"),  # no engagement: never changes
    }
    assert result.rows["sing"] == {"v3": row("sing", "v3", "ann", end, "counted", end, "", 5, 4, 3, 2)}


def test_re_delivered_created_events_match_the_union_with_the_first_matching_creator_and_time():
    first = made("v1", ("dance",), H1, "ann", "e1")
    second = made("v1", ("song",), H1 + timedelta(minutes=3), "bob", "e2")
    result = run([first, second, first])
    assert result.rows["dance"] == {"v1": row("dance", "v1", "ann", H1, "counted", H1, "")}
    assert result.rows["sing"] == {"v1": row("sing", "v1", "ann", H1, "counted", H1, "")}
    # the first delivery matched nothing (no campaign hashtag): the worker keeps the first match's
    nothing = made("v2", ("fyp",), H1 - timedelta(hours=1), "cy", "e3")
    later = made("v2", ("dance",), H1, "di", "e4")
    assert run([nothing, later]).rows["dance"] == {"v2": row("dance", "v2", "di", H1, "counted", H1, "")}
    # outside dance's window in one delivery, inside in another: it counts, no outside_window row
    outside = made("v3", ("dance", "sing"), T0 + timedelta(hours=5), "eve", "e5")
    inside = made("v3", ("dance",), H1, "eve", "e6")
    both = run([outside, inside])
    assert both.rows["dance"]["v3"].status == "counted" and both.rows["sing"]["v3"].status == "counted"
    assert both.rows["dance"]["v3"].created_at == secs(outside.created_at)  # the first matching delivery's
    # an outside_window row is its own delivery's: creator and time (the worker writes it from it)
    late = made("v4", ("dance",), T0 + timedelta(hours=5), "fay", "e7")
    other = made("v4", ("sing",), H1, "gus", "e8")
    split = run([late, other], [Status("s1", "v4", "removed", "fraud", H1)], [Stats("t1", "v4", 9, 9, 9, 9, H1)])
    assert split.rows["dance"] == {"v4": row("dance", "v4", "fay", late.created_at, "outside_window",
                                             late.created_at, "after_end")}
    assert split.rows["sing"] == {"v4": row("sing", "v4", "gus", H1, "removed", H1, "fraud", 9, 9, 9, 9)}


def test_a_video_matching_no_campaign_and_carrying_none_of_their_tags_has_no_row():
    result = run([made("v1", ("fyp", "fun"))], [Status("s", "v1", "removed", "fraud", H1)])
    assert result.rows == {"dance": {}, "sing": {}} and result.ignored == 0


# --- bad values, events of unknown videos, time ------------------------------------------------

def test_bad_values_are_skipped_and_counted_by_topic_and_reason():
    future = made("v9", ("dance",), NOW + SKEW + timedelta(seconds=1), event="e9")
    bad_status = json.dumps({"event_id": "x", "video_id": "v1", "status": "paused", "reason": "fraud",
                             "at": H1.isoformat()}).encode()
    bad_stats = json.dumps({"event_id": "x", "video_id": "v1", "views": -1, "likes": 0, "shares": 0,
                            "comments": 0, "observed_at": H1.isoformat()}).encode()
    result = run([b"not json", None, future, made()], [bad_status], [bad_stats])
    assert dict(result.bad) == {("created", "not_json"): 2, ("created", "future_timestamp"): 1,
                                ("status", "unknown_status"): 1, ("stats", "negative_count"): 1}
    assert dict(result.read) == {"created": 4, "status": 1, "stats": 1}
    assert result.rows["dance"] == {"v1": row("dance", "v1", "ann", H1, "counted", H1, "")}
    # the same future event is valid once the clock has passed it, as the worker's would be
    assert "v9" in run([future], now=NOW + timedelta(hours=1)).rows["dance"]


def test_status_and_stats_of_videos_never_created_are_ignored_and_counted():
    result = run([made()], [Status("s1", "ghost", "removed", "fraud", H1)], [Stats("t1", "ghost", 1, 1, 1, 1, H1)])
    assert result.ignored == 2 and set(result.rows["dance"]) == {"v1"}
    assert result.summary() == {"read": {"created": 1, "status": 1, "stats": 1}, "bad": {}, "ignored": 2, "rows": 1}


def test_times_are_floored_to_whole_seconds_and_the_minute_is_the_creations():
    at = T0 + timedelta(hours=1, minutes=7, seconds=59, microseconds=999_999)
    removal = Status("s1", "v1", "removed", "other", at + timedelta(microseconds=2))  # 1 µs into the next second
    got = run([made(at=at)], [removal]).rows["dance"]["v1"]
    assert (got.created_at, got.minute, got.status_at) == (
        int((T0 + timedelta(hours=1, minutes=7, seconds=59)).timestamp()),
        int((T0 + timedelta(hours=1, minutes=7)).timestamp()),
        int((T0 + timedelta(hours=1, minutes=8)).timestamp()))


# --- the property: any interleaving of all of it equals the oracle --------------------------

TAGS = ("dance", "sing", "song", "fyp")


def oracle(created: list[Created], statuses: list[Status], stats: list[Stats], campaigns: list[Campaign]) -> dict:
    """Rows {campaign: {video: row}} by the rules, restated plainly: tags lower-cased and '#'
    stripped, half-open windows, sorting instead of merging."""
    def tags_of(c: Campaign) -> set[str]:
        return {t.lower() for t in c.hashtags}

    def carried(event: Created, c: Campaign) -> bool:
        return bool(tags_of(c) & {t.lstrip("#").lower() for t in event.hashtags})

    def inside(event: Created, c: Campaign) -> bool:
        return c.starts_at <= event.created_at < c.ends_at

    out: dict[str, dict[str, CampaignVideoRow]] = {c.id: {} for c in campaigns}
    for video in dict.fromkeys(e.video_id for e in created):
        deliveries = [e for e in created if e.video_id == video]
        matching = [e for e in deliveries if any(carried(e, c) and inside(e, c) for c in campaigns)]
        relevant = matching or [e for e in deliveries if any(carried(e, c) for c in campaigns)]
        if not relevant:
            continue
        first = relevant[0]
        mine = [s for s in statuses if s.video_id == video]
        if mine:
            latest = max(s.at for s in mine)
            at_latest = [s for s in mine if s.at == latest]
            removed = any(s.status == "removed" for s in at_latest)
            winners = [s for s in at_latest if (s.status == "removed") == removed]
            reason = max((s.reason for s in winners), key=REASON_ORDER.index)
            status_at = latest
        else:
            removed, reason, status_at = False, "", first.created_at
        snaps = [s for s in stats if s.video_id == video]
        if snaps:
            last = max(s.observed_at for s in snaps)
            top = [s for s in snaps if s.observed_at == last]
            engagement = tuple(max(getattr(s, n) for s in top) for n in ("views", "likes", "shares", "comments"))
        else:
            engagement = (0, 0, 0, 0)
        for c in campaigns:
            if any(carried(e, c) and inside(e, c) for e in deliveries):
                out[c.id][video] = row(c.id, video, first.creator_id, first.created_at,
                                       "removed" if removed else "counted", status_at, reason, *engagement)
            elif any(carried(e, c) for e in deliveries):
                it = next(e for e in deliveries if carried(e, c))
                out[c.id][video] = row(c.id, video, it.creator_id, it.created_at, "outside_window", it.created_at,
                                       "before_start" if it.created_at < c.starts_at else "after_end")
    return out


def _moment(draw) -> datetime:
    return T0 + timedelta(minutes=draw(st.integers(0, 200)), microseconds=draw(st.sampled_from((0, 1, 500_000))))


@st.composite
def mixes(draw):
    videos = [f"v{i}" for i in range(draw(st.integers(1, 6)))]
    created, statuses, stats = [], [], []
    for n in range(draw(st.integers(0, 14))):
        tags = tuple(draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3)))
        created.append(Created(f"c{n}", draw(st.sampled_from(videos)), draw(st.sampled_from(("ann", "bob"))),
                               tags, _moment(draw)))
    for n in range(draw(st.integers(0, 12))):
        statuses.append(Status(f"s{n}", draw(st.sampled_from([*videos, "ghost"])),
                               draw(st.sampled_from(("removed", "restored"))), draw(st.sampled_from(REASON_ORDER)),
                               T0 + timedelta(minutes=draw(st.integers(0, 4)))))  # few times: many ties
    for n in range(draw(st.integers(0, 12))):
        stats.append(Stats(f"t{n}", draw(st.sampled_from([*videos, "ghost"])), *(draw(st.integers(0, 9))
                           for _ in range(4)), T0 + timedelta(minutes=draw(st.integers(0, 3)))))
    return created, statuses, stats, draw(st.randoms())


@settings(max_examples=400, deadline=None)
@given(mixes())
def test_any_mix_gives_the_oracles_rows(mix):
    created, statuses, stats, rng = mix
    campaigns = [campaign("dance", ("Dance",), timedelta(minutes=30), timedelta(minutes=90)),
                 campaign("sing", ("sing", "SONG"), timedelta(minutes=60), timedelta(minutes=150))]
    want = oracle(created, statuses, stats, campaigns)
    for shuffle in (False, True):  # status and stats order never matters (created order does)
        s, t = list(statuses), list(stats)
        if shuffle:
            rng.shuffle(s)
            rng.shuffle(t)
        result = run(created, s, t, campaigns)
        assert result.rows == want
    known = {e.video_id for e in created}
    assert result.ignored == sum(1 for e in [*statuses, *stats] if e.video_id not in known)


def test_the_oracle_and_the_recount_agree_on_a_large_shuffled_mix():
    rng = random.Random(14)
    campaigns = [DANCE, SING, campaign("capped", ("dance", "fyp"), cap="3.00")]
    created = [made(f"v{i}", tuple(rng.sample(TAGS, rng.randint(1, 3))),
                    T0 + timedelta(minutes=rng.randint(0, 400), microseconds=rng.randint(0, 999_999)),
                    f"creator-{rng.randint(0, 30)}", f"e{i}") for i in range(600)]
    created += rng.sample(created, 100)  # re-deliveries
    statuses = [Status(f"s{i}", f"v{rng.randint(0, 650)}", rng.choice(("removed", "restored")),
                       rng.choice(REASON_ORDER), T0 + timedelta(minutes=rng.randint(0, 30))) for i in range(400)]
    stats = [Stats(f"t{i}", f"v{rng.randint(0, 650)}", *(rng.randint(0, 10**6) for _ in range(4)),
                   T0 + timedelta(minutes=rng.randint(0, 30))) for i in range(400)]
    result = run(created, statuses, stats, campaigns)
    assert result.rows == oracle(created, statuses, stats, campaigns)
    statuses_of = {r.status for rows in result.rows.values() for r in rows.values()}
    assert statuses_of == {"counted", "removed", "outside_window"}
