"""Campaign history on the real stack: `forgood campaigns apply [--by]` records every change of
a campaign's terms, the sink writes them to ClickHouse, `forgood campaigns history ID` shows
them — each once, however often the sink re-reads the topic.

The oracle is written out by hand: the rows each apply must record (one partition, so the
campaign records' offsets are 0, 1, 2, ... in publish order), the person who applied, and the
time — the timestamp of the campaign record on the campaigns topic, read back independently,
which must also lie within the apply's wall-clock interval.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_driver import Client
from kafka import TopicPartition
from typer.testing import CliRunner, Result

import forgood.cli.cli
import producers.campaigns
from forgood.audit.history import read_changes
from forgood.cli.cli import app
from forgood.domain.errors import ProducerError
from forgood.domain.kafka import make_consumer
from forgood.domain.records import CampaignChange
from forgood.domain.settings import Settings, get_settings
from sinks.clickhouse import ClickHouseSink
from tests.support.history_rows import check_rows, write_rows
from tests.support.processes import Processes
from tests.support.topics import read_topic
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REEF = {"id": "reef", "name": "Save the reef", "nonprofit": "Reef Trust", "hashtags": ["SaveTheReef"],
        "donation_per_video": "2.00", "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}
TREES = {"id": "trees", "name": "Plant trees", "nonprofit": "Forest Fund", "hashtags": ["PlantATree"],
         "donation_per_video": "500", "currency": "JPY", "donation_cap": "1000000",
         "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}
#: The price changed, a cap added, the window widened at both ends, a hashtag added; trees renamed only.
REEF_2 = {**REEF, "donation_per_video": "2.50", "donation_cap": "500", "starts_at": "2026-10-01T00:00:00Z",
          "ends_at": "2027-02-01T00:00:00Z", "hashtags": ["SaveTheReef", "#CoralCount"]}
TREES_2 = {**TREES, "name": "Plant more trees", "description": "not a term"}
REEF_3 = {**REEF_2, "donation_cap": "750.00"}

#: (change_id, what, old, new) per campaign, and which apply (by index) recorded them.
WANT = {
    "reef": [
        (0, "created", "", "", 0), (0, "price", "", "2.00 USD", 0), (0, "currency", "", "USD", 0),
        (0, "starts_at", "", "2026-11-01T00:00:00Z", 0), (0, "ends_at", "", "2027-01-01T00:00:00Z", 0),
        (0, "hashtags", "", "savethereef", 0),
        (2, "price", "2.00 USD", "2.50 USD", 1), (2, "cap", "", "500.00 USD", 1),
        (2, "starts_at", "2026-11-01T00:00:00Z", "2026-10-01T00:00:00Z", 1),
        (2, "ends_at", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", 1),
        (2, "hashtags", "savethereef", "savethereef,coralcount", 1),
        (6, "cap", "500.00 USD", "750.00 USD", 3),  # published by the interrupted apply, recorded by the next
    ],
    "trees": [
        (1, "created", "", "", 0), (1, "price", "", "500 JPY", 0), (1, "cap", "", "1000000 JPY", 0),
        (1, "currency", "", "JPY", 0), (1, "starts_at", "", "2026-11-01T00:00:00Z", 0),
        (1, "ends_at", "", "2027-01-01T00:00:00Z", 0), (1, "hashtags", "", "plantatree", 0),
    ],
}


def write(tmp_path: Path, name: str, *specs: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"campaigns": list(specs)}))
    return path


@pytest.fixture
def cli(run_settings: Settings) -> Callable[..., Result]:
    """Run ``forgood ...`` in-process (typer's CliRunner) with the test's settings in the environment."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=run_settings.as_env())
        finally:
            get_settings.cache_clear()

    return invoke


def committed(settings: Settings, group: str, topic: str) -> int | None:
    consumer = make_consumer(settings, group_id=group, client_id="forgood-tests")
    try:
        return consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close(autocommit=False)


def test_history_of_applied_changes(run_settings: Settings, procs: Processes, clickhouse: Client, tmp_path: Path,
                                    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    db = run_settings.clickhouse.database
    me = getpass.getuser()
    v1 = write(tmp_path, "v1.yaml", REEF, TREES)
    v2 = write(tmp_path, "v2.yaml", REEF_2, TREES_2)
    v3 = write(tmp_path, "v3.yaml", REEF_3, TREES_2)
    procs.start("sink", "sink")

    windows = []  # (before, after) epoch s of each apply

    def apply(path: Path, *by: str, code: int = 0) -> str:
        before = int(time.time())
        result = cli("campaigns", "apply", str(path), *by)
        windows.append((before, int(time.time()) + 1))
        assert result.exit_code == code, result.output
        return " ".join(result.output.split())

    out = apply(v1)  # apply 0: both new, by the OS user
    assert "reef: created; price — → 2.00 USD;" in out and f"(change 0 by {me})" in out
    assert "trees: created; price — → 500 JPY; cap — → 1000000 JPY;" in out and f"(change 1 by {me})" in out
    out = apply(v2, "--by", "alice")  # apply 1
    assert ("reef: price 2.00 USD → 2.50 USD; cap — → 500.00 USD; starts_at 2026-11-01T00:00:00Z → "
            "2026-10-01T00:00:00Z; ends_at 2027-01-01T00:00:00Z → 2027-02-01T00:00:00Z; hashtags savethereef → "
            "savethereef,coralcount (change 2 by alice)") in out, out
    assert "trees: unchanged" in out
    out = apply(v2, "--by", "carol")  # apply 2: the same file again records nothing (offsets 4, 5)
    assert "reef: unchanged" in out and "trees: unchanged" in out and "also recorded" not in out

    # Apply 3 is interrupted after its campaigns were acknowledged, before its changes were sent.
    with monkeypatch.context() as patch:
        def broker_gone(*_args: Any, **_kwargs: Any) -> None:
            raise ProducerError("simulated: the broker went away")

        patch.setattr(producers.campaigns, "_send_changes", broker_gone)
        out = apply(v3, "--by", "dave", code=2)  # reef@6, trees@7 published; no change recorded
    assert "error: publishing campaigns failed" in out and "Traceback" not in out
    out = apply(v3, "--by", "erin")  # apply 4: records dave's change from his record, nothing of its own
    assert "reef: unchanged" in out and "trees: unchanged" in out
    assert "also recorded 1 change(s)" in out and "reef: cap 500.00 USD → 750.00 USD (change 6 by dave," in out

    # The oracle's who and when: the campaign record at each change id, read back from the topic.
    records = {r.offset: r for r in read_topic(run_settings, run_settings.campaigns_topic)}
    assert sorted(records) == list(range(10)), "ten campaign records: five applies of two campaigns"
    who = {0: me, 1: "alice", 2: "carol", 3: "dave", 4: "erin"}
    want: dict[str, list[CampaignChange]] = {}
    for cid, rows in WANT.items():
        want[cid] = []
        for change_id, what, old, new, applied in rows:
            at = records[change_id].timestamp // 1000
            assert windows[applied][0] <= at <= windows[applied][1], (change_id, at, windows[applied])
            assert dict(records[change_id].headers)["forgood-applied-by"] == who[applied].encode()
            want[cid].append(CampaignChange(cid, change_id, what, old, new, at, who[applied]))
    total = sum(len(recorded) for recorded in want.values())

    # The sink writes them to ClickHouse; read_changes gives exactly the oracle's rows, in order.
    wait_until(lambda: read_changes(clickhouse, db, "reef") == want["reef"]
               and read_changes(clickhouse, db, "trees") == want["trees"], 120,
               what="the recorded changes in ClickHouse")

    # `forgood campaigns history`: JSON and the table.
    for cid in ("reef", "trees"):
        result = cli("campaigns", "history", cid, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == [
            {"campaign_id": c.campaign_id, "change_id": c.change_id, "what": c.what, "old": c.old, "new": c.new,
             "changed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.changed_at)),
             "changed_by": c.changed_by}
            for c in want[cid]
        ]
    monkeypatch.setattr(forgood.cli.cli.console, "width", 200)
    result = cli("campaigns", "history", "reef")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    body = [line for line in lines if line[:1].isdigit()]
    assert body == [
        " ".join(filter(None, [str(c.change_id), time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(c.changed_at)),
                               c.changed_by, c.what,
                               "" if c.what == "created" else f"{c.old or '—'} → {c.new or '—'}"]))
        for c in want["reef"]
    ], result.output
    assert f"history of campaign reef: {len(want['reef'])} row(s)" in result.output
    result = cli("campaigns", "history", "nobody")
    assert result.exit_code == 0 and "'nobody' has no recorded history" in " ".join(result.output.split())
    assert json.loads(cli("campaigns", "history", "nobody", "--json").output) == []

    # The sink re-reads the whole changes topic (a new consumer group starts from the beginning),
    # and the same rows are inserted once more through the sink's INSERT path: each change once.
    procs.kill("sink")
    again = f"{run_settings.app_id}-again"
    procs.start("sink", "sink", env={"FORGOOD_APP_ID": again})
    end = len(read_topic(run_settings, run_settings.changes_topic))
    assert end == total, "one record per change on the changes topic, none repeated"
    wait_until(lambda: committed(run_settings, f"{again}-sink", run_settings.changes_topic) == end, 120,
               what="the restarted sink re-read the changes topic to its end")
    sink = ClickHouseSink(run_settings, client=clickhouse)
    for recorded in want.values():
        for row in recorded:
            sink.add(row)
    sink.flush()
    assert clickhouse.execute(f"SELECT count() FROM {db}.campaign_changes") == [(total,)]
    assert read_changes(clickhouse, db, "reef") == want["reef"]
    assert read_changes(clickhouse, db, "trees") == want["trees"]


def test_read_changes_on_clickhouse_18(run_settings: Settings, clickhouse: Client) -> None:
    """The chdb scenario of tests/unit/audit/test_history_terms.py on the local ClickHouse."""
    database = f"{run_settings.clickhouse.database}_rows"
    try:
        write_rows(clickhouse, database)
        check_rows(clickhouse, database)
    finally:
        clickhouse.execute(f"DROP DATABASE IF EXISTS {database}")
