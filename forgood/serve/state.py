"""The counter service's in-memory state: campaigns, their newest totals and recent minutes.

Everything the API answers comes from one :class:`CounterState`. It is filled from
ClickHouse at start and then kept current from the aggregate topics; both deliver the same
versioned rows the sink writes, and the state keeps, per key, the row with the **highest
version** — an older or repeated row changes nothing (the same rule as ClickHouse's
``argMax(…, version)`` views), so whatever order rows arrive in, once the pipeline has settled
the service shows exactly what ClickHouse shows.

Answers are typed: :meth:`CounterState.view` returns a :class:`CampaignView` (orjson writes
a dataclass as a JSON object with its fields in order, so the API's JSON is exactly the
fields below, in this order).

Server-Sent-Event handlers :meth:`~CounterState.subscribe`; every change marks the changed
campaign ids on each subscriber (a set, so a slow client coalesces updates instead of
queueing them: memory per client is bounded by the number of campaigns).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from forgood.domain.campaigns import Campaign
from forgood.domain.money import format_minor, minor_digits
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.domain.rules import percent_of

#: Campaign ids, as in :data:`forgood.domain.campaigns.CampaignId`.
CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: Minutes in ``videos_per_minute`` (the current minute and the 59 before it).
HISTORY_MINUTES = 60
#: Minute rows older than this many minutes are dropped from memory.
KEEP_MINUTES = 120


def iso(epoch_s: int | float) -> str:
    """``2026-11-24T19:00:00Z`` for an epoch second."""
    return datetime.fromtimestamp(int(epoch_s), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class MinuteVideos:
    """Videos counted in one event-time minute (``minute`` as ISO 8601 UTC)."""

    minute: str
    videos: int


@dataclass(frozen=True, slots=True)
class CampaignView:
    """One campaign as the API answers it (``Campaign`` in :mod:`forgood.serve.openapi`)."""

    id: str
    name: str
    nonprofit: str | None
    hashtags: tuple[str, ...]
    url: str | None
    description: str | None
    videos: int
    creators: int
    removed: int
    views: int
    likes: int
    shares: int
    comments: int
    donation_minor: int
    currency: str
    currency_digits: int
    raised: str
    donation_per_video_minor: int | None
    donation_cap_minor: int | None
    cap: str | None
    goal_videos: int | None
    percent_of_cap: float | None
    percent_of_goal: float | None
    starts_at: str | None
    ends_at: str | None
    status: str | None
    updated_at: str | None
    version: int
    videos_per_minute: tuple[MinuteVideos, ...]


@dataclass(frozen=True, slots=True)
class Removed:
    """A campaign deleted from the campaigns topic (a tombstone)."""

    campaign_id: str


class Subscriber:
    """One Server-Sent-Events client: the campaign ids changed since it last looked."""

    __slots__ = ("campaign_id", "dirty", "wake", "closed")

    def __init__(self, campaign_id: str | None) -> None:
        self.campaign_id = campaign_id  # None: every campaign
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.closed = False

    def mark(self, ids: Iterable[str]) -> None:
        wanted = [i for i in ids if self.campaign_id is None or i == self.campaign_id]
        if wanted:
            self.dirty.update(wanted)
            self.wake.set()

    def take(self) -> list[str]:
        """The changed ids (sorted), clearing them."""
        ids, self.dirty = sorted(self.dirty), set()
        self.wake.clear()
        return ids

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class CounterState:
    """Campaign definitions, newest totals and recent minute rows, by campaign id."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.campaigns: dict[str, Campaign] = {}
        self.totals: dict[str, CampaignTotal] = {}
        self.minutes: dict[str, dict[int, CampaignMinute]] = defaultdict(dict)
        self.subscribers: set[Subscriber] = set()
        self.ready = False
        self.following = False
        self.last_record_at: float | None = None
        self.stale_ignored = 0
        #: Per campaign, how many changes it has seen (a cache key for rendered answers).
        self.revisions: dict[str, int] = defaultdict(int)

    # --- changes -------------------------------------------------------------------------

    def apply_total(self, total: CampaignTotal) -> bool:
        """Keep ``total`` if it is newer than what is held; True when it changed the state."""
        old = self.totals.get(total.campaign_id)
        if old is not None and total.version <= old.version:
            if total.version < old.version:
                self.stale_ignored += 1
            return False
        self.totals[total.campaign_id] = total
        return True

    def apply_minute(self, row: CampaignMinute) -> bool:
        """Keep a minute row if it is recent and newer than what is held."""
        if row.minute < self._oldest_kept():
            return False
        rows = self.minutes[row.campaign_id]
        old = rows.get(row.minute)
        if old is not None and row.version <= old.version:
            if row.version < old.version:
                self.stale_ignored += 1
            return False
        rows[row.minute] = row
        return True

    def set_campaign(self, campaign: Campaign) -> bool:
        if self.campaigns.get(campaign.id) == campaign:
            return False
        self.campaigns[campaign.id] = campaign
        return True

    def remove_campaign(self, campaign_id: str) -> bool:
        return self.campaigns.pop(campaign_id, None) is not None

    def apply(self, records: Iterable[CampaignTotal | CampaignMinute | Campaign | Removed]) -> set[str]:
        """Apply rows and campaign changes, then tell subscribers; returns the changed ids."""
        changed: set[str] = set()
        for record in records:
            if isinstance(record, CampaignTotal):
                if self.apply_total(record):
                    changed.add(record.campaign_id)
            elif isinstance(record, CampaignMinute):
                if self.apply_minute(record):
                    changed.add(record.campaign_id)
            elif isinstance(record, Campaign):
                if self.set_campaign(record):
                    changed.add(record.id)
            elif isinstance(record, Removed):
                if self.remove_campaign(record.campaign_id):
                    changed.add(record.campaign_id)
            else:
                raise TypeError(f"not a campaign, total or minute: {record!r}")
        self.notify(changed)
        return changed

    def notify(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self.last_record_at = self.clock()
            for campaign_id in ids:
                self.revisions[campaign_id] += 1
            for subscriber in list(self.subscribers):
                subscriber.mark(ids)

    def prune(self) -> None:
        """Forget minute rows that no longer fall in any answer."""
        oldest = self._oldest_kept()
        for rows in self.minutes.values():
            for minute in [m for m in rows if m < oldest]:
                del rows[minute]

    def _oldest_kept(self) -> int:
        return int(self.clock()) // 60 * 60 - KEEP_MINUTES * 60

    # --- subscribers ---------------------------------------------------------------------

    def subscribe(self, campaign_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(campaign_id)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close_subscribers(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.close()

    # --- answers -------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every campaign with a definition or a total, sorted."""
        return sorted(set(self.campaigns) | set(self.totals))

    def __contains__(self, campaign_id: str) -> bool:
        return campaign_id in self.campaigns or campaign_id in self.totals

    def view(self, campaign_id: str) -> CampaignView | None:
        """The API's answer for one campaign, or None if it is unknown."""
        campaign = self.campaigns.get(campaign_id)
        total = self.totals.get(campaign_id)
        if total is not None:
            currency = total.currency
        elif campaign is not None:
            currency = campaign.currency
        else:
            return None
        now = self.clock()
        videos = total.videos if total else 0
        donation = total.donation_minor if total else 0
        cap = campaign.cap_minor if campaign else None
        goal = campaign.goal_videos if campaign else None
        pct_cap = percent_of(donation, cap)
        pct_goal = percent_of(videos, goal)
        status = None
        if campaign is not None:
            now_dt = datetime.fromtimestamp(now, tz=UTC)
            status = "upcoming" if now_dt < campaign.starts_at else "ended" if now_dt >= campaign.ends_at else "live"
        return CampaignView(
            id=campaign_id,
            name=campaign.name if campaign else campaign_id,
            nonprofit=campaign.nonprofit if campaign else None,
            hashtags=tuple(campaign.hashtags) if campaign else (),
            url=campaign.url if campaign else None,
            description=campaign.description if campaign else None,
            videos=videos,
            creators=total.creators if total else 0,
            removed=total.removed if total else 0,
            views=total.views if total else 0,
            likes=total.likes if total else 0,
            shares=total.shares if total else 0,
            comments=total.comments if total else 0,
            donation_minor=donation,
            currency=currency,
            currency_digits=minor_digits(currency),
            raised=format_minor(donation, currency),
            donation_per_video_minor=campaign.price_minor if campaign else None,
            donation_cap_minor=cap,
            cap=None if cap is None else format_minor(cap, currency),
            goal_videos=goal,
            percent_of_cap=None if pct_cap is None else round(pct_cap, 2),
            percent_of_goal=None if pct_goal is None else round(pct_goal, 2),
            starts_at=iso_dt(campaign.starts_at) if campaign else None,
            ends_at=iso_dt(campaign.ends_at) if campaign else None,
            status=status,
            updated_at=iso(total.updated_at) if total else None,
            version=total.version if total else 0,
            videos_per_minute=self.videos_per_minute(campaign_id, now),
        )

    def videos_per_minute(self, campaign_id: str, now: float | None = None) -> tuple[MinuteVideos, ...]:
        """Videos per event-time minute for the last :data:`HISTORY_MINUTES` minutes, oldest
        first, the current minute last; minutes without videos are 0."""
        now = self.clock() if now is None else now
        current = int(now) // 60 * 60
        rows = self.minutes.get(campaign_id, {})
        return tuple(
            MinuteVideos(iso(minute), row.videos if (row := rows.get(minute)) else 0)
            for minute in range(current - (HISTORY_MINUTES - 1) * 60, current + 60, 60)
        )

    def views(self) -> list[CampaignView]:
        return [v for v in (self.view(cid) for cid in self.ids()) if v is not None]
