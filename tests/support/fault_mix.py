"""Status and stats events for the fault-injection suite's drawn videos, and the send plan that
interleaves them with its created chunks (issue 13).

:func:`created_of` reads the created events back from the generated lines (for the oracle of
:mod:`tests.support.removals_oracle`); :func:`status_and_stats` draws, from a seeded
``random.Random``, removals and restorations (alone, later restored, equal-``at`` pairs, a
restoration a microsecond later, removed again) and engagement snapshots (growing, some with
equal ``observed_at`` and different counters) for some of the videos, plus a few events of
videos never created; :func:`interleave` places them, their re-deliveries and the bad inputs
among the created chunks — every item a ``(topic, raw bytes)`` pair — with some removals sent
before their video's created event. Every kind is present at least once whatever the draw.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta

from tests.support.removals_oracle import Created, Stats, Status

REMOVAL = ("creator_deleted", "moderation", "fraud", "other")
#: How a removed video's status events go (its state in brackets):
#: removed [removed]; restored later [live]; restored at the same ``at`` [removed wins];
#: equal pair then restored later [live]; restored then removed again [removed]; restored a
#: microsecond later [live].
SCENARIOS = ("removed", "restored", "equal_at", "equal_then_restored", "removed_again", "restored_1us")


def created_of(lines: list[bytes], invalid: set[bytes]) -> list[Created]:
    """The created events among ``lines`` (re-deliveries included, bad inputs left out)."""
    out = []
    for raw in lines:
        if raw in invalid:
            continue
        e = json.loads(raw)
        out.append(Created(e["event_id"], e["video_id"], e["creator_id"], tuple(e["hashtags"]),
                           datetime.fromisoformat(e["created_at"].replace("Z", "+00:00"))))
    return out


def _statuses(rng: random.Random, n: int, video: str, at: datetime, scenario: str) -> list[Status]:
    def removed(k: int, when: datetime) -> Status:
        return Status(f"s-{n}-{k}", video, "removed", rng.choice(REMOVAL), when)

    def restored(k: int, when: datetime) -> Status:
        return Status(f"s-{n}-{k}", video, "restored", "appeal", when)

    later = at + timedelta(minutes=rng.randint(1, 20), seconds=rng.randint(0, 59))
    return {
        "removed": [removed(0, at)],
        "restored": [removed(0, at), restored(1, later)],
        "equal_at": [removed(0, at), restored(1, at)],
        "equal_then_restored": [removed(0, at), restored(1, at), restored(2, later)],
        "removed_again": [removed(0, at), restored(1, later), removed(2, later + timedelta(minutes=1))],
        "restored_1us": [removed(0, at), restored(1, at + timedelta(microseconds=1))],
    }[scenario]


def _snapshots(rng: random.Random, n: int, video: str, at: datetime, tie: bool) -> list[Stats]:
    out, views = [], 0
    big = rng.random() < 0.02  # a viral one: sums reach the tens of millions and more
    for k in range(rng.randint(1, 3)):
        views += rng.randint(0, 80_000_000 if big else 50_000)
        out.append(Stats(f"t-{n}-{k}", video, views, views // 10, views // 100, views // 50,
                         at + timedelta(minutes=10 * (k + 1), seconds=rng.randint(0, 59))))
    if tie:  # the same observed_at as the latest, counters larger and smaller: each counter's max
        last = out[-1]
        out.append(Stats(f"t-{n}-tie", video, max(0, last.views + rng.randint(-5, 5) * 1000), last.likes + 7,
                         max(0, last.shares - 3), last.comments, last.observed_at))
    return out


def status_and_stats(created: list[Created], rng: random.Random, removal_share: float,
                     stats_share: float) -> tuple[list[Status | Stats], set[str], dict]:
    """Status and stats events for some of ``created``'s videos (each scenario and an equal
    ``observed_at`` at least once), a few for videos never created, the event ids of the
    removals to send before their video's created event, and a summary of what is in them."""
    videos = list({c.video_id: c for c in created}.values())
    summary: Counter[str] = Counter()
    events: list[Status | Stats] = []
    early: set[str] = set()
    removed = rng.sample(range(len(videos)), max(len(SCENARIOS), int(len(videos) * removal_share)))
    for i, n in enumerate(removed):
        video = videos[n]
        scenario = SCENARIOS[i] if i < len(SCENARIOS) else rng.choice(SCENARIOS)
        at = video.created_at + timedelta(minutes=rng.randint(1, 30), seconds=rng.randint(0, 59))
        statuses = _statuses(rng, n, video.video_id, at, scenario)
        events += statuses
        summary[scenario] += 1
        summary["removals"] += sum(s.status == "removed" for s in statuses)
        summary["restorations"] += sum(s.status == "restored" for s in statuses)
        if i == 0 or rng.random() < 0.3:
            early.add(statuses[0].event_id)
    with_stats = rng.sample(range(len(videos)), max(2, int(len(videos) * stats_share)))
    for i, n in enumerate(with_stats):
        video = videos[n]
        snapshots = _snapshots(rng, n, video.video_id, video.created_at, tie=i == 0 or rng.random() < 0.1)
        summary["snapshots"] += len(snapshots)
        summary["equal observed_at"] += snapshots[-1].event_id.endswith("-tie")
        events += snapshots
    for g in range(2):  # never created: held, then dropped after the TTL; they change nothing
        ghost = f"ghost-{rng.getrandbits(32):08x}-{g}"
        events.append(Status(f"sg-{g}", ghost, "removed", "fraud", videos[0].created_at))
        events.append(Stats(f"tg-{g}", ghost, 10**6, 10**5, 10**4, 10**3, videos[0].created_at))
    summary["ghosts"] = 4
    summary["early"] = len(early)
    return events, early, dict(summary)


