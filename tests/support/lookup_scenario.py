"""The "did my video count?" scenario (forgood.audit.lookup), shared by its tests on a current
ClickHouse (``tests/unit/audit/test_lookup.py``, chdb) and on the local stack's 18.16
(``tests/integration/test_video_lookup.py``) and by the counter page's browser test.

Rows are written the way the sink writes them — :class:`sinks.clickhouse.ClickHouseSink` after
:func:`sinks.schema.migrate` — several versions per key, the newest versions in an earlier
INSERT than the older ones, and a second campaign that shares a video id. Expectations are
written out by hand per video, and the top list is also recomputed by :func:`oracle_top` from
the rows in plain Python (newest version per key, counted, by views, likes, id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from forgood.audit.lookup import TopVideo, lookup_video, top_videos
from forgood.domain.records import CampaignVideoRow
from forgood.domain.settings import Settings
from sinks.clickhouse import ClickHouseSink
from sinks.schema import migrate

CAMPAIGN = "lookup-camp"
OTHER = "other-camp"
T0 = 1_795_546_800  # 2026-11-24T19:00:00Z, a minute start: the same answers on every run
QUOTED = "it's \\ a \"test\"\t✓"  # quotes, a backslash, a tab and a non-ASCII character


def iso(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(video: str, version: int, status: str = "counted", *, created: int = T0 + 5, status_at: int | None = None,
        reason: str = "", views: int = 0, likes: int = 0, campaign: str = CAMPAIGN) -> CampaignVideoRow:
    """An audit row as the stream publishes it (shares and comments derived from views)."""
    return CampaignVideoRow(campaign, video, f"SECRET-creator-of-{video}", created, created - created % 60, status,
                            created if status_at is None else status_at, reason, views, likes, views // 9,
                            views // 40, version)


#: Every version of every row, grouped by the INSERT that writes them (in this order).
ROWS: list[list[CampaignVideoRow]] = [
    [  # the newest versions first ...
        row("v-counted", 3, views=250, likes=20),
        row("v-removed", 2, "removed", created=T0 + 70, status_at=T0 + 600, reason="moderation", views=9_000_000,
            likes=900_000),
        row("v-restored", 2, status_at=T0 + 900, reason="appeal", views=300, likes=29),
        row("v-old-peak", 6, views=7, likes=1),
        row("v-peak-removed", 4, "removed", status_at=T0 + 1_200, reason="creator_deleted", views=5_000_000),
        row("v-counted", 99, "removed", reason="fraud", views=10**9, campaign=OTHER),
        row("huge", 1, views=10**12, likes=10**11, campaign=OTHER),
    ],
    [  # ... then older versions of the same keys (must change nothing) and the rest
        row("v-counted", 1, views=10, likes=1),
        row("v-removed", 1, created=T0 + 70, views=400),
        row("v-restored", 1, "removed", status_at=T0 + 300, reason="fraud", views=300, likes=29),
        row("v-old-peak", 5, views=1_000_000, likes=1_000),
        row("v-peak-removed", 3, views=5_000_000),
        row("v-outside", 1, "outside_window", created=T0 - 86_400 + 17, reason="before_start", views=50_000),
        row(QUOTED, 1, views=260, likes=3),
        *(row(f"tie-{x}", 1, views=300, likes=30) for x in "cab"),
        row("tie-d", 1, views=300, likes=31),
        *(row(f"fill-{i:02d}", 1, created=T0 + 60 * i, views=100 + 10 * i, likes=i) for i in range(8)),
    ],
]
#: What each lookup must answer (written out by hand from ROWS).
EXPECTED_LOOKUPS: dict[str, dict[str, Any]] = {
    "v-counted": {"status": "counted", "minute": iso(T0), "status_at": iso(T0 + 5), "reason": None},
    "v-removed": {"status": "removed", "minute": iso(T0 + 60), "status_at": iso(T0 + 600), "reason": "moderation"},
    "v-outside": {"status": "outside_window", "minute": iso(T0 - 86_400), "status_at": iso(T0 - 86_400 + 17),
                  "reason": "before_start"},
    "v-restored": {"status": "counted", "minute": iso(T0), "status_at": iso(T0 + 900), "reason": "appeal"},
    "v-peak-removed": {"status": "removed", "minute": iso(T0), "status_at": iso(T0 + 1_200),
                       "reason": "creator_deleted"},
    QUOTED: {"status": "counted", "minute": iso(T0), "status_at": iso(T0 + 5), "reason": None},
    "never-seen": {"status": "unknown", "minute": None, "status_at": None, "reason": None},
    "huge": {"status": "unknown", "minute": None, "status_at": None, "reason": None},  # another campaign's video
    "v-counted' OR '1'='1": {"status": "unknown", "minute": None, "status_at": None, "reason": None},
}

#: The top ten by hand: views, then likes, then id; removed, outside-window and older peaks left out.
EXPECTED_TOP = ["tie-d", "tie-a", "tie-b", "tie-c", "v-restored", QUOTED, "v-counted", "fill-07", "fill-06",
                "fill-05"]


def oracle_top(rows: list[CampaignVideoRow], campaign_id: str, limit: int) -> list[TopVideo]:
    """The top list recomputed in Python: newest version per (campaign, video), counted ones,
    by views desc, likes desc, video id asc."""
    newest: dict[tuple[str, str], CampaignVideoRow] = {}
    for r in rows:
        key = (r.campaign_id, r.video_id)
        if key not in newest or r.version > newest[key].version:
            newest[key] = r
    counted = [r for r in newest.values() if r.campaign_id == campaign_id and r.status == "counted"]
    counted.sort(key=lambda r: (-r.views, -r.likes, r.video_id))
    return [TopVideo(r.video_id, r.views, r.likes, r.shares, r.comments, r.minute) for r in counted[:limit]]


def write_scenario(client: Any, database: str) -> None:
    """Create the schema and write :data:`ROWS` through the sink, one flush per group."""
    migrate(client, database)
    sink = ClickHouseSink(Settings(clickhouse_url=f"clickhouse://127.0.0.1:9000/{database}"), client=client)
    for group in ROWS:
        for r in group:
            sink.add(r)
        assert sink.flush() == len(group)


def check_scenario(client: Any, database: str) -> None:
    """Every lookup and the top lists equal the hand-written expectations and the oracle."""
    all_rows = [r for group in ROWS for r in group]
    for video_id, expected in EXPECTED_LOOKUPS.items():
        found = lookup_video(client, database, CAMPAIGN, video_id)
        assert found.to_json() == {"campaign_id": CAMPAIGN, "video_id": video_id, **expected}, video_id
    assert lookup_video(client, database, OTHER, "v-counted").to_json()["status"] == "removed"
    assert lookup_video(client, database, OTHER, "huge").status == "counted"
    assert lookup_video(client, database, "no-such-campaign", "v-counted").status == "unknown"

    top = top_videos(client, database, CAMPAIGN)
    assert [t.video_id for t in top] == EXPECTED_TOP
    assert top == oracle_top(all_rows, CAMPAIGN, 10)
    by_id = {t.video_id: t for t in top}
    assert (by_id["v-counted"].views, by_id["v-counted"].likes, by_id["v-counted"].shares,
            by_id["v-counted"].comments, by_id["v-counted"].minute) == (250, 20, 27, 6, T0)
    assert "v-old-peak" not in by_id and "v-removed" not in by_id and "v-peak-removed" not in by_id
    for limit in (0, 1, 3, 10, 25):
        assert top_videos(client, database, CAMPAIGN, limit) == oracle_top(all_rows, CAMPAIGN, limit), limit
    assert len(top_videos(client, database, CAMPAIGN, 25)) == 16  # every counted video of the campaign
    assert top_videos(client, database, OTHER) == oracle_top(all_rows, OTHER, 10) == [
        TopVideo("huge", 10**12, 10**11, 10**12 // 9, 10**12 // 40, T0)]
    assert top_videos(client, database, "no-such-campaign") == []

    # never the creator id, in any answer
    answers = [lookup_video(client, database, CAMPAIGN, v).to_json() for v in EXPECTED_LOOKUPS]
    answers += [t.to_json() for t in top_videos(client, database, CAMPAIGN, 25)]
    assert answers and "SECRET" not in json.dumps(answers)
    assert all("creator_id" not in a for a in answers)

    # no schema yet: unknown and no top videos, not an error
    assert lookup_video(client, database + "_missing", CAMPAIGN, "v-counted").to_json()["status"] == "unknown"
    assert top_videos(client, database + "_missing", CAMPAIGN) == []
