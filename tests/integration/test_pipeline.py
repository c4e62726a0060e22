"""End to end on the real local stack: events in Kafka -> Faust -> ClickHouse, exactly.

A generated event set (duplicates, multi-campaign videos, out-of-window, unmatched, invalid
and cap-hitting events) is replayed with ``forgood produce --from``; the test waits until
ClickHouse's ``campaign_totals`` / ``campaign_minutes`` equal the independent oracle's answer
exactly. The worker is SIGKILLed and restarted half way, so table recovery is exercised.
"""

from __future__ import annotations

import signal

import pytest

from forgood.domain.campaigns import load_campaign_file
from producers.campaigns import publish_campaigns
from tests.support.eventset import generate, make_campaigns, oracle, write_campaigns, write_events
from tests.support.readback import read_back
from tests.support.reconciling import assert_reconciles
from tests.support.topics import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SETTLE_S = 180


def invalid_lines(lines):
    """The lines the generator made invalid on purpose (see eventset.generate)."""
    return [raw for raw in lines if b"bad-" in raw or not raw.startswith(b'{"event_id": "e-')]


def test_replayed_events_end_exactly_as_the_oracle_says_across_a_worker_crash(
    run_settings, procs, clickhouse, tmp_path
):
    campaigns = make_campaigns()
    publish_campaigns(run_settings, load_campaign_file(write_campaigns(tmp_path, campaigns)))
    lines, injected = generate(seed=7, videos=3000, campaigns=campaigns)
    expected_totals, expected_minutes = oracle(lines, campaigns)
    assert injected["duplicates"] > 100 and injected["invalid"] > 5
    assert expected_totals["capped-gbp"][2] == 5_000, "the event set must hit the cap"
    half = len(lines) // 2
    first = write_events(tmp_path, "first.jsonl", lines[:half])
    second = write_events(tmp_path, "second.jsonl", lines[half:])
    db = run_settings.clickhouse.database

    procs.start("worker", "worker")
    procs.start("sink", "sink")
    produced = procs.run("produce", "--from", str(first), "--quiet")
    assert produced.returncode == 0, produced.stdout + produced.stderr

    # Let some of it be counted, then crash the worker hard and start it again.
    wait_until(lambda: sum(t[0] for t in read_back(clickhouse, db)[0].values()) > 0, 120,
               what="first counts in ClickHouse")
    assert procs.kill("worker", signal.SIGKILL) == -signal.SIGKILL
    procs.start("worker", "worker")
    produced = procs.run("produce", "--from", str(second), "--quiet")
    assert produced.returncode == 0, produced.stdout + produced.stderr

    def settled():
        totals, minutes = read_back(clickhouse, db)
        return totals == expected_totals and minutes == expected_minutes

    try:
        wait_until(settled, SETTLE_S, what="ClickHouse to equal the oracle")
    except AssertionError:
        totals, minutes = read_back(clickhouse, db)
        diff = {k: (totals.get(k), v) for k, v in expected_totals.items() if totals.get(k) != v}
        mdiff = {k: (minutes.get(k), v) for k, v in expected_minutes.items() if minutes.get(k) != v}
        extra = set(minutes) - set(expected_minutes)
        pytest.fail(f"totals diff (got, want): {diff}\nminute diffs: {len(mdiff)} e.g. {list(mdiff.items())[:5]}"
                    f"\nunexpected minutes: {list(extra)[:5]}\n{procs.tail()}")

    # Every invalid line is on the dead-letter topic with its original bytes and a reason.
    dead = read_topic(run_settings, run_settings.dlq_topic)
    reasons = {dict(r.headers)["forgood-reason"].decode() for r in dead}
    assert {r.value for r in dead} >= set(invalid_lines(lines)), procs.tail()
    assert {"not_json", "not_utf8", "not_object", "missing_field", "no_timezone", "no_hashtags",
            "null_field"} <= reasons

    # Issue 14: every figure recounted from campaign_videos and from the source topics agrees
    # (the campaigns' terms never changed during the run).
    assert_reconciles(procs, "--from-source")


def test_forgood_run_stops_cleanly_on_sigterm(run_settings, procs):
    proc = procs.start("run", "run")
    # Up, not just started: both children say so in run's log (or run exited: the assert reports it).
    up = ("[^Worker]: Ready", "sink writing")
    wait_until(lambda: proc.poll() is not None or all(text in procs.log("run") for text in up), 120, 0.2,
               what=f"forgood run's worker and sink to start ({' and '.join(map(repr, up))} in its log)")
    assert proc.poll() is None, procs.tail()
    assert procs.kill("run", signal.SIGTERM) == 0, procs.tail()

