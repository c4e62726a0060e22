""""Did my video count?" and a campaign's most-viewed videos, read from ``campaign_videos``.

Both functions read the audit trail's versions table (``campaign_videos_versions``) through a
clickhouse-driver ``Client`` and **block** until ClickHouse answers (the caller picks the
client's timeouts; ``forgood serve`` runs them in a thread pool, the ``forgood video`` command
calls them directly). Both are exact without ``FINAL``: they take the newest ``version`` of
each (campaign, video) with ``argMax(…, version)``, as the ``campaign_videos`` view does.

Neither answer ever carries the creator id: a lookup is public (anyone may ask about any
video id), and which creator made a video is not the asker's to learn here.

The SQL runs on ClickHouse 18.16 and current releases. Values are written into it as string
literals escaped by clickhouse-driver's own ``escape_param`` — what clickhouse-driver does
itself with ``%(name)s`` parameters (it substitutes them client-side for 18.16, which has no
server-side parameters), done here so the same text also runs on clients that substitute
nothing (the in-process current ClickHouse the tests use).

Errors: a missing database or table (ClickHouse codes 60/81: the sink has not created its
schema yet) is an ``unknown`` video or no top videos; every other ClickHouse or network error
propagates (``clickhouse_driver.errors.Error``, ``OSError``, ``EOFError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from clickhouse_driver.errors import ServerException

from forgood.audit.store import quote
from forgood.domain.records import STATUSES, CampaignVideoRow
from sinks.schema import VIDEOS

__all__ = ["LOOKUP_STATUSES", "TOP_LIMIT", "TopVideo", "VideoLookup", "lookup_video", "top_videos"]

#: What a lookup may answer: the audit trail's statuses, or ``unknown`` when the campaign's
#: rows hold no such video (never carried its hashtags, not processed yet, or a wrong id).
LOOKUP_STATUSES = (*STATUSES, "unknown")
Status = Literal["counted", "removed", "outside_window", "unknown"]
#: How many videos :func:`top_videos` returns by default (the counter page's list).
TOP_LIMIT = 10
#: ClickHouse error codes meaning "the sink has not created its schema yet".
NO_SCHEMA = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE

#: Reasons in words, for people (``VideoLookup.in_words``; the counter page has the same words).
REASON_WORDS = {
    "creator_deleted": "deleted by its creator",
    "moderation": "moderation",
    "fraud": "fraud",
    "appeal": "appeal",
    "other": "other reason",
    "before_start": "before start",
    "after_end": "after end",
}


def iso_utc(epoch_s: int | None) -> str | None:
    """``2026-11-24T12:30:00Z`` for an epoch second; None for None."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class VideoLookup:
    """The answer to "did my video count?" for one campaign and video id.

    ``status`` is one of :data:`LOOKUP_STATUSES`; ``minute`` the start of the video's
    event-time minute and ``status_at`` when its status was set (epoch s; both None when
    ``unknown``); ``reason`` why (a removal's reason, ``appeal`` for a restored video,
    ``before_start`` / ``after_end`` outside the window), None when there is none.
    """

    campaign_id: str
    video_id: str
    status: Status
    minute: int | None = None
    status_at: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in LOOKUP_STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(LOOKUP_STATUSES)}")

    @classmethod
    def unknown(cls, campaign_id: str, video_id: str) -> VideoLookup:
        return cls(campaign_id, video_id, "unknown")

    @classmethod
    def from_row(cls, row: CampaignVideoRow) -> VideoLookup:
        """The lookup answer for an audit row (its creator id is dropped here)."""
        return cls(row.campaign_id, row.video_id, row.status, row.minute, row.status_at,  # type: ignore[arg-type]
                   row.reason or None)

    def to_json(self) -> dict[str, Any]:
        """``{"campaign_id", "video_id", "status", "minute", "status_at", "reason"}``: times as
        ISO 8601 UTC (``YYYY-MM-DDTHH:MM:SSZ``) or null, ``reason`` null when there is none."""
        return {
            "campaign_id": self.campaign_id,
            "video_id": self.video_id,
            "status": self.status,
            "minute": iso_utc(self.minute),
            "status_at": iso_utc(self.status_at),
            "reason": self.reason or None,
        }

    def in_words(self) -> str:
        """The status for people: ``Counted``, ``Removed (moderation)``, ``Outside the campaign
        window (before start)`` or ``Not found for this campaign``."""
        why = REASON_WORDS.get(self.reason or "", self.reason or "")
        if self.status == "counted":
            return "Counted"
        if self.status == "removed":
            return f"Removed ({why})" if why else "Removed"
        if self.status == "outside_window":
            return f"Outside the campaign window ({why})" if why else "Outside the campaign window"
        return "Not found for this campaign"


