""""Did my video count?" and the top videos on the local stack's ClickHouse 18.16.

The scenario of ``tests/unit/audit/test_lookup.py`` (run there on a current ClickHouse):
rows written through the sink after ``migrate`` into this test's own database, several
versions per key and out of order; every lookup status, the newest version winning, the top
list's order and exactness, never a creator id — before and after the versions are merged.
Then the same answers over HTTP from ``forgood serve`` run as a process, and its 503 when
its ClickHouse cannot be reached.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest

from forgood.audit.lookup import lookup_video, top_videos
from forgood.domain.campaigns import parse_campaigns
from forgood.domain.events import MAX_ID_LENGTH
from forgood.domain.settings import Settings
from forgood.serve.videos import TIMEOUT_S, TOP_TTL_S
from producers.campaigns import publish_campaigns
from sinks.clickhouse import ClickHouseSink
from tests.support.lookup_scenario import (
    CAMPAIGN,
    EXPECTED_LOOKUPS,
    EXPECTED_TOP,
    ROWS,
    check_scenario,
    oracle_top,
    write_scenario,
)
from tests.support.serving import campaign_spec, free_port, get_json, start_serve, wait_ready
from tests.support.waiting import wait_until

ALL_ROWS = [r for group in ROWS for r in group]

pytestmark = pytest.mark.integration


def test_lookup_and_top_videos_on_clickhouse_18(run_settings: Settings, clickhouse: Any) -> None:
    db = run_settings.clickhouse.database
    assert lookup_video(clickhouse, db, CAMPAIGN, "v-counted").status == "unknown"  # no database yet
    assert top_videos(clickhouse, db, CAMPAIGN) == []
    version = clickhouse.execute("SELECT version()")[0][0]
    assert version.startswith("18.16"), f"the local stack runs ClickHouse {version}, not 18.16"
    write_scenario(clickhouse, db)
    check_scenario(clickhouse, db)
    clickhouse.execute(f"OPTIMIZE TABLE {db}.campaign_videos_versions FINAL")
    check_scenario(clickhouse, db)


# --- the HTTP endpoint, end to end ---------------------------------------------------------------

def lookup_url(base: str, video_id: str, campaign: str = CAMPAIGN) -> str:
    return f"{base}/api/campaigns/{campaign}/videos/{quote(video_id, safe='')}"


def test_the_service_answers_lookups_and_top_videos_from_clickhouse(run_settings: Settings, procs: Any,
                                                                     clickhouse: Any) -> None:
    """``forgood serve`` as a process: every status of the scenario over HTTP, the campaign's
    top ten in its answer, the usual 404 and 400; then a second service whose ClickHouse is
    a closed port answers 503 at once while its counters still answer."""
    db = run_settings.clickhouse.database
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [
        campaign_spec(CAMPAIGN, "Lookup", "Lookup Trust", "LookUp", "1.00", "USD")]}))
    write_scenario(clickhouse, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_serve(procs, port)
    wait_ready(base, procs)

    for video_id, expected in EXPECTED_LOOKUPS.items():
        status, body = get_json(lookup_url(base, video_id))
        assert (status, body) == (200, {"campaign_id": CAMPAIGN, "video_id": video_id, **expected}), video_id
    assert get_json(lookup_url(base, "v-counted", "other-camp")) == (
        404, {"error": "not_found", "message": "no campaign 'other-camp'"})  # rows in ClickHouse, not a campaign
    status, body = get_json(lookup_url(base, "x" * (MAX_ID_LENGTH + 1)))
    assert status == 400 and body["error"] == "bad_request" and "malformed video id" in body["message"]

    status, campaign = get_json(f"{base}/api/campaigns/{CAMPAIGN}")
    assert status == 200
    assert campaign["top_videos"] == [t.to_json() for t in oracle_top(ALL_ROWS, CAMPAIGN, 10)]
    assert [v["video_id"] for v in campaign["top_videos"]] == EXPECTED_TOP
    with urllib.request.urlopen(f"{base}/api/campaigns/{CAMPAIGN}", timeout=5) as resp:
        assert b"SECRET" not in resp.read()

    # A newer version removes the most-viewed video: the lookup says so at once, and the top
    # list drops it once its cache (TOP_TTL_S) has expired.
    sink = ClickHouseSink(run_settings, client=clickhouse)
    newest = next(r for r in ROWS[0] if r.video_id == "v-counted")
    sink.add(replace(next(r for r in ALL_ROWS if r.video_id == "tie-d"), status="removed", reason="fraud",
                     status_at=newest.status_at + 60, version=100))
    sink.flush()
    status, body = get_json(lookup_url(base, "tie-d"))
    assert (status, body["status"], body["reason"]) == (200, "removed", "fraud")
    wait_until(lambda: [v["video_id"] for v in get_json(f"{base}/api/campaigns/{CAMPAIGN}")[1]["top_videos"]]
               == [*EXPECTED_TOP[1:], "fill-04"], TOP_TTL_S + 10, what="the removed video to leave the top list")

    # ClickHouse unreachable: 503 at once, never a hang; the counters are still served.
    other_port = free_port()
    other = f"http://127.0.0.1:{other_port}"
    procs.start("serve-no-clickhouse", "serve", "--host", "127.0.0.1", "--port", str(other_port),
                env={"FORGOOD_CLICKHOUSE_URL": f"clickhouse://127.0.0.1:{free_port()}/{db}"})
    wait_ready(other, procs)
    started = time.monotonic()
    status, body = get_json(lookup_url(other, "v-counted"))
    assert status == 503 and body["error"] == "unavailable" and "ClickHouse" in body["message"], body
    assert time.monotonic() - started < TIMEOUT_S + 1
    status, campaign = get_json(f"{other}/api/campaigns/{CAMPAIGN}")
    assert status == 200 and campaign["name"] == "Lookup" and campaign["top_videos"] is None
