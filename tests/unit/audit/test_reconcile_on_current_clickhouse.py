"""``reconcile`` reading a *current* ClickHouse (chdb, in-process): its SQL — the contracts'
``latest_sql`` with a quoted campaign filter, the campaign ids of the three tables — runs on
a current release as on the local 18.16 (tests/integration/test_reconcile.py), through the
sink's own INSERT path, with several versions per key; and its table and difference lines as
printed. Nothing is skipped: without chdb every test fails saying how to install it.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from forgood.audit.reconcile import ReconcileError, reconcile
from forgood.audit.reconcile_reads import quote
from forgood.cli.reconciling import print_result
from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoRow
from forgood.domain.settings import Settings
from sinks.clickhouse import ClickHouseSink
from sinks.schema import TABLES
from tests.support.chdb_client import ChdbClient

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DB = "forgood_current_reconcile"



def campaign(cid: str, price: str, cap: str | None) -> Campaign:
    return Campaign.model_validate({
        "id": cid, "name": cid, "nonprofit": "np", "hashtags": [cid], "donation_per_video": price, "currency": "USD",
        "starts_at": "2025-12-01T00:00:00Z", "ends_at": "2026-02-01T00:00:00Z", "donation_cap": cap})


CAMPAIGNS = {"dance": campaign("dance", "1.00", "2.50"), "sing": campaign("sing", "0.10", None)}


def video(cid: str, vid: str, creator: str, at: int, status: str, version: int, views: int = 0) -> CampaignVideoRow:
    return CampaignVideoRow(cid, vid, creator, at, at - at % 60, status, at, "" if status == "counted" else "fraud",
                            views, 0, 0, 0, version)


# dance: 3 counted (the cap 250 is reached in the second minute), 1 removed, 1 outside its window
DANCE = [video("dance", "d1", "ann", T0 + 5, "counted", 3, 10), video("dance", "d2", "bob", T0 + 61, "counted", 3, 1),
         video("dance", "d3", "ann", T0 + 70, "counted", 4), video("dance", "d4", "cy", T0 + 130, "removed", 9),
         video("dance", "d5", "cy", T0 - 86_400 * 40, "outside_window", 2)]
OLDER = [video("dance", "d4", "cy", T0 + 130, "counted", 8), video("dance", "d1", "ann", T0 + 5, "removed", 1)]
SING = [video("sing", "s1", "eve", T0 + 200, "counted", 1, 7)]
AGGREGATES = [
    CampaignTotal("dance", 3, 2, 250, "USD", T0, 10, removed=1, views=11),
    CampaignMinute("dance", T0, 1, 100, 10), CampaignMinute("dance", T0 + 60, 2, 150, 10),
    CampaignMinute("dance", T0 + 120, 0, 0, 10),  # all of its videos removed: 0, 0
    CampaignTotal("sing", 1, 1, 10, "USD", T0, 2, views=7), CampaignMinute("sing", T0 + 180, 1, 10, 2),
]


@pytest.fixture(scope="module")
def sink(chdb_client: ChdbClient) -> ClickHouseSink:
    sink = ClickHouseSink(Settings(clickhouse_url=f"clickhouse://127.0.0.1:9000/{DB}"), client=chdb_client)
    sink.start()  # the real migrations
    for table in TABLES:  # every version stays in the tables: latest_sql must pick
        chdb_client.execute(f"SYSTEM STOP MERGES {table.qualified(DB)}")
    for rows in (DANCE + SING + AGGREGATES, OLDER):
        for row in rows:
            sink.add(row)
        sink.flush()
    return sink


def check(sink: ClickHouseSink, campaign: str | None = None, campaigns: dict | None = None):
    return reconcile(sink.settings, campaign, campaigns=CAMPAIGNS if campaigns is None else campaigns,
                     client=sink.client)


def test_rows_written_by_the_sink_reconcile(sink):
    result = check(sink)
    assert result.ok, [d.text() for d in result.differences]
    assert [c.campaign_id for c in result.campaigns] == ["dance", "sing"]
    dance = result.campaigns[0]
    assert (dance.rows.videos, dance.rows.creators, dance.rows.removed, dance.rows.donation_minor,
            dance.rows.views) == (3, 2, 1, 250, 11)
    assert [c.campaign_id for c in check(sink, "sing").campaigns] == ["sing"]


def test_a_newer_row_with_another_status_and_a_campaign_known_only_to_clickhouse_are_named(sink, chdb_client):
    sink.add(video("dance", "d2", "bob", T0 + 61, "removed", 4, 1))
    sink.add(CampaignMinute("o'brien", T0, 1, 1, 1))  # an id needing quotes, on no campaigns topic
    sink.flush()
    result = check(sink)
    texts = [d.text() for d in result.differences]
    assert not result.ok
    assert "dance: totals: campaign_totals says videos=3, campaign_videos (recounted) says 2" in texts
    assert "dance: totals: campaign_totals says removed=1, campaign_videos (recounted) says 2" in texts
    assert ("dance: minute 2026-01-01T00:01:00Z: campaign_minutes says videos=2, campaign_videos (recounted) "
            "says 1") in texts
    assert "o'brien: campaign: not on the campaigns topic: its donation cannot be recounted without its terms" in texts
    assert ("o'brien: minute 2026-01-01T00:00:00Z: campaign_minutes says videos=1, campaign_videos (recounted) "
            "says 0") in texts
    assert check(sink, "sing").ok
    assert not check(sink, "o'brien").ok

    out = io.StringIO()
    print_result(Console(file=out, width=100), result)
    printed = out.getvalue()
    assert "DIFFERS" in printed and "OK" in printed
    for text in texts:
        assert text in printed


def test_an_unknown_campaign_or_an_unreachable_clickhouse_is_a_clear_error(sink):
    with pytest.raises(ReconcileError, match="no campaign 'nope' on the campaigns topic or in ClickHouse"):
        check(sink, "nope")
    down = Settings(clickhouse_url="clickhouse://127.0.0.1:1/forgood")
    with pytest.raises(ReconcileError, match=r"ClickHouse at 127\.0\.0\.1:1 \(database forgood\) failed"):
        reconcile(down, campaigns=CAMPAIGNS)
    with pytest.raises(ReconcileError, match="missing_db"):
        reconcile(Settings(clickhouse_url="clickhouse://127.0.0.1:9000/missing_db"), campaigns=CAMPAIGNS,
                  client=sink.client)


def test_quote_makes_any_text_one_clickhouse_string(chdb_client):
    for text in ("plain", "o'brien", "back\\slash", "\\'", "tab\tand\nnewline", "ünï"):
        assert chdb_client.execute(f"SELECT {quote(text)}") == [(text,)]
