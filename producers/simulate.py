"""``forgood produce --simulate``: realistic video-created traffic for the applied campaigns.

What it makes, per second of ``rate`` events:

* creators drawn from a fixed pool with Pareto weights (a few prolific creators, a long tail
  making one or two videos);
* videos that carry one campaign hashtag (most), two or three (some), or none (a quarter:
  ordinary traffic), in mixed case and sometimes with ``#``, beside everyday tags;
* ``created_at`` a few seconds before now, and now and then minutes late;
* a share of re-deliveries: an earlier event sent again byte for byte.

Runs for ``duration`` seconds (0 = until interrupted) and paces itself to the rate.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


@dataclass(frozen=True)
class TrafficShape:
    """Knobs of the simulated traffic (shares are probabilities per event)."""

    creators: int = 20_000
    pareto_alpha: float = 1.2
    no_campaign_share: float = 0.25
    multi_campaign_share: float = 0.15
    duplicate_share: float = 0.03
    late_share: float = 0.02


class TrafficGenerator:
    """Deterministic for a given seed (apart from the wall clock in ``created_at``)."""

    def __init__(self, campaigns: list[Campaign], seed: int | None = None,
                 shape: TrafficShape = TrafficShape()) -> None:
        self.rng = random.Random(seed)
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
            "created_at": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "region": rng.choice(REGIONS),
        }
        raw = orjson.dumps(event)
        self._recent.append(raw)
        return raw, False


def simulate(
    settings: Settings,
    campaigns: list[Campaign],
    *,
    rate: float,
    duration: float,
    seed: int | None = None,
    show_progress: bool = True,
) -> SendReport:
    """Send simulated events at ``rate``/s for ``duration`` s (0: until Ctrl-C). Blocks."""
    generator = TrafficGenerator(campaigns, seed)
    producer = make_producer(settings, client_id="forgood-simulator")
    report = SendReport()
    started = time.monotonic()
    try:
        with Live(Text(""), refresh_per_second=4, console=Console(quiet=not show_progress)) as live:
            while duration <= 0 or time.monotonic() - started < duration:
                elapsed = time.monotonic() - started
                due = int(rate * elapsed) + 1 - report.sent
                now = datetime.now(UTC)
                for _ in range(max(0, due)):
                    raw, duplicate = generator.next_event(now)
                    send_raw(producer, settings.video_topic, raw, report)
                    report.duplicates += duplicate
                live.update(
                    Text(
                        f"simulating: {report.sent:,} events sent ({report.duplicates:,} re-deliveries), "
                        f"{report.acked:,} acknowledged, {elapsed:,.0f}s at {rate:,.0f}/s"
                    )
                )
                time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    return finish(producer, report)
