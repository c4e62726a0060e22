"""Removals and engagement end to end on the real stack (issue 13), against the independent oracle.

Created, status and stats events — with re-deliveries, status events sent before their video,
removals later restored, removals in a campaign far over its cap, and older snapshots after
newer ones — are replayed byte for byte with ``forgood produce --from FILE --topic TOPIC`` in
interleaved files, while the worker is SIGKILLed and restarted in the middle. ClickHouse's
``campaign_totals`` (every figure) and ``campaign_minutes``, and the live API, must end exactly
at what :mod:`tests.support.removals_oracle` computes from the whole event list.
"""

from __future__ import annotations

import random
import signal
from datetime import timedelta

import pytest

from forgood.domain.campaigns import load_campaign_file
from producers.campaigns import publish_campaigns
from tests.support.eventset import BASE, make_campaigns, write_campaigns, write_events
from tests.support.readback import read_back, read_back_counts
from tests.support.reconciling import assert_reconciles
from tests.support.removals_oracle import TOTAL_FIELDS, Created, Event, Stats, Status, audit_oracle, oracle
from tests.support.serving import COUNTS, api_counts, free_port, start_serve, wait_ready
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SETTLE_S = 180
REASONS = ("creator_deleted", "moderation", "fraud", "other")


def generate(seed: int, videos: int) -> tuple[list[Created], list[Status], list[Status], list[Stats], dict]:
    """Created events, early status events (removals, some of videos not created yet when
    they are sent), late status events (more removals and restorations), stats snapshots
    (growing, some sent out of order), and a summary of what is in them."""
    rng = random.Random(seed)
    campaigns = make_campaigns()
    tags = [t for c in campaigns for t in c.hashtags] + ["CapMe"] * 6  # the capped campaign goes far over its cap
    created, early, late, stats = [], [], [], []
    summary = {"removed": 0, "restored": 0, "snapshots": 0}
    for n in range(videos):
        video = f"v-{seed}-{n}"
        at = BASE + timedelta(minutes=rng.randint(-40, 70), seconds=rng.randint(0, 59))
        created.append(Created(f"e-{n}", video, f"creator-{rng.randrange(videos // 3)}",
                               (rng.choice(tags), rng.choice(["fyp", "fun"])), at))
        if rng.random() < 0.12:
            removed_at = at + timedelta(minutes=rng.randint(1, 30))
            (early if rng.random() < 0.5 else late).append(
                Status(f"s-{n}", video, "removed", rng.choice(REASONS), removed_at))
            summary["removed"] += 1
            if rng.random() < 0.3:
                late.append(Status(f"r-{n}", video, "restored", "appeal", removed_at + timedelta(minutes=5)))
                summary["restored"] += 1
        if rng.random() < 0.4:
            views = 0
            for k in range(rng.randint(1, 3)):
                views += rng.randint(0, 50_000)
                stats.append(Stats(f"t-{n}-{k}", video, views, views // 10, views // 100, views // 50,
                                   at + timedelta(minutes=10 * (k + 1))))
                summary["snapshots"] += 1
    # Never created: held, then dropped after the TTL; they change nothing.
    early.append(Status("s-ghost", f"v-{seed}-ghost", "removed", "fraud", BASE))
    rng.shuffle(stats)  # older snapshots after newer ones
    return created, early, late, stats, summary


def lines(events: list[Event], rng: random.Random, duplicates: float = 0.1) -> list[bytes]:
    out = [e.to_json() for e in events]
    for raw in rng.sample(out, int(len(out) * duplicates)):  # re-deliveries, anywhere
        out.insert(rng.randint(0, len(out)), raw)
    return out


