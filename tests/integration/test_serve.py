"""The counter service on the real local stack: its numbers equal ClickHouse's, and pushes arrive.

worker + sink + ``python -m forgood.serve`` run as processes. Once the pipeline has settled, every
campaign's videos / creators / donation_minor / currency / version from the API equal the
ClickHouse view (and the versions table) exactly, and so do the per-minute videos; an event
produced later reaches an open event stream (timed). A restarted service starts from
ClickHouse plus the sink's offsets and answers the same numbers as soon as it is ready. Every
figure of a campaign's totals — removed, views, likes, shares and comments too — is compared.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta

import pytest

from forgood.domain.campaigns import parse_campaigns
from producers.campaigns import publish_campaigns
from tests.support.readback import read_back_counts
from tests.support.serving import (
    NOW,
    EventStream,
    api_counts,
    api_state,
    campaign_spec,
    get_json,
    start_pipeline_and_serve,
    start_serve,
    wait_ready,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def write_events(path, prefix: str, tag: str, count: int, creators: int = 5, minutes_back=(5,)) -> None:
    """``count`` videos for ``tag`` by ``creators`` people, spread over ``minutes_back`` (minutes
    before now), the first one delivered twice."""
    lines = []
    for i in range(count):
        created = NOW - timedelta(minutes=minutes_back[i % len(minutes_back)])
        lines.append(json.dumps({"event_id": f"{prefix}-{i}", "video_id": f"{prefix}-v{i}",
                                 "creator_id": f"{prefix}-c{i % creators}", "hashtags": [tag],
                                 "created_at": created.isoformat()}))
    if lines:
        lines.append(lines[0])
    path.write_text("\n".join(lines) + "\n")


# --- the test --------------------------------------------------------------------------------

SPECS = [
    campaign_spec("capped-usd", "Capped", "Cap Fund", "ServeCap", "2.00", "USD", cap="50.00", goal=100),
    campaign_spec("plain-gbp", "Plain", "Plain Trust", "ServePlain", "0.50", "GBP"),
    campaign_spec("yen-jpy", "Yen", "Yen Aid", "ServeYen", "10", "JPY", goal=1000),
    campaign_spec("idle-eur", "Idle", "Nobody", "ServeIdle", "1.00", "EUR"),
]


def clickhouse_state(client, db):
    """(totals by id, versions by id, {(id, epoch minute): videos}) from ClickHouse."""
    try:
        totals = {r[0]: tuple(r[1:]) for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor, currency FROM {db}.campaign_totals")}
        versions = dict(client.execute(
            f"SELECT campaign_id, max(version) FROM {db}.campaign_totals_versions GROUP BY campaign_id"))
        minutes = {(r[0], r[1]): r[2] for r in client.execute(
            f"SELECT campaign_id, toUInt32(minute), videos FROM {db}.campaign_minutes")}
    except Exception:  # the sink has not created the schema yet
        return {}, {}, {}
    return totals, versions, minutes


def recent(minutes: dict) -> dict:
    """Minute rows the API shows: the last 60 minutes, non-zero."""
    current = int(time.time()) // 60 * 60
    return {k: v for k, v in minutes.items() if current - 59 * 60 <= k[1] <= current and v}


EXPECTED = {  # (videos, creators, donation_minor, currency)
    "capped-usd": (40, 6, 5_000, "USD"),  # 40 × $2.00 = $80, capped at $50
    "plain-gbp": (25, 5, 1_250, "GBP"),
    "yen-jpy": (12, 4, 120, "JPY"),
    "idle-eur": (0, 0, 0, "EUR"),
}


def test_api_equals_clickhouse_and_pushes_new_counts(run_settings, procs, clickhouse, tmp_path):
    db = run_settings.clickhouse.database
    publish_campaigns(run_settings, parse_campaigns({"campaigns": SPECS}))
    base, port = start_pipeline_and_serve(procs)

    write_events(tmp_path / "a.jsonl", "a", "ServeCap", 40, creators=6, minutes_back=(3, 7, 12))
    write_events(tmp_path / "b.jsonl", "b", "servePLAIN", 25, creators=5, minutes_back=(1, 2))
    write_events(tmp_path / "c.jsonl", "c", "#ServeYen", 12, creators=4, minutes_back=(20,))
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):
        produced = procs.run("produce", "--from", str(tmp_path / name), "--quiet")
        assert produced.returncode == 0, produced.stdout + produced.stderr

    def settled():
        ch_totals, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
        api_totals, api_versions, api_minutes = api_state(base)
        return (ch_totals == EXPECTED and api_totals == ch_totals and api_versions == ch_versions
                and api_minutes == recent(ch_minutes)
                # every figure, removed and engagement too (issue 13), equal to the campaign_totals view
                and api_counts(base) == read_back_counts(clickhouse, db))

    try:
        wait_until(settled, 180, what="the API to equal ClickHouse")
    except AssertionError:
        pytest.fail(f"ClickHouse: {clickhouse_state(clickhouse, db)}\nAPI: {api_state(base)}\n{procs.tail()}")
    _, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
    assert sum(v for (cid, _), v in recent(ch_minutes).items() if cid == "capped-usd") == 40

    status, one = get_json(base + "/api/campaigns/capped-usd")
    assert status == 200
    assert one["raised"] == "$50.00" and one["percent_of_cap"] == 100.0 and one["percent_of_goal"] == 40.0
    assert get_json(base + "/api/campaigns/nope") == (404, {"error": "not_found", "message": "no campaign 'nope'"})

    # A new video reaches an open event stream (the worker publishes, the service pushes).
    stream = EventStream(base + "/api/campaigns/plain-gbp/events")
    try:
        snapshot = stream.next()
        assert snapshot["event"] == "snapshot" and snapshot["data"]["videos"] == 25
        write_events(tmp_path / "d.jsonl", "d", "ServePlain", 1, minutes_back=(0,))
        sent = time.monotonic()
        assert procs.run("produce", "--from", str(tmp_path / "d.jsonl"), "--quiet").returncode == 0
        produced_at = time.monotonic()
        deadline = time.monotonic() + 60
        while True:
            frame = stream.next()
            assert frame["event"] == "update"
            if frame["data"]["videos"] == 26:
                break
            assert time.monotonic() < deadline, "no update with the new video within 60 s"
        pushed = time.monotonic()
        # version = the worker's publication time (ns, same machine clock): publish → client
        publish_to_client = (time.time_ns() - frame["data"]["version"]) / 1e9
        print(f"\nproduced → pushed: {pushed - produced_at:.2f} s after the producer returned "
              f"({pushed - sent:.2f} s including the produce command); published → pushed: "
              f"{publish_to_client * 1000:.0f} ms")
        assert publish_to_client < 1.0, "a published count must reach clients within 1 s"
        assert frame["data"]["creators"] == 6 and frame["data"]["donation_minor"] == 1_300
        assert int(frame["id"]) == frame["data"]["version"] > ch_versions["plain-gbp"]
    finally:
        stream.close()

    # Restarted, the service starts from ClickHouse and the sink's offsets: same numbers at once.
    assert procs.kill("serve", signal.SIGTERM) == 0, procs.tail()
    wait_until(lambda: clickhouse_state(clickhouse, db)[0].get("plain-gbp") == (26, 6, 1_300, "GBP"), 60,
               what="the new video in ClickHouse")
    start_serve(procs, port)
    wait_ready(base, procs)
    ch_totals, ch_versions, ch_minutes = clickhouse_state(clickhouse, db)
    api_totals, api_versions, api_minutes = api_state(base)
    assert (api_totals, api_versions, api_minutes) == (ch_totals, ch_versions, recent(ch_minutes))
    assert api_counts(base) == read_back_counts(clickhouse, db) and set(api_counts(base)) == set(EXPECTED)
    log = (procs.logs / f"serve-{procs.starts_of['serve']}.log").read_text()
    assert "loaded 4 totals" in log and "from the sink's offsets" in log, log
