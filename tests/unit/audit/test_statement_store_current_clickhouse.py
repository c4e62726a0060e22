"""Statements' reads and settlements (forgood.audit.store, forgood.audit.settlement) on a
*current* ClickHouse (chdb in-process, behind clickhouse-driver's ``Client``; see
``tests/support/chdb_client.py``). ``tests/integration/test_statements.py`` runs the same
through the command line on the local stack's ClickHouse 18.16.

Rows are written as the sink writes them (``ClickHouseSink`` after ``migrate``), several
versions per key, newest first; the reads must give the newest version of each key, and
``settle`` must write exactly one row or, when refused, none. Nothing is skipped: without
chdb the tests fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import forgood.audit.settlement as settlement_module
from forgood.audit.settlement import SettlementConflict, SettlementRefused, settle
from forgood.audit.statement import build_statement
from forgood.audit.store import Settlement, insert_settlement, quote, read_settlements, read_video_rows
from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignVideoRow
from forgood.domain.settings import Settings
from sinks.clickhouse import ClickHouseSink
from sinks.schema import migrate
from tests.support.chdb_client import ChdbClient

AS_OF = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
CUT = int(AS_OF.timestamp())
NOW = CUT + 3_600
ODD = "it's \\ a \"test\"\t✓"  # quotes, a backslash, a tab and a non-ASCII character in an id



def campaign(price: str = "2.00", cap: str | None = "9.00") -> Campaign:
    return Campaign(id="dance", name="Dance", nonprofit="Water", hashtags=("dance",), donation_per_video=price,
                    currency="USD", starts_at=AS_OF - timedelta(days=3), ends_at=AS_OF + timedelta(days=3),
                    donation_cap=cap)


def row(video: str, version: int, status: str = "counted", created: int = CUT - 600,
        campaign_id: str = "dance") -> CampaignVideoRow:
    return CampaignVideoRow(campaign_id, video, f"creator-{video}", created, created - created % 60, status, created,
                            "", version * 10, 0, 0, 0, version)


def write(client: ChdbClient, database: str, *batches: list[CampaignVideoRow]) -> None:
    sink = ClickHouseSink(Settings(clickhouse_url=f"clickhouse://127.0.0.1:9000/{database}"), client=client)
    sink.start()
    for batch in batches:
        for r in batch:
            sink.add(r)
        sink.flush()


def count(client: ChdbClient, database: str) -> int:
    return client.execute(f"SELECT count() FROM {database}.settlements")[0][0]


def test_video_rows_are_the_newest_version_of_each_video_of_the_campaign(chdb_client):
    db = "forgood_statement_rows"
    newest = [row("a", 5), row("b", 3, "removed"), row(ODD, 2), row("late", 1, created=CUT + 5)]
    write(chdb_client, db, newest, [row("a", 4, "removed"), row("b", 2), row(ODD, 1, "removed")],
          [row("a", 9, campaign_id="other"), row("z", 1, campaign_id=ODD)])
    assert read_video_rows(chdb_client, db, "dance") == sorted(newest, key=lambda r: r.video_id)
    assert read_video_rows(chdb_client, db, ODD) == [row("z", 1, campaign_id=ODD)]
    assert read_video_rows(chdb_client, db, "nobody") == []
    assert chdb_client.execute(f"SELECT {quote(ODD)}") == [(ODD,)]


def test_settlements_round_trip_in_as_of_order(chdb_client):
    db = "forgood_statement_settlements"
    migrate(chdb_client, db)
    rows = [Settlement("dance", CUT, 3, 600, -150, "USD", "f" * 64, NOW, "Zoë"),
            Settlement("dance", CUT - 86_400, 4, 750, 750, "USD", "e" * 64, NOW - 9, ODD),
            Settlement("other", CUT - 5, 1, 1, 1, "EUR", "", NOW, "x")]
    for s in rows:
        insert_settlement(chdb_client, db, s)
    assert read_settlements(chdb_client, db, "dance") == [rows[1], rows[0]]
    assert read_settlements(chdb_client, db, "nobody") == []


def test_settle_writes_one_row_then_refuses_the_same_and_an_earlier_as_of(chdb_client):
    db = "forgood_statement_settle"
    write(chdb_client, db, [row("a", 1), row("b", 1), row("c", 1, created=CUT), row("d", 1, "removed")])
    done = settle(chdb_client, db, campaign(), AS_OF, "alice", now=NOW)
    assert done.settlement == Settlement("dance", CUT, 2, 400, 400, "USD", done.statement.video_ids_sha256, NOW,
                                         "alice")
    assert read_settlements(chdb_client, db, "dance") == [done.settlement]

    with pytest.raises(SettlementRefused, match="already settled as of 2026-12-03T12:00:00Z"):
        settle(chdb_client, db, campaign(), AS_OF, "bob", now=NOW + 5)
    with pytest.raises(SettlementRefused, match="earlier than its latest settlement"):
        settle(chdb_client, db, campaign(), AS_OF - timedelta(seconds=1), "bob", now=NOW + 5)
    with pytest.raises(SettlementRefused, match="in the future"):
        settle(chdb_client, db, campaign(), datetime.fromtimestamp(NOW + 6, tz=UTC), "bob", now=NOW + 5)
    assert count(chdb_client, db) == 1

    # b removed, c (created at the first as-of) and e arrive; the cap is now 9.00 with a price of 3.00
    write(chdb_client, db, [row("b", 2, "removed"), row("e", 1, created=CUT + 10)])
    later = AS_OF + timedelta(minutes=1)
    statement = build_statement(campaign("3.00"), later, read_video_rows(chdb_client, db, "dance"),
                                read_settlements(chdb_client, db, "dance"), (), NOW + 10)
    assert (statement.videos, statement.donation_minor, statement.settled_minor, statement.due_minor) == \
        (3, 900, 400, 500)
    second = settle(chdb_client, db, campaign("3.00"), later, "bob", now=NOW + 10)
    assert second.settlement.paid_minor == 500
    assert [s.as_of for s in read_settlements(chdb_client, db, "dance")] == [CUT, CUT + 60]
    after = build_statement(campaign("3.00"), later, read_video_rows(chdb_client, db, "dance"),
                            read_settlements(chdb_client, db, "dance"), (), NOW + 11)
    assert after.due_minor == 0


def test_a_settlement_written_meanwhile_by_another_run_is_reported(chdb_client, monkeypatch):
    db = "forgood_statement_conflict"
    write(chdb_client, db, [row("a", 1)])

    def racing_insert(client, database, settlement):
        insert_settlement(client, database, settlement)  # ours
        insert_settlement(client, database, Settlement(**{**_fields(settlement), "settled_by": "someone else"}))

    monkeypatch.setattr(settlement_module, "insert_settlement", racing_insert)
    with pytest.raises(SettlementConflict, match="another settlement was written while this one was"):
        settle(chdb_client, db, campaign(), AS_OF, "alice", now=NOW)
    assert count(chdb_client, db) == 2  # both kept as evidence


def _fields(settlement: Settlement) -> dict:
    return {name: getattr(settlement, name) for name in Settlement.__dataclass_fields__}