def interleave(
    created_chunks: list[list[bytes]], video_topic: str, extra: list[tuple[str, bytes, str | None]],
    early: set[str], rng: random.Random, duplicate_share: float,
) -> tuple[list[list[tuple[str, bytes]]], int]:
    """Each created chunk as ``(video_topic, raw)`` items with ``extra`` — ``(topic, raw,
    event id or None)`` — placed at random among them; those whose event id is in ``early``
    are placed before their video's first created event (the chunk holding it or an earlier
    one). ``duplicate_share`` of ``extra`` is re-delivered once more anywhere. Returns the
    chunks and how many re-deliveries were added."""
    first: dict[str, tuple[int, int]] = {}
    for c, chunk in enumerate(created_chunks):
        for j, raw in enumerate(chunk):
            try:
                video = json.loads(raw).get("video_id")
            except (ValueError, AttributeError):
                continue
            if isinstance(video, str) and (video not in first or first[video] > (c, j)):
                first[video] = (c, j)
    placed: list[list[tuple[float, str, bytes]]] = [
        [(float(j), video_topic, raw) for j, raw in enumerate(chunk)] for chunk in created_chunks
    ]
    redeliveries = rng.sample(extra, int(len(extra) * duplicate_share))
    for k, (topic, raw, event_id) in enumerate([*extra, *redeliveries]):
        if k < len(extra) and event_id in early:
            video = json.loads(raw)["video_id"]
            c, j = first[video]
            c = rng.randint(0, c)
            end = j if c == first[video][0] else len(created_chunks[c])
            placed[c].append((rng.uniform(-0.5, end - 0.5), topic, raw))
        else:
            c = rng.randrange(len(created_chunks))
            placed[c].append((rng.uniform(-0.5, len(created_chunks[c]) - 0.5), topic, raw))
    chunks = [[(topic, raw) for _, topic, raw in sorted(chunk, key=lambda x: x[0])] for chunk in placed]
    return chunks, len(redeliveries)
