""""Did my video count?" and the top videos (forgood.audit.lookup) on a *current* ClickHouse.

The scenario (``tests/support/lookup_scenario.py``) also runs on the local stack's ClickHouse
18.16 in ``tests/integration/test_video_lookup.py``. Rows are written the way the sink writes them —
:class:`sinks.clickhouse.ClickHouseSink` after :func:`sinks.schema.migrate` — several
versions per key, the newest versions in an earlier INSERT than the older ones, and a second
campaign that shares a video id. Expectations are written out by hand per video, and the top
list is also recomputed by :func:`oracle_top` from the rows in plain Python (newest version
per key, counted, by views, likes, id).

chdb (ClickHouse in-process) stands behind clickhouse-driver's ``Client`` interface
(``tests/support/chdb_client.py``); nothing is skipped: without chdb the tests fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from forgood.audit.lookup import TopVideo, VideoLookup, lookup_video, top_videos, top_videos_sql
from tests.support.chdb_client import ChdbClient
from tests.support.lookup_scenario import CAMPAIGN, T0, check_scenario, row, write_scenario

# --- on chdb -----------------------------------------------------------------------------------


def test_lookup_and_top_videos_on_current_clickhouse(chdb_client: ChdbClient) -> None:
    db = "forgood_lookup_current"
    write_scenario(chdb_client, db)
    check_scenario(chdb_client, db)
    # after ReplacingMergeTree merged the versions away: the same answers
    chdb_client.execute(f"OPTIMIZE TABLE {db}.campaign_videos_versions FINAL")
    check_scenario(chdb_client, db)


def test_a_table_missing_in_an_existing_database_is_unknown(chdb_client: ChdbClient) -> None:
    chdb_client.execute("CREATE DATABASE IF NOT EXISTS forgood_lookup_empty")
    assert lookup_video(chdb_client, "forgood_lookup_empty", CAMPAIGN, "x").status == "unknown"
    assert top_videos(chdb_client, "forgood_lookup_empty", CAMPAIGN) == []


# --- pure shaping --------------------------------------------------------------------------------

def test_json_shape_times_and_reasons() -> None:
    counted = VideoLookup(CAMPAIGN, "v1", "counted", T0, T0 + 5, None)
    assert counted.to_json() == {"campaign_id": CAMPAIGN, "video_id": "v1", "status": "counted",
                                 "minute": "2026-11-24T19:00:00Z", "status_at": "2026-11-24T19:00:05Z",
                                 "reason": None}
    assert list(counted.to_json()) == ["campaign_id", "video_id", "status", "minute", "status_at", "reason"]
    assert VideoLookup(CAMPAIGN, "v1", "counted", T0, T0, "").to_json()["reason"] is None
    assert VideoLookup.unknown(CAMPAIGN, "v1").to_json() == {
        "campaign_id": CAMPAIGN, "video_id": "v1", "status": "unknown", "minute": None, "status_at": None,
        "reason": None}
    assert VideoLookup.from_row(row("v1", 1, "removed", reason="moderation")).to_json()["reason"] == "moderation"
    assert VideoLookup.from_row(row("v1", 1)).to_json()["reason"] is None
    assert TopVideo("v1", 5, 4, 3, 2, T0).to_json() == {"video_id": "v1", "views": 5, "likes": 4, "shares": 3,
                                                        "comments": 2, "minute": "2026-11-24T19:00:00Z"}
    with pytest.raises(ValueError, match="not one of"):
        VideoLookup(CAMPAIGN, "v1", "paid", None, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "reason", "words"), [
    ("counted", None, "Counted"),
    ("counted", "appeal", "Counted"),
    ("removed", "moderation", "Removed (moderation)"),
    ("removed", "creator_deleted", "Removed (deleted by its creator)"),
    ("removed", None, "Removed"),
    ("outside_window", "before_start", "Outside the campaign window (before start)"),
    ("outside_window", "after_end", "Outside the campaign window (after end)"),
    ("unknown", None, "Not found for this campaign"),
])
def test_in_words(status: Any, reason: str | None, words: str) -> None:
    assert VideoLookup(CAMPAIGN, "v", status, T0, T0, reason).in_words() == words


def test_the_top_query_filters_the_campaign_before_grouping_and_refuses_a_bad_limit() -> None:
    sql = top_videos_sql("db", "it's", 10)
    assert sql.index("WHERE campaign_id = 'it\\'s'") < sql.index("GROUP BY video_id") < sql.index(
        "WHERE top_status = 'counted'")
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError):
            top_videos_sql("db", "c", bad)  # type: ignore[arg-type]