@dataclass(frozen=True, slots=True)
class TopVideo:
    """One of a campaign's most-viewed counted videos: its latest engagement snapshot and its
    event-time ``minute`` (epoch s). No creator id."""

    video_id: str
    views: int
    likes: int
    shares: int
    comments: int
    minute: int

    def to_json(self) -> dict[str, Any]:
        """``{"video_id", "views", "likes", "shares", "comments", "minute"}``, ``minute`` as ISO 8601 UTC."""
        return {"video_id": self.video_id, "views": self.views, "likes": self.likes, "shares": self.shares,
                "comments": self.comments, "minute": iso_utc(self.minute)}


def lookup_video(client: Any, database: str, campaign_id: str, video_id: str) -> VideoLookup:
    """The newest audit row of (``campaign_id``, ``video_id``) in ``database`` as a
    :class:`VideoLookup`; ``unknown`` when there is none or the schema does not exist yet.

    One point read on the table's primary key (``ORDER BY (campaign_id, video_id)``). Blocks;
    ClickHouse and network errors other than a missing schema propagate.
    """
    contract = CampaignVideoRow.contract
    where = f"campaign_id = {quote(campaign_id)} AND video_id = {quote(video_id)}"
    try:
        rows = client.execute(contract.latest_sql(VIDEOS.qualified(database), where))
    except ServerException as exc:
        if exc.code in NO_SCHEMA:
            return VideoLookup.unknown(campaign_id, video_id)
        raise
    if not rows:
        return VideoLookup.unknown(campaign_id, video_id)
    if len(rows) != 1:
        raise RuntimeError(f"{len(rows)} rows for one (campaign, video) key: the latest-version query is wrong")
    return VideoLookup.from_row(contract.from_row(rows[0]))


def top_videos_sql(database: str, campaign_id: str, limit: int) -> str:
    """The SELECT behind :func:`top_videos`: the campaign's rows (filtered before grouping),
    the newest version of each video (``argMax``), its counted ones by views, then likes, then
    video id. Aliases differ from the column names: 18.16 would read ``argMax(views, version)
    AS views`` as an aggregate inside an aggregate."""
    if type(limit) is not int or limit < 0:  # bool is an int subclass: refused too
        raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
    return (
        "SELECT video_id, top_views, top_likes, top_shares, top_comments, top_minute FROM ("
        " SELECT video_id,"
        " argMax(status, version) AS top_status,"
        " argMax(views, version) AS top_views,"
        " argMax(likes, version) AS top_likes,"
        " argMax(shares, version) AS top_shares,"
        " argMax(comments, version) AS top_comments,"
        " toUInt32(argMax(minute, version)) AS top_minute"
        f" FROM {VIDEOS.qualified(database)}"
        f" WHERE campaign_id = {quote(campaign_id)}"
        " GROUP BY video_id"
        ") WHERE top_status = 'counted'"
        " ORDER BY top_views DESC, top_likes DESC, video_id ASC"
        f" LIMIT {limit}"
    )


def top_videos(client: Any, database: str, campaign_id: str, limit: int = TOP_LIMIT) -> list[TopVideo]:
    """The campaign's ``limit`` counted videos with the most views (ties: more likes first,
    then video id ascending), each as its newest version says — an older version with more
    views, or a video removed since, does not count. Empty when the schema does not exist yet.

    Reads every version of the campaign's rows (one campaign's range of the primary key).
    Blocks; ClickHouse and network errors other than a missing schema propagate.
    """
    try:
        rows = client.execute(top_videos_sql(database, campaign_id, limit))
    except ServerException as exc:
        if exc.code in NO_SCHEMA:
            return []
        raise
    return [TopVideo(str(v), int(views), int(likes), int(shares), int(comments), int(minute))
            for v, views, likes, shares, comments, minute in rows]
