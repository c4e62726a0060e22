"""Comparing what ClickHouse holds with what the recounts give. Pure: no I/O.

:func:`reconcile_campaign` checks one campaign:

* ``campaign_totals`` against the recount of its ``campaign_videos`` rows, every figure of
  :data:`~forgood.audit.recount.TOTAL_FIELDS` (a campaign without a totals row reads as all 0);
* ``campaign_minutes`` against the rows' per-minute recount (a minute row of 0 videos and 0
  donation is the same as an absent minute);
* each ``campaign_videos`` row on its own (:func:`~forgood.audit.recount.row_problems`);
* with a source recount (``--from-source``): every expected (campaign, video) against
  ``campaign_videos`` — missing rows, extra rows, each differing field of
  :data:`~forgood.audit.recount.VIDEO_FIELDS` — and ``campaign_totals`` /
  ``campaign_minutes`` against the source's totals and minutes;
* a campaign not on the campaigns topic has no terms: its donations cannot be recounted,
  which is a difference of its own.

Each disagreement is a :class:`Difference` naming the campaign, the video or minute, the
field and both values. :class:`ReconcileResult` gathers the campaigns; ``ok`` only when no
campaign has a difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgood.audit.recount import (
    MINUTE_FIELDS,
    TIME_FIELDS,
    TOTAL_FIELDS,
    VIDEO_FIELDS,
    Figures,
    Minutes,
    Recount,
    Terms,
    recount,
    row_problems,
)
from forgood.domain.records import CampaignVideoRow

#: How the sources are named in differences.
TOTALS, MINUTES, VIDEOS, SOURCE, RULES, CAMPAIGNS = (
    "campaign_totals", "campaign_minutes", "campaign_videos", "source", "the rules", "the campaigns topic")
#: ``campaign_videos`` as a recount: the figures its rows add up to.
RECOUNTED = "campaign_videos (recounted)"

#: The kinds of :class:`Difference`, in the order they are listed.
KINDS = ("campaign", "total", "minute", "video")


def utc(epoch_s: int) -> str:
    """Epoch seconds as an ISO 8601 UTC time (``2025-01-01T10:03:00Z``)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _show(name: str, value: object) -> str:
    if value is None:
        return "nothing"
    if value == "":
        return '""'
    if name in TIME_FIELDS and isinstance(value, int):
        return utc(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement: in campaign ``campaign_id``, for ``subject`` (a video id, a minute's
    epoch seconds, or None for the campaign's totals), ``field`` is ``left_value`` in
    ``left`` and ``right_value`` in ``right``. For a row present on one side only, ``field``
    is ``"row"`` and the other side's value is None."""

    campaign_id: str
    kind: str  # one of KINDS
    subject: str | int | None
    field: str
    left: str
    left_value: Any
    right: str
    right_value: Any

    @property
    def where(self) -> str:
        if self.kind == "video":
            return f"video {self.subject}"
        if self.kind == "minute" and isinstance(self.subject, int):
            return f"minute {utc(self.subject)}"
        return "totals" if self.kind == "total" else "campaign"

    def text(self) -> str:
        """One line naming the campaign, the video or minute, the field and both values, e.g.
        ``dance: video v-123: campaign_videos says status=removed, source says counted``."""
        head = f"{self.campaign_id}: {self.where}: "
        if self.kind == "campaign":
            return head + f"not on {CAMPAIGNS}: its donation cannot be recounted without its terms"
        if self.field == "row":
            if self.left_value is None:
                return head + f"{self.left} has no row, {self.right} says status={self.right_value}"
            return head + f"{self.left} says status={self.left_value}, {self.right} has no such video"
        return (head + f"{self.left} says {self.field}={_show(self.field, self.left_value)}, "
                f"{self.right} says {_show(self.field, self.right_value)}")

    def to_json(self) -> dict:
        subject = utc(self.subject) if self.kind == "minute" and isinstance(self.subject, int) else self.subject
        return {"campaign_id": self.campaign_id, "kind": self.kind, "subject": subject, "field": self.field,
                "left": self.left, "left_value": self.left_value, "right": self.right,
                "right_value": self.right_value, "text": self.text()}


@dataclass(frozen=True)
class CampaignReconciliation:
    """One campaign's check: its ``campaign_totals`` figures, the recount of its
    ``campaign_videos`` rows, the source's recount (None without ``--from-source``), and
    every difference found (in :data:`KINDS` order, then by subject)."""

    campaign_id: str
    currency: str | None
    totals: Figures
    rows: Figures
    source: Figures | None
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    def first(self, kind: str, limit: int) -> list[Difference]:
        """The first ``limit`` differences of ``kind``."""
        return [d for d in self.differences if d.kind == kind][:limit]

    def count(self, kind: str) -> int:
        return sum(1 for d in self.differences if d.kind == kind)

    def to_json(self, limit: int | None = None) -> dict:
        """JSON-ready; at most ``limit`` differences of each kind (None: all), with the counts."""
        shown = [d for kind in KINDS for d in (self.first(kind, limit) if limit is not None
                                               else [d for d in self.differences if d.kind == kind])]
        return {
            "campaign_id": self.campaign_id,
            "currency": self.currency,
            "ok": self.ok,
            "totals": self.totals.to_json(),
            "recount_from_rows": self.rows.to_json(),
            "recount_from_source": None if self.source is None else self.source.to_json(),
            "differences_count": {kind: self.count(kind) for kind in KINDS},
            "differences": [d.to_json() for d in shown],
        }


@dataclass(frozen=True)
class ReconcileResult:
    """Every campaign checked (by id); ``from_source`` whether the source topics were
    recounted too, with what was read of them in ``source_summary``."""

    campaigns: tuple[CampaignReconciliation, ...]
    from_source: bool
    source_summary: dict | None = None

    @property
    def ok(self) -> bool:
        """True only when every campaign agrees everywhere."""
        return all(c.ok for c in self.campaigns)

    @property
    def differences(self) -> list[Difference]:
        return [d for c in self.campaigns for d in c.differences]

    def to_json(self, limit: int | None = 1000) -> dict:
        return {
            "ok": self.ok,
            "from_source": self.from_source,
            "source": self.source_summary,
            "campaigns": [c.to_json(limit) for c in self.campaigns],
        }


def compare_figures(campaign_id: str, left: str, actual: Figures, right: str, expected: Figures) -> list[Difference]:
    """A ``total`` difference per figure where ``actual`` (in ``left``) is not ``expected``
    (from ``right``); a figure ``expected`` could not give (None) is not compared."""
    out = []
    for name in TOTAL_FIELDS:
        have, want = getattr(actual, name), getattr(expected, name)
        if want is not None and have != want:
            out.append(Difference(campaign_id, "total", None, name, left, have, right, want))
    return out


def compare_minutes(campaign_id: str, actual: Minutes, right: str, expected: Minutes) -> list[Difference]:
    """A ``minute`` difference per minute and field where ``campaign_minutes`` (``actual``)
    is not ``expected``; absent minutes read as (0, 0); a donation expected as None (no terms)
    is not compared."""
    out = []
    for minute in sorted(set(actual) | set(expected)):
        have = actual.get(minute, (0, 0))
        want = expected.get(minute, (0, 0))
        for name, h, w in zip(MINUTE_FIELDS, have, want, strict=True):
            if w is not None and h != w:
                out.append(Difference(campaign_id, "minute", minute, name, MINUTES, h, right, w))
    return out


def compare_videos(campaign_id: str, actual: Mapping[str, CampaignVideoRow],
                   expected: Mapping[str, CampaignVideoRow]) -> list[Difference]:
    """``video`` differences between ``campaign_videos`` (``actual``) and the source
    (``expected``), by video id: a missing or extra row, else each differing field."""
    out = []
    for video_id in sorted(set(actual) | set(expected)):
        have, want = actual.get(video_id), expected.get(video_id)
        if have is None or want is None:
            out.append(Difference(campaign_id, "video", video_id, "row", VIDEOS,
                                  None if have is None else have.status, SOURCE,
                                  None if want is None else want.status))
            continue
        for name in VIDEO_FIELDS:
            if getattr(have, name) != getattr(want, name):
                out.append(Difference(campaign_id, "video", video_id, name, VIDEOS, getattr(have, name), SOURCE,
                                      getattr(want, name)))
    return out


def reconcile_campaign(
    campaign_id: str,
    terms: Terms | None,
    totals: Figures | None,
    minutes: Minutes,
    rows: Mapping[str, CampaignVideoRow],
    source_rows: Mapping[str, CampaignVideoRow] | None = None,
) -> CampaignReconciliation:
    """Check one campaign (module docstring). ``totals`` is its ``campaign_totals`` row (None:
    none), ``minutes`` its ``campaign_minutes`` rows, ``rows`` its ``campaign_videos`` rows by
    video id, ``source_rows`` the rows the source recount expects (None: not recounted)."""
    totals = totals or Figures()
    from_rows: Recount = recount(rows.values(), terms)
    differences: list[Difference] = []
    if terms is None:
        differences.append(Difference(campaign_id, "campaign", None, "terms", CAMPAIGNS, None, VIDEOS, None))
    from_source = None if source_rows is None else recount(source_rows.values(), terms)
    differences += compare_figures(campaign_id, TOTALS, totals, RECOUNTED, from_rows.figures)
    if from_source is not None:
        differences += compare_figures(campaign_id, TOTALS, totals, SOURCE, from_source.figures)
    differences += compare_minutes(campaign_id, minutes, RECOUNTED, from_rows.minutes)
    if from_source is not None:
        differences += compare_minutes(campaign_id, minutes, SOURCE, from_source.minutes)
    for video_id in sorted(rows):
        for name, have, want in row_problems(rows[video_id]):
            differences.append(Difference(campaign_id, "video", video_id, name, VIDEOS, have, RULES, want))
    if source_rows is not None:
        differences += compare_videos(campaign_id, rows, source_rows)
    ordered = tuple(sorted(differences, key=lambda d: KINDS.index(d.kind)))  # stable: subjects stay in order
    return CampaignReconciliation(campaign_id, terms.currency if terms else None, totals, from_rows.figures,
                                  None if from_source is None else from_source.figures, ordered)


__all__ = ["KINDS", "RECOUNTED", "CampaignReconciliation", "Difference", "ReconcileResult", "compare_figures",
           "compare_minutes", "compare_videos", "reconcile_campaign", "utc"]
