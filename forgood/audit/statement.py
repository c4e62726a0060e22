"""A settlement statement of one campaign as of a time: pure, from rows already read.

:func:`build_statement` takes the campaign with its current terms, its audit rows
(``campaign_videos``), its settlements and its term changes, and returns a
:class:`Statement`; nothing here reads ClickHouse or Kafka (:mod:`forgood.audit.store` does).

The rules (README: "Settlement statements"):

* **as of T** — T is timezone-aware and whole seconds (``DateTime`` columns hold whole
  seconds); the statement covers the videos *created* before T: ``created_at < T``, by
  their status as known now (a video removed after T is not paid for, one restored after T is).
* **videos** — rows with status ``counted``; **participants** — distinct creators of those;
  **removed** — rows with status ``removed``; **outside_window** — rows with status
  ``outside_window`` (carried a hashtag, made outside the campaign's window: never paid).
* **donation_minor** — :func:`~forgood.domain.rules.total_donation` of the counted videos
  with the campaign's *current* terms (a price change re-prices every video, as the live
  totals do).
* **days** — per UTC day of ``created_at`` (``YYYY-MM-DD``) with at least one counted video:
  its videos and its donation, the cap filled in day order exactly as
  :func:`~forgood.domain.rules.minute_donations` fills it in minute order; the days'
  donations add up to ``donation_minor``.
* **settlements** — the campaign's settlements with ``as_of <= T``; **settled_minor** the sum
  of their ``paid_minor``; **due_minor** ``= donation_minor - settled_minor`` (negative: a
  credit, when videos were removed after a payment). A settlement in another currency than
  the campaign's current one cannot be netted: :class:`StatementError`.
* **video_ids_sha256** — sha256 (hex) of the sorted counted video ids joined by ``\\n``:
  what a settlement records, so a later statement can tell whether the same videos were paid.
* **terms** — the terms in force (price, cap, currency, window, hashtags); **changes** — every
  applied change of them (what, old, new, changed_at, changed_by), by ``change_id``, the
  rows of one change in the order given (:func:`forgood.audit.history.read_changes`'s);
  **video_lines** (only with ``videos=True`` in :meth:`Statement.to_json`) — one line per
  counted video: ``video_id, created_at, day, views`` (never the creator).

:meth:`Statement.to_json` gives the JSON document (integers exact, times ISO 8601 UTC
``YYYY-MM-DDTHH:MM:SSZ``); :mod:`forgood.audit.render` draws it as a table, CSV or PDF.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgood.audit.store import Settlement
from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ForgoodError
from forgood.domain.records import STATUSES, CampaignChange, CampaignVideoRow
from forgood.domain.rules import minute_donations, total_donation

DAY_S = 86_400


class StatementError(ForgoodError):
    """A statement cannot be made from what was given (bad ``as_of``, rows of another campaign,
    settlements in another currency); the message says what."""


@dataclass(frozen=True, slots=True)
class DayLine:
    """Counted videos created on one UTC ``day`` (``YYYY-MM-DD``) and their donation."""

    day: str
    videos: int
    donation_minor: int


@dataclass(frozen=True, slots=True)
class VideoLine:
    """One counted video: its id, creation time (epoch s), UTC day and latest views."""

    video_id: str
    created_at: int
    day: str
    views: int


@dataclass(frozen=True, slots=True)
class Terms:
    """The campaign's terms in force when the statement was made."""

    price_minor: int
    cap_minor: int | None
    currency: str
    starts_at: int
    ends_at: int
    hashtags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """One campaign's statement as of ``as_of`` (epoch s), made at ``generated_at`` (epoch s).
    Field meanings: the module docstring."""

    campaign_id: str
    name: str
    nonprofit: str
    currency: str
    price_minor: int
    cap_minor: int | None
    as_of: int
    generated_at: int
    videos: int
    participants: int
    removed: int
    outside_window: int
    donation_minor: int
    settled_minor: int
    due_minor: int
    video_ids_sha256: str
    days: tuple[DayLine, ...]
    settlements: tuple[Settlement, ...]
    terms: Terms
    changes: tuple[CampaignChange, ...]
    video_lines: tuple[VideoLine, ...]

    def to_json(self, videos: bool = False) -> dict[str, Any]:
        """The statement as a JSON-ready dict, keys in a fixed order; money in exact integer
        minor units, times as ``YYYY-MM-DDTHH:MM:SSZ``; ``video_lines`` only when ``videos``."""
        document: dict[str, Any] = {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "nonprofit": self.nonprofit,
            "currency": self.currency,
            "price_minor": self.price_minor,
            "cap_minor": self.cap_minor,
            "as_of": iso(self.as_of),
            "generated_at": iso(self.generated_at),
            "videos": self.videos,
            "participants": self.participants,
            "removed": self.removed,
            "outside_window": self.outside_window,
            "donation_minor": self.donation_minor,
            "settled_minor": self.settled_minor,
            "due_minor": self.due_minor,
            "video_ids_sha256": self.video_ids_sha256,
            "days": [{"day": d.day, "videos": d.videos, "donation_minor": d.donation_minor} for d in self.days],
            "settlements": [settlement_json(s) for s in self.settlements],
            "terms": {
                "price_minor": self.terms.price_minor,
                "cap_minor": self.terms.cap_minor,
                "currency": self.terms.currency,
                "starts_at": iso(self.terms.starts_at),
                "ends_at": iso(self.terms.ends_at),
                "hashtags": list(self.terms.hashtags),
            },
            "changes": [change_json(c) for c in self.changes],
        }
        if videos:
            document["video_lines"] = [
                {"video_id": v.video_id, "created_at": iso(v.created_at), "day": v.day, "views": v.views}
                for v in self.video_lines
            ]
        return document


