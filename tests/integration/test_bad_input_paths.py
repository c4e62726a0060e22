"""Bad input on the command line and on the topic: clear errors, nothing lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from forgood.cli.campaigns import read_campaigns
from tests.support.topics import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

BAD_FILE = """\
campaigns:
  - id: ok-one
    name: Fine
    nonprofit: X
    hashtags: [fine]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: broken
    name: Broken
    nonprofit: X
    hashtags: [broken]
    donation_per_video: "-1"
    currency: XYZ
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2026-10-01T00:00:00Z
  - id: ok-one
    name: Again
    nonprofit: X
    hashtags: [again]
    donation_per_video: abc
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
"""


def test_bad_campaign_file_is_rejected_whole_with_one_line_per_problem(run_settings, procs, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE)
    result = procs.run("campaigns", "apply", str(path))
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 2, out
    for fragment in ("negative", "unknown currency 'XYZ'", "must be after starts_at",
                     "valid decimal", "'ok-one' is defined more than once"):
        assert fragment in " ".join(out.split()), (fragment, out)
    assert read_campaigns(run_settings) == {}, "nothing may be published when any campaign is invalid"


def test_dead_letters_can_be_replayed_after_a_fix(run_settings, procs, clickhouse, tmp_path):
    """An event 20 minutes in the future is dead-lettered under a 5-minute skew; after the
    operator widens the skew, `forgood dlq replay` re-sends it and it is counted once."""
    db = run_settings.clickhouse.database
    camp = tmp_path / "c.yaml"
    now = datetime.now(UTC)
    camp.write_text(json.dumps({"campaigns": [{
        "id": "skewed", "name": "S", "nonprofit": "X", "hashtags": ["SkewTag"], "donation_per_video": "1.00",
        "currency": "USD", "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat()}]}))
    assert procs.run("campaigns", "apply", str(camp)).returncode == 0
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"event_id": "f1", "video_id": "future-1", "creator_id": "c",
                                  "hashtags": ["SkewTag"],
                                  "created_at": (now + timedelta(minutes=20)).isoformat()}) + "\n")
    procs.start("worker", "worker")
    procs.start("sink", "sink")
    assert procs.run("produce", "--from", str(events), "--quiet").returncode == 0
    dead = wait_until(lambda: read_topic(run_settings, run_settings.dlq_topic, timeout=5), 120, what="dead letter")
    assert dict(dead[0].headers)["forgood-reason"] == b"future_timestamp"
    shown = procs.run("dlq", "show")
    assert b"future_timestamp" in shown.stdout, shown.stdout

    # The fix: restart the worker with a wider skew, then replay (twice: the second sends nothing new).
    procs.kill("worker")
    procs.settings = run_settings.model_copy(update={"max_future_skew_s": 3600})
    procs.start("worker", "worker")
    assert b"re-sent 1 dead letter" in procs.run("dlq", "replay").stdout
    assert b"re-sent 0 dead letter" in procs.run("dlq", "replay").stdout

    def counted():
        try:
            return clickhouse.execute(f"SELECT videos FROM {db}.campaign_totals WHERE campaign_id = 'skewed'")
        except Exception:
            return []

    wait_until(lambda: counted() == [(1,)], 120, what="replayed event counted")
