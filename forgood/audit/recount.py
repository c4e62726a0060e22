"""Recounting one campaign's figures from its per-video rows. Pure: no I/O, no clock.

:func:`recount` takes the rows of ``forgood.campaign_videos`` for one campaign (or the rows
:mod:`forgood.audit.source` derives from the source topics) and the campaign's terms, and
gives what ``campaign_totals`` and ``campaign_minutes`` must hold by the rules:

* ``videos`` — rows with status ``counted``; ``creators`` — distinct ``creator_id`` of those;
  ``removed`` — rows with status ``removed``; ``views`` … ``comments`` — sums over the
  counted rows (``outside_window`` rows count nowhere);
* ``donation_minor`` — :func:`forgood.domain.rules.total_donation` of ``videos`` under the
  campaign's current terms; per minute (the rows' ``minute``), the counted videos and
  :func:`forgood.domain.rules.minute_donations` (the cap filled in event-time order).

Without terms (a campaign found in ClickHouse but not on the campaigns topic) the donations
are ``None``: they cannot be recounted.

:func:`row_problems` checks each row on its own (a known status, a minute that starts its
``created_at``'s minute).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from forgood.domain.records import STATUSES, CampaignVideoRow
from forgood.domain.rules import minute_donations, total_donation

#: The figures of ``campaign_totals`` a recount gives, in display order.
TOTAL_FIELDS = ("videos", "creators", "removed", "donation_minor", "views", "likes", "shares", "comments")
#: The fields of ``campaign_minutes`` a recount gives.
MINUTE_FIELDS = ("videos", "donation_minor")
#: The fields of a ``campaign_videos`` row compared between two sources (the key and the
#: version aside).
VIDEO_FIELDS = ("creator_id", "created_at", "minute", "status", "status_at", "reason",
                "views", "likes", "shares", "comments")
#: Fields holding epoch seconds (shown as UTC times).
TIME_FIELDS = frozenset({"created_at", "minute", "status_at"})


@dataclass(frozen=True, slots=True)
class Terms:
    """What a campaign's donation depends on, in minor units (``cap_minor`` None: uncapped)."""

    price_minor: int
    cap_minor: int | None
    currency: str


@dataclass(frozen=True, slots=True)
class Figures:
    """One campaign's ``campaign_totals`` figures. ``donation_minor`` is None when it could not
    be recounted (the campaign's terms are unknown)."""

    videos: int = 0
    creators: int = 0
    removed: int = 0
    donation_minor: int | None = 0
    views: int = 0
    likes: int = 0
    shares: int = 0
    comments: int = 0

    def to_json(self) -> dict[str, int | None]:
        return asdict(self)


#: Per minute (epoch s): (counted videos, donation in minor units or None without terms).
Minutes = dict[int, tuple[int, int | None]]


@dataclass(frozen=True, slots=True)
class Recount:
    """What one campaign's rows add up to: its totals and its minutes (only minutes holding a
    counted video; a minute of 0 videos and 0 donation is the same as an absent one)."""

    figures: Figures
    minutes: Minutes


def recount(rows: Iterable[CampaignVideoRow], terms: Terms | None) -> Recount:
    """The figures ``rows`` (one campaign's, one per video) give under ``terms`` (module
    docstring). Rows with another status than ``counted`` or ``removed`` count nowhere."""
    videos = removed = views = likes = shares = comments = 0
    creators: set[str] = set()
    per_minute: Counter[int] = Counter()
    for row in rows:
        if row.status == "counted":
            videos += 1
            creators.add(row.creator_id)
            per_minute[row.minute] += 1
            views += row.views
            likes += row.likes
            shares += row.shares
            comments += row.comments
        elif row.status == "removed":
            removed += 1
    if terms is None:
        donation: int | None = None
        minutes: Minutes = {minute: (count, None) for minute, count in per_minute.items()}
    else:
        donation = total_donation(videos, terms.price_minor, terms.cap_minor)
        given = minute_donations(per_minute, terms.price_minor, terms.cap_minor)
        minutes = {minute: (count, given[minute]) for minute, count in per_minute.items()}
    figures = Figures(videos, len(creators), removed, donation, views, likes, shares, comments)
    return Recount(figures, minutes)


def row_problems(row: CampaignVideoRow) -> list[tuple[str, object, object]]:
    """What is wrong with one row on its own, as ``(field, the row's value, what the rules
    say)``: a status outside :data:`~forgood.domain.records.STATUSES`, or a ``minute`` that
    is not the start of ``created_at``'s minute. Empty when nothing is."""
    problems: list[tuple[str, object, object]] = []
    if row.status not in STATUSES:
        problems.append(("status", row.status, " | ".join(STATUSES)))
    if row.minute != row.created_at - row.created_at % 60:
        problems.append(("minute", row.minute, row.created_at - row.created_at % 60))
    return problems


__all__ = ["MINUTE_FIELDS", "TIME_FIELDS", "TOTAL_FIELDS", "VIDEO_FIELDS", "Figures", "Minutes", "Recount",
           "Terms", "recount", "row_problems"]