def test_removals_and_engagement_end_exactly_as_the_oracle_says_across_a_worker_crash(
    run_settings, procs, clickhouse, tmp_path
):
    campaigns = make_campaigns()
    publish_campaigns(run_settings, load_campaign_file(write_campaigns(tmp_path, campaigns)))
    created, early, late, stats, summary = generate(seed=13, videos=2000)
    every: list[Event] = [*created, *early, *late, *stats]
    totals, minutes = oracle(every, campaigns)
    assert summary["removed"] > 100 and summary["restored"] > 20 and summary["snapshots"] > 500
    capped = totals["capped-gbp"]
    assert capped["removed"] > 0 and capped["videos"] * 200 > 5_000, "a removal must happen over the cap"
    assert sum(t["removed"] for t in totals.values()) > 0 and sum(t["views"] for t in totals.values()) > 0

    rng = random.Random(1)
    half = len(created) // 2
    files = {
        "early-status": (write_events(tmp_path, "early-status.jsonl", lines(early, rng)), "status"),
        "created-1": (write_events(tmp_path, "created-1.jsonl", lines(created[:half], rng)), "created"),
        "stats": (write_events(tmp_path, "stats.jsonl", lines(stats, rng)), "stats"),
        "created-2": (write_events(tmp_path, "created-2.jsonl", lines(created[half:], rng)), "created"),
        "late-status": (write_events(tmp_path, "late-status.jsonl", lines(late, rng)), "status"),
    }

    def produce(name: str) -> None:
        path, topic = files[name]
        done = procs.run("produce", "--from", str(path), "--topic", topic, "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr

    db = run_settings.clickhouse.database
    port = free_port()
    procs.start("worker", "worker")
    procs.start("sink", "sink")
    start_serve(procs, port)
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, procs)

    produce("early-status")  # removals of videos the worker has not seen yet: held
    produce("created-1")
    wait_until(lambda: sum(t[0] for t in read_back_counts(clickhouse, db).values()) > 0, 120,
               what="first counts in ClickHouse")
    assert procs.kill("worker", signal.SIGKILL) == -signal.SIGKILL
    procs.start("worker", "worker")
    produce("stats")
    produce("created-2")
    produce("late-status")

    want = {cid: tuple(row[f] for f in TOTAL_FIELDS) for cid, row in totals.items()}
    order = [COUNTS.index(f) for f in TOTAL_FIELDS]

    def got_totals() -> dict:
        return {cid: tuple(row[i] for i in order) for cid, row in read_back_counts(clickhouse, db).items()}

    def settled() -> bool:
        return got_totals() == want and read_back(clickhouse, db)[1] == minutes

    try:
        wait_until(settled, SETTLE_S, what="ClickHouse to equal the oracle")
    except AssertionError:
        have = got_totals()
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        have_minutes = read_back(clickhouse, db)[1]
        mdiff = {k: (have_minutes.get(k), v) for k, v in minutes.items() if have_minutes.get(k) != v}
        pytest.fail(f"totals diff (got, want) in {TOTAL_FIELDS}: {diff}\nminute diffs: {len(mdiff)} "
                    f"e.g. {list(mdiff.items())[:5]}\n{procs.tail()}")

    # The audit trail: one row per campaign and video that carried its hashtags, as the oracle says.
    want_trail = audit_oracle(every, campaigns)
    assert {row[2] for row in want_trail.values()} == {"counted", "removed", "outside_window"}

    def trail() -> dict:
        rows = clickhouse.execute(
            f"SELECT campaign_id, video_id, creator_id, toUInt32(created_at), status, toUInt32(status_at), reason, "
            f"views, likes, shares, comments, toUInt32(minute) FROM {db}.campaign_videos")
        assert all(r[-1] == r[3] - r[3] % 60 for r in rows)
        return {(r[0], r[1]): tuple(r[2:-1]) for r in rows}

    try:
        wait_until(lambda: trail() == want_trail, 60, what="campaign_videos to equal the oracle's audit trail")
    except AssertionError:
        have = trail()
        diff = {k: (have.get(k), v) for k, v in want_trail.items() if have.get(k) != v}
        extra = [k for k in have if k not in want_trail]
        pytest.fail(f"{len(diff)} audit rows differ (got, want), e.g. {list(diff.items())[:5]}; extra: {extra[:5]}")

    # The live API agrees with ClickHouse, figure by figure.
    api_order = [COUNTS.index(f) for f in TOTAL_FIELDS]
    wait_until(lambda: {cid: tuple(row[i] for i in api_order) for cid, row in api_counts(base).items()} == want,
               60, what="the API to equal the oracle")

    # Issue 14: every figure recounted from campaign_videos and from the source topics agrees
    # (the campaigns' terms never changed during the run).
    assert_reconciles(procs, "--from-source")
