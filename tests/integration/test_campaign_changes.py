"""Campaigns change while the pipeline runs: new campaigns and raised caps, no restart.

The documented rule: matching uses the campaigns a worker knows when it processes an event;
a change of price or cap applies to every video already counted, and the owner republishes
the campaign's totals and minutes within about two seconds.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import wait_until

from forgood.campaigns import parse_campaigns
from producers.campaigns import publish_campaigns

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


def campaign(cid: str, tag: str, cap: str | None) -> dict:
    spec = {
        "id": cid, "name": cid, "nonprofit": "Test", "hashtags": [tag],
        "donation_per_video": "0.10", "currency": "USD",
        "starts_at": (NOW - timedelta(days=1)).isoformat(), "ends_at": (NOW + timedelta(days=1)).isoformat(),
    }
    if cap:
        spec["donation_cap"] = cap
    return spec


def apply(settings, *specs):
    publish_campaigns(settings, parse_campaigns({"campaigns": list(specs)}))


def events(tmp_path, name, tag, count):
    path = tmp_path / name
    created = (NOW - timedelta(minutes=5)).isoformat()
    path.write_text("\n".join(
        json.dumps({"event_id": f"{name}-{i}", "video_id": f"{name}-v{i}", "creator_id": f"c{i % 3}",
                    "hashtags": [tag], "created_at": created})
        for i in range(count)
    ) + "\n")
    return path


def totals(client, db):
    try:
        return {r[0]: r[1:] for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor FROM {db}.campaign_totals")}
    except Exception:
        return {}


def test_raised_cap_and_new_campaign_take_effect_without_restart(run_settings, procs, clickhouse, tmp_path):
    db = run_settings.clickhouse.database
    apply(run_settings, campaign("capped", "CapTag", "1.00"))
    procs.start("worker", "worker")
    procs.start("sink", "sink")
    assert procs.run("produce", "--from", str(events(tmp_path, "a", "CapTag", 20)), "--quiet").returncode == 0
    wait_until(lambda: totals(clickhouse, db).get("capped") == (20, 3, 100), 120,
               what="20 videos capped at $1.00")

    # Raise the cap: the 20 videos already counted are now worth their full $2.00.
    apply(run_settings, campaign("capped", "CapTag", "5.00"))
    wait_until(lambda: totals(clickhouse, db).get("capped") == (20, 3, 200), 60, what="cap raised to $5.00")

    # A new campaign: its zero row appears once the running worker knows it; then it counts.
    apply(run_settings, campaign("capped", "CapTag", "5.00"), campaign("newcomer", "NewTag", None))
    wait_until(lambda: totals(clickhouse, db).get("newcomer") == (0, 0, 0), 60, what="new campaign known")
    assert procs.run("produce", "--from", str(events(tmp_path, "b", "NewTag", 7)), "--quiet").returncode == 0
    wait_until(lambda: totals(clickhouse, db).get("newcomer") == (7, 3, 70), 60, what="new campaign counted")
    assert totals(clickhouse, db)["capped"] == (20, 3, 200)