def iso(epoch_s: int) -> str:
    """Epoch seconds as ISO 8601 UTC with a ``Z``: ``2026-12-03T12:00:00Z``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(epoch_s: int) -> str:
    """The UTC day of an epoch-second time: ``2026-12-03``."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d")


def settlement_json(s: Settlement) -> dict[str, Any]:
    """One settlement as the statement's JSON lists it."""
    return {"as_of": iso(s.as_of), "videos": s.videos, "donation_minor": s.donation_minor,
            "paid_minor": s.paid_minor, "currency": s.currency, "video_ids_sha256": s.video_ids_sha256,
            "settled_at": iso(s.settled_at), "settled_by": s.settled_by}


def change_json(c: CampaignChange) -> dict[str, Any]:
    """One term change as the statement's JSON lists it."""
    return {"change_id": c.change_id, "what": c.what, "old": c.old, "new": c.new,
            "changed_at": iso(c.changed_at), "changed_by": c.changed_by}


def as_of_seconds(as_of: datetime) -> int:
    """``as_of`` as epoch seconds; :class:`StatementError` unless it is timezone-aware and whole
    seconds (created times are whole seconds, so a fraction would be ambiguous)."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise StatementError(f"as of {as_of.isoformat()}: give a timezone (e.g. 2026-12-03T12:00:00Z)")
    if as_of.microsecond:
        raise StatementError(f"as of {as_of.isoformat()}: give whole seconds (no fraction)")
    return int(as_of.timestamp())


def video_ids_sha256(video_ids: Iterable[str]) -> str:
    """sha256 (hex) of the sorted video ids joined by ``\\n`` (of the empty string for none)."""
    return hashlib.sha256("\n".join(sorted(video_ids)).encode()).hexdigest()


def build_statement(
    campaign: Campaign,
    as_of: datetime,
    rows: Sequence[CampaignVideoRow],
    settlements: Sequence[Settlement],
    changes: Sequence[CampaignChange],
    generated_at: int,
) -> Statement:
    """The statement of ``campaign`` as of ``as_of`` by the module's rules. ``rows`` are the
    campaign's audit rows (one per video, any status, any time: the cut is made here),
    ``settlements`` and ``changes`` all of the campaign's (any order); ``generated_at`` is when
    it is made (epoch s). Pure; raises :class:`StatementError` on a bad ``as_of``, a row,
    settlement or change of another campaign, a video listed twice, a status not in
    :data:`~forgood.domain.records.STATUSES`, or a settlement in another currency than the campaign's."""
    cut = as_of_seconds(as_of)
    cid = campaign.id
    for what, items in (("row", rows), ("settlement", settlements), ("change", changes)):
        strays = sorted({item.campaign_id for item in items if item.campaign_id != cid})
        if strays:
            raise StatementError(f"statement of {cid}: a {what} of another campaign ({', '.join(strays)})")
    twice = sorted(v for v, n in Counter(r.video_id for r in rows).items() if n > 1)
    if twice:
        raise StatementError(f"statement of {cid}: video(s) listed twice: {', '.join(twice[:5])}")
    odd = sorted({r.status for r in rows} - set(STATUSES))
    if odd:
        raise StatementError(f"statement of {cid}: unknown video status(es) {', '.join(map(repr, odd))} "
                             f"(known: {', '.join(STATUSES)})")
    foreign = [s for s in settlements if s.currency != campaign.currency]
    if foreign:
        s = foreign[0]
        raise StatementError(
            f"statement of {cid}: the settlement as of {iso(s.as_of)} was paid in {s.currency}, the campaign's "
            f"currency is now {campaign.currency}: amounts in two currencies cannot be netted")

    before = [r for r in rows if r.created_at < cut]
    counted = sorted((r for r in before if r.status == "counted"), key=lambda r: (r.created_at, r.video_id))
    price, cap = campaign.price_minor, campaign.cap_minor
    per_day = Counter(r.created_at - r.created_at % DAY_S for r in counted)
    day_money = minute_donations(per_day, price, cap)
    settled = tuple(sorted((s for s in settlements if s.as_of <= cut), key=lambda s: (s.as_of, s.settled_at)))
    donation = total_donation(len(counted), price, cap)
    settled_minor = sum(s.paid_minor for s in settled)
    return Statement(
        campaign_id=cid,
        name=campaign.name,
        nonprofit=campaign.nonprofit,
        currency=campaign.currency,
        price_minor=price,
        cap_minor=cap,
        as_of=cut,
        generated_at=generated_at,
        videos=len(counted),
        participants=len({r.creator_id for r in counted}),
        removed=sum(1 for r in before if r.status == "removed"),
        outside_window=sum(1 for r in before if r.status == "outside_window"),
        donation_minor=donation,
        settled_minor=settled_minor,
        due_minor=donation - settled_minor,
        video_ids_sha256=video_ids_sha256(r.video_id for r in counted),
        days=tuple(DayLine(utc_day(day), per_day[day], day_money[day]) for day in sorted(per_day)),
        settlements=settled,
        terms=Terms(price, cap, campaign.currency, int(campaign.starts_at.timestamp()),
                    int(campaign.ends_at.timestamp()), campaign.hashtags),
        changes=tuple(sorted(changes, key=lambda c: c.change_id)),  # stable: one change's rows as given
        video_lines=tuple(VideoLine(r.video_id, r.created_at, utc_day(r.created_at), r.views) for r in counted),
    )
