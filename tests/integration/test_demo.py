"""The main job: `forgood demo` runs the whole pipeline and the counters in ClickHouse rise."""

from __future__ import annotations

import signal

import pytest

from tests.support.processes import Processes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def videos_counted(client, db) -> int:
    try:
        return client.execute(f"SELECT sum(videos) FROM {db}.campaign_totals")[0][0] or 0
    except Exception:
        return 0


def test_demo_counters_rise_and_it_stops_cleanly(run_settings, stack_settings, clickhouse, tmp_path):
    # The demo starts the stack itself: give it the session stack's state folder so `up` is a no-op.
    settings = run_settings.model_copy(update={"state_dir": stack_settings.state_dir})
    logs = tmp_path / "demo-logs"
    logs.mkdir()
    procs = Processes(settings, logs)
    try:
        demo = procs.start("demo", "demo", "--rate", "200", "--duration", "120")
        db = settings.clickhouse.database
        first = wait_until(lambda: videos_counted(clickhouse, db), 90, what="first counts from the demo")
        wait_until(lambda: videos_counted(clickhouse, db) > first, 30, what="counters to rise")
        rows = clickhouse.execute(f"SELECT campaign_id FROM {db}.campaign_totals")
        assert {r[0] for r in rows} == {
            "dance-for-change", "music-shaped-me", "i-am-team-gb", "movember-2026", "red-nose-day-2026"
        }
        assert demo.poll() is None, procs.tail()
        assert procs.kill("demo", signal.SIGINT) == 0, procs.tail()
    finally:
        procs.stop_all()
