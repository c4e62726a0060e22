"""``forgood produce --simulate``: realistic traffic on the three source topics for the applied
campaigns.

What it makes, per second of ``rate`` new videos (``video-created`` events):

* creators drawn from a fixed pool with Pareto weights (a few prolific creators, a long tail
  making one or two videos);
* videos that carry one campaign hashtag (most), two or three (some), or none (a quarter:
  ordinary traffic), in mixed case and sometimes with ``#``, beside everyday tags;
* ``created_at`` a few seconds before now, and now and then minutes late;
* a share of re-deliveries: an earlier event sent again byte for byte.

And, on top of that (each part can be turned off: ``--no-removals``, ``--no-stats``):

* **removals** (``video-status``): a few per cent of videos are removed (``moderation``,
  ``creator_deleted``, ``fraud`` or ``other``) a few seconds to two minutes after they are
  posted; for some of them the removal is sent *before* the video's created event (which
  follows a few seconds later, as when the status topic runs ahead); some removed videos are
  restored later (``appeal`` mostly);
* **engagement** (``video-stats``): a share of videos gets periodic snapshots of their
  absolute counters (views, likes, shares, comments), each at least as large as the last and
  with a later ``observed_at``.

Follow-up events are due at wall-clock times; :class:`TrafficGenerator` takes ``now`` from its
caller, so tests drive it with a clock of their own. Runs for ``duration`` seconds (0 = until
interrupted) and paces itself to the rate; at the end, created events held back behind their
removal are sent, follow-ups not yet due are not.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
from rich.console import Console
from rich.live import Live
from rich.text import Text

from forgood.domain.campaigns import Campaign
from forgood.domain.kafka import make_producer
from forgood.domain.settings import Settings
from producers.sending import SendReport, finish, send_raw

EVERYDAY_TAGS = ("fyp", "foryou", "dance", "music", "charity", "viral", "weekend", "tutorial")
REGIONS = ("GB", "US", "DE", "FR", "NG", "IN", "BR", "JP", "AU", "KE")
#: Why a video is removed, with weights (``appeal`` is a restoration's reason).
REMOVAL_REASONS = (("moderation", 0.5), ("creator_deleted", 0.3), ("fraud", 0.1), ("other", 0.1))
#: Why a video is restored, with weights.
RESTORE_REASONS = (("appeal", 0.85), ("other", 0.15))

Role = Literal["created", "status", "stats"]


@dataclass(frozen=True)
class TrafficShape:
    """Knobs of the simulated traffic (shares are probabilities: per created event for the
    first block, per new video for ``removed_share`` and ``stats_share``, per removed video for
    ``status_first_share`` and ``restored_share``)."""

    creators: int = 20_000
    pareto_alpha: float = 1.2
    no_campaign_share: float = 0.25
    multi_campaign_share: float = 0.15
    duplicate_share: float = 0.03
    late_share: float = 0.02
    removed_share: float = 0.03
    status_first_share: float = 0.2
    restored_share: float = 0.3
    stats_share: float = 0.3
    stats_snapshots: int = 4
    stats_interval_s: float = 15.0


#: The shape without follow-ups: only ``video-created`` events, as before issue 13.
CREATED_ONLY = TrafficShape(removed_share=0.0, stats_share=0.0)


@dataclass(frozen=True)
class Outgoing:
    """One record to send: the source topic by role, the value bytes, whether a re-delivery."""

    role: Role
    value: bytes
    duplicate: bool = False


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TrafficGenerator:
    """Deterministic for a given seed and sequence of ``now`` values.

    :meth:`next_event` makes one created event (as before issue 13); :meth:`next_records` does
    the same and plans the video's follow-ups; :meth:`due_records` gives the follow-ups whose
    time has come; :meth:`held_records` the created events still held back behind their removal.
    Follow-ups draw from a random stream of their own, so the created events of a seed are the
    same with or without them.
    """

    def __init__(self, campaigns: list[Campaign], seed: int | None = None,
                 shape: TrafficShape = TrafficShape()) -> None:
        self.rng = random.Random(seed)
        self.follow_rng = random.Random(self.rng.getrandbits(64))
        self.shape = shape
        self.campaigns = campaigns
        weights = [self.rng.paretovariate(shape.pareto_alpha) for _ in range(shape.creators)]
        self._creator_ids = [f"u_{i}" for i in range(shape.creators)]
        self._cum_weights = []
        acc = 0.0
        for w in weights:
            acc += w
            self._cum_weights.append(acc)
        self._recent: deque[bytes] = deque(maxlen=2000)
        self._serial = 0
        self._follow_serial = 0
        self._last: dict | None = None
        # (due, tie-breaker, action): a created event held back, a status or a stats snapshot.
        self._plan: list[tuple[datetime, int, tuple]] = []
        self._order = itertools.count()

    def _styled(self, tag: str) -> str:
        style = self.rng.random()
        if style < 0.3:
            tag = tag.lower()
        elif style < 0.45:
            tag = tag.upper()
        return ("#" + tag) if self.rng.random() < 0.3 else tag

    def next_event(self, now: datetime) -> tuple[bytes, bool]:
        """One event's bytes, and whether it is a re-delivery of an earlier one."""
        rng, shape = self.rng, self.shape
        self._last = None
        if self._recent and rng.random() < shape.duplicate_share:
            return rng.choice(self._recent), True
        self._serial += 1
        created = now - timedelta(seconds=rng.uniform(0, 3))
        if rng.random() < shape.late_share:
            created -= timedelta(minutes=rng.uniform(1, 30))
        tags = list(rng.sample(EVERYDAY_TAGS, rng.randint(0, 3)))
        live = [c for c in self.campaigns if c.holds(created)]
        if live and rng.random() >= shape.no_campaign_share:
            k = rng.randint(2, 3) if rng.random() < shape.multi_campaign_share else 1
            for campaign in rng.sample(live, min(k, len(live))):
                tags.append(self._styled(rng.choice(campaign.hashtags)))
        if not tags:
            tags.append(rng.choice(EVERYDAY_TAGS))
        rng.shuffle(tags)
        creator = rng.choices(self._creator_ids, cum_weights=self._cum_weights)[0]
        event = {
            "event_id": f"e-{self._serial:x}-{rng.getrandbits(32):08x}",
            "video_id": f"{rng.getrandbits(60)}",
            "creator_id": creator,
            "hashtags": tags,
            "created_at": _rfc3339(created),
            "region": rng.choice(REGIONS),
        }
        raw = orjson.dumps(event)
        self._recent.append(raw)
        self._last = event
        return raw, False

    # --- follow-ups ----------------------------------------------------------------------

    def next_records(self, now: datetime) -> list[Outgoing]:
        """A new video's created event (or a re-delivery), planning its follow-ups. When the
        video's removal overtakes it, the removal is returned instead and the created event is
        held back a few seconds (:meth:`due_records` gives it, or :meth:`held_records`)."""
        raw, duplicate = self.next_event(now)
        event = self._last
        if duplicate or event is None:
            return [Outgoing("created", raw, duplicate)]
        rng, shape = self.follow_rng, self.shape
        video_id = event["video_id"]
        created_at = datetime.fromisoformat(event["created_at"])
        out: list[Outgoing] = []
        if rng.random() < shape.removed_share:
            if rng.random() < shape.status_first_share:
                # The removal overtakes the video: sent now, the created event a little later.
                out.append(Outgoing("status", self._status(video_id, "removed", now)))
                self._schedule(now + timedelta(seconds=rng.uniform(1, 10)), ("created", raw))
                removed_at = now
            else:
                out.append(Outgoing("created", raw))
                removed_at = now + timedelta(seconds=rng.uniform(5, 120))
                self._schedule(removed_at, ("status", video_id, "removed"))
            if rng.random() < shape.restored_share:
                self._schedule(removed_at + timedelta(seconds=rng.uniform(10, 300)), ("status", video_id, "restored"))
        else:
            out.append(Outgoing("created", raw))
        if shape.stats_snapshots > 0 and rng.random() < shape.stats_share:
            first = max(now, created_at) + timedelta(seconds=rng.uniform(0.2, 1.0) * shape.stats_interval_s)
            self._schedule(first, ("stats", video_id, shape.stats_snapshots, (0, 0, 0, 0)))
        return out

    def due_records(self, now: datetime) -> list[Outgoing]:
        """The follow-ups due at or before ``now``, in due order (a snapshot plans the next)."""
        out: list[Outgoing] = []
        while self._plan and self._plan[0][0] <= now:
            due, _, action = heapq.heappop(self._plan)
            out.append(self._act(due, action))
        return out

    def held_records(self) -> list[Outgoing]:
        """The created events still held back behind their removal (sent when a run ends, so
        every video whose removal was sent is also created); they leave the plan."""
        held = [action for _, _, action in sorted(self._plan) if action[0] == "created"]
        self._plan = [entry for entry in self._plan if entry[2][0] != "created"]
        heapq.heapify(self._plan)
        return [Outgoing("created", raw) for _, raw in held]

    @property
    def planned(self) -> int:
        """Follow-ups planned and not yet due."""
        return len(self._plan)

    def _schedule(self, due: datetime, action: tuple) -> None:
        heapq.heappush(self._plan, (due, next(self._order), action))

    def _act(self, due: datetime, action: tuple) -> Outgoing:
        kind = action[0]
        if kind == "created":
            return Outgoing("created", action[1])
        if kind == "status":
            return Outgoing("status", self._status(action[1], action[2], due))
        _, video_id, left, last = action
        counters = self._grown(last)
        if left > 1:
            gap = self.follow_rng.uniform(0.5, 1.5) * self.shape.stats_interval_s
            self._schedule(due + timedelta(seconds=gap), ("stats", video_id, left - 1, counters))
        return Outgoing("stats", self._stats(video_id, counters, due))

    def _status(self, video_id: str, status: str, at: datetime) -> bytes:
        reasons = REMOVAL_REASONS if status == "removed" else RESTORE_REASONS
        reason = self.follow_rng.choices([r for r, _ in reasons], weights=[w for _, w in reasons])[0]
        return orjson.dumps({"event_id": self._event_id("s"), "video_id": video_id, "status": status,
                             "reason": reason, "at": _rfc3339(at)})

    def _grown(self, last: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """The next snapshot's counters: views grow by a heavy-tailed step, the others by a
        share of the new views; never smaller than the last."""
        rng = self.follow_rng
        views, likes, shares, comments = last
        new_views = int(rng.paretovariate(1.1) * 50)
        return (views + new_views, likes + int(new_views * rng.uniform(0.02, 0.12)),
                shares + int(new_views * rng.uniform(0.0, 0.02)),
                comments + int(new_views * rng.uniform(0.0, 0.03)))

    def _stats(self, video_id: str, counters: tuple[int, int, int, int], observed_at: datetime) -> bytes:
        views, likes, shares, comments = counters
        return orjson.dumps({"event_id": self._event_id("v"), "video_id": video_id, "views": views,
                             "likes": likes, "shares": shares, "comments": comments,
                             "observed_at": _rfc3339(observed_at)})

    def _event_id(self, prefix: str) -> str:
        self._follow_serial += 1
        return f"{prefix}-{self._follow_serial:x}-{self.follow_rng.getrandbits(32):08x}"


def simulate(
    settings: Settings,
    campaigns: list[Campaign],
    *,
    rate: float,
    duration: float,
    seed: int | None = None,
    show_progress: bool = True,
    shape: TrafficShape = TrafficShape(),
) -> SendReport:
    """Send simulated events: ``rate`` new videos per second and their follow-ups, for
    ``duration`` s (0: until Ctrl-C). Blocks; raises ``ProducerError`` if a send fails."""
    generator = TrafficGenerator(campaigns, seed, shape)
    topics: dict[Role, str] = {"created": settings.video_topic, "status": settings.status_topic,
                               "stats": settings.stats_topic}
    producer = make_producer(settings, client_id="forgood-simulator")
    report = SendReport()
    report.by_topic.update(dict.fromkeys(topics.values(), 0))  # reported in this order, even if none sent
    videos = 0

    def send(records: list[Outgoing]) -> None:
        for record in records:
            send_raw(producer, topics[record.role], record.value, report)
            report.duplicates += record.duplicate

    started = time.monotonic()
    try:
        with Live(Text(""), refresh_per_second=4, console=Console(quiet=not show_progress)) as live:
            while duration <= 0 or time.monotonic() - started < duration:
                elapsed = time.monotonic() - started
                due = int(rate * elapsed) + 1 - videos
                now = datetime.now(UTC)
                for _ in range(max(0, due)):
                    send(generator.next_records(now))
                    videos += 1
                send(generator.due_records(now))
                live.update(
                    Text(
                        f"simulating: {report.sent:,} events sent ({report.per_topic()}; "
                        f"{report.duplicates:,} re-deliveries), {report.acked:,} acknowledged, "
                        f"{elapsed:,.0f}s at {rate:,.0f} videos/s"
                    )
                )
                time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    send(generator.held_records())
    return finish(producer, report)
