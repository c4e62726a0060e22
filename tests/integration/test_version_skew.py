"""A campaign's new owner whose clock is minutes behind the old owner's still wins.

Rows are absolute values; ClickHouse's ``argMax`` views and ``forgood serve`` keep the row with
the highest version. Worker A (the machine's clock) counts the first half of an event set;
worker B runs under ``faketime`` ten minutes in the past, joins the group, and takes over
every campaign when A stops (a rebalance). B then counts the second half. Had versions been
wall-clock time, every row B published would lose to A's older rows for ten minutes and
ClickHouse would stay at the first half's numbers; with versions derived from what the owner
applied, ClickHouse and the live API end exactly at the oracle's numbers for all events.

B's skew is checked, not assumed: a dead letter it writes carries its clock
(``forgood-failed-at``), which must be at least nine minutes behind the test's.
"""

from __future__ import annotations

import shutil
import signal
import time

import pytest

from forgood.domain.campaigns import load_campaign_file
from producers.campaigns import publish_campaigns
from tests.support.eventset import generate, make_campaigns, oracle, write_campaigns, write_events
from tests.support.readback import read_back
from tests.support.serving import api_state, free_port, start_serve, wait_ready
from tests.support.topics import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SKEW = "-10m"
SETTLE_S = 180


def test_a_new_owner_whose_clock_is_behind_takes_over_and_its_rows_win(run_settings, procs, clickhouse, tmp_path):
    assert shutil.which("faketime"), "faketime is missing: run `make setup` (scripts/setup.sh installs it)"
    campaigns = make_campaigns()
    publish_campaigns(run_settings, load_campaign_file(write_campaigns(tmp_path, campaigns)))
    lines, _ = generate(seed=23, videos=1600, campaigns=campaigns, invalid=[])
    half = len(lines) // 2
    first_totals, first_minutes = oracle(lines[:half], campaigns)
    all_totals, all_minutes = oracle(lines, campaigns)
    assert first_totals != all_totals
    db = run_settings.clickhouse.database
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    # 1. Old owner A, on the machine's clock, counts the first half; its rows reach ClickHouse.
    procs.start("worker-a", "worker")
    procs.start("sink", "sink")
    produced = procs.run("produce", "--from", str(write_events(tmp_path, "first.jsonl", lines[:half])), "--quiet")
    assert produced.returncode == 0, produced.stdout + produced.stderr
    wait_until(lambda: read_back(clickhouse, db) == (first_totals, first_minutes), SETTLE_S,
               what="ClickHouse to equal the oracle for the first half (worker A)")
    start_serve(procs, port)
    wait_ready(base, procs)

    # 2. New owner B, ten minutes behind, joins; A stops cleanly and B takes every partition.
    procs.start("worker-b", "worker", wrapper=("faketime", "-f", SKEW),
                env={"FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    procs.wait_for_log("worker-b", "Worker ready", timeout=120)
    assert procs.kill("worker-a", signal.SIGTERM) == 0, procs.tail()

    # 3. B counts the second half (plus one bad event whose dead letter shows B's clock).
    bad = b'{"event_id": "skew-probe", "not": "a video"}'
    produced = procs.run("produce", "--from", str(write_events(tmp_path, "second.jsonl", [*lines[half:], bad])),
                         "--quiet")
    assert produced.returncode == 0, produced.stdout + produced.stderr
    dead = wait_until(lambda: [r for r in read_topic(run_settings, run_settings.dlq_topic) if r.value == bad],
                      120, what="worker B to dead-letter the probe event")
    failed_at = int(dict(dead[0].headers)["forgood-failed-at"])
    assert time.time() - failed_at >= 9 * 60, f"worker B's clock is not behind: failed-at {failed_at}"

    try:
        wait_until(lambda: read_back(clickhouse, db) == (all_totals, all_minutes), SETTLE_S,
                   what="ClickHouse to equal the oracle for all events (worker B's rows)")
    except AssertionError:
        totals, _ = read_back(clickhouse, db)
        pytest.fail(f"totals (got, want): { {k: (totals.get(k), v) for k, v in all_totals.items()} }\n"
                    f"{procs.tail()}")
    want = {cid: row for cid, row in all_totals.items()}
    wait_until(lambda: api_state(base)[0] == want, 60,
               what="the live API to show worker B's totals")
