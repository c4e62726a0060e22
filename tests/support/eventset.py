"""A generated event set with a known answer, and an oracle written independently of forgood.

The oracle re-states the counting rules in the plainest possible code (lower-case, strip '#',
half-open windows, one count per (campaign, video), distinct creators, event-time-ordered
cap) so that the pipeline's answer is checked against something other than itself.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

#: Three hours before the current hour: every in-window event lies safely in the past.
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


@dataclass(frozen=True)
class OracleCampaign:
    id: str
    hashtags: tuple[str, ...]
    price_minor: int
    cap_minor: int | None
    currency: str
    starts_at: datetime
    ends_at: datetime

    def yaml_entry(self) -> dict:
        digits = 0 if self.currency == "JPY" else 2
        major = lambda minor: str(Decimal(minor).scaleb(-digits))  # noqa: E731
        entry = {
            "id": self.id,
            "name": self.id.replace("-", " ").title(),
            "nonprofit": "Test Nonprofit",
            "hashtags": list(self.hashtags),
            "donation_per_video": major(self.price_minor),
            "currency": self.currency,
            "starts_at": self.starts_at.isoformat().replace("+00:00", "Z"),
            "ends_at": self.ends_at.isoformat().replace("+00:00", "Z"),
        }
        if self.cap_minor is not None:
            entry["donation_cap"] = major(self.cap_minor)
        return entry


def make_campaigns() -> list[OracleCampaign]:
    """Four campaigns: plain, capped (will hit its cap), narrow window, and one sharing a tag."""
    day = timedelta(days=1)
    return [
        OracleCampaign("plain-usd", ("PlainTag", "AlsoPlain"), 100, None, "USD", BASE - day, BASE + day),
        OracleCampaign("capped-gbp", ("CapMe",), 200, 5_000, "GBP", BASE - day, BASE + day),
        OracleCampaign("narrow-window", ("Narrow",), 50, None, "EUR", BASE, BASE + timedelta(minutes=30)),
        OracleCampaign("shared-jpy", ("PlainTag", "Yen"), 10, 3_000, "JPY", BASE - day, BASE + day),
    ]


def _style(rng: random.Random, tag: str) -> str:
    tag = rng.choice([tag, tag.lower(), tag.upper(), tag.swapcase()])
    return "#" + tag if rng.random() < 0.4 else tag


def generate(
    seed: int,
    videos: int,
    campaigns: list[OracleCampaign],
    duplicate_share: float = 0.15,
    invalid: list[bytes] | None = None,
) -> tuple[list[bytes], dict]:
    """Event lines (bytes, with duplicates, late, out-of-window, unmatched and invalid ones)
    and a summary of what was injected. ``invalid`` defaults to a fixed set of bad events."""
    rng = random.Random(seed)
    creators = [f"creator-{i}" for i in range(max(5, videos // 4))]
    tags = [t for c in campaigns for t in c.hashtags]
    lines: list[bytes] = []
    summary = defaultdict(int)
    for n in range(videos):
        k = rng.choice([0, 1, 1, 1, 2, 3])
        hashtags = [_style(rng, t) for t in rng.sample(tags, k)]
        hashtags += rng.sample(["fyp", "dance", "fun"], rng.randint(0, 2))
        if not hashtags:
            hashtags = ["fyp"]
        # mostly inside the windows; some before/after the narrow one; some a day out
        offset = timedelta(minutes=rng.randint(-40, 70), seconds=rng.randint(0, 59))
        if rng.random() < 0.05:
            offset -= timedelta(days=2)
            summary["out_of_window"] += 1
        event = {
            "event_id": f"e-{n}",
            "video_id": f"v-{seed}-{n}",
            "creator_id": rng.choice(creators),
            "hashtags": hashtags,
            "created_at": (BASE + offset).isoformat().replace("+00:00", "Z"),
            "region": rng.choice(["GB", "US", None]),
            "extra_field": "ignored",
        }
        raw = json.dumps(event).encode()
        lines.append(raw)
        if rng.random() < duplicate_share:  # re-delivery, maybe much later in the stream
            lines.insert(rng.randint(0, len(lines)), raw)
            summary["duplicates"] += 1
    invalid = invalid if invalid is not None else [
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"event_id": "bad-1", "video_id": "v-bad-1"}',
        json.dumps({"event_id": "bad-2", "video_id": "v-bad-2", "creator_id": "c", "hashtags": ["PlainTag"],
                    "created_at": BASE.isoformat()[:19]}).encode(),
        json.dumps({"event_id": "bad-3", "video_id": "v-bad-3", "creator_id": "c", "hashtags": [],
                    "created_at": BASE.isoformat()}).encode(),
        json.dumps({"event_id": "bad-4", "video_id": None, "creator_id": "c", "hashtags": ["CapMe"],
                    "created_at": BASE.isoformat()}).encode(),
    ]
    for raw in invalid:
        lines.insert(rng.randint(0, len(lines)), raw)
    summary["invalid"] = len(invalid)
    summary["lines"] = len(lines)
    return lines, dict(summary)


def oracle(lines: list[bytes], campaigns: list[OracleCampaign], invalid=()) -> tuple[dict, dict]:
    """Expected ``campaign_totals`` and ``campaign_minutes`` rows for the lines.

    ``invalid`` names lines built to be rejected (the test also checks each of them reaches
    the dead-letter topic); the oracle skips them besides those its own checks reject.
    """
    invalid = set(invalid)
    counted: dict[str, dict[str, int]] = {c.id: {} for c in campaigns}  # campaign -> video -> minute
    people: dict[str, set[str]] = {c.id: set() for c in campaigns}
    for raw in lines:
        if raw in invalid:
            continue
        try:
            event = json.loads(raw)
            created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
            assert created.tzinfo is not None
            assert event["hashtags"] and isinstance(event["video_id"], str)
        except Exception:
            continue
        tags = {t.lstrip("#").lower() for t in event["hashtags"]}
        for c in campaigns:
            if tags & {t.lower() for t in c.hashtags} and c.starts_at <= created < c.ends_at:
                counted[c.id].setdefault(event["video_id"], int(created.timestamp()) // 60 * 60)
                people[c.id].add(event["creator_id"])
    totals, minutes = {}, {}
    for c in campaigns:
        n = len(counted[c.id])
        raised = n * c.price_minor
        totals[c.id] = (n, len(people[c.id]), raised if c.cap_minor is None else min(raised, c.cap_minor), c.currency)
        per_minute: dict[int, int] = defaultdict(int)
        for minute in counted[c.id].values():
            per_minute[minute] += 1
        given = 0
        for minute in sorted(per_minute):
            amount = per_minute[minute] * c.price_minor
            if c.cap_minor is not None:
                amount = max(0, min(amount, c.cap_minor - given))
            given += amount
            minutes[(c.id, minute)] = (per_minute[minute], amount)
    return totals, minutes


def write_campaigns(folder: Path, campaigns: list[OracleCampaign]) -> Path:
    """``campaigns`` as ``folder/campaigns.yaml`` (the file ``load_campaign_file`` reads)."""
    path = folder / "campaigns.yaml"
    path.write_text(yaml.safe_dump({"campaigns": [c.yaml_entry() for c in campaigns]}))
    return path


def write_events(folder: Path, name: str, lines: list[bytes]) -> Path:
    """``lines`` as ``folder/name``, one event a line (what ``forgood produce --from`` reads)."""
    path = folder / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
