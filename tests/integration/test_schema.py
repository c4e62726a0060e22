"""The sink's schema and the record contracts on the real ClickHouse (18.16 on the local stack).

The migrations create exactly the contracts' columns; rows written through the sink's one
INSERT path and read back through the contracts (as the counter service loads them) are the
newest version of every key, equal to what the public views show. A database made by
migration 1 alone (before issue 13), holding rows, is upgraded by a sink's start: its rows read
as 0 in the new columns (the same steps as on a current ClickHouse, shared with
``tests/unit/sinks/test_schema_on_current_clickhouse.py``).
"""

from __future__ import annotations

import time

import pytest

from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.serve.sources import load_clickhouse
from sinks.clickhouse import ClickHouseSink
from sinks.schema import MIGRATIONS, MINUTES, TOTALS, check_columns, migrate
from tests.support.schema_upgrade import upgrade_from_migration_1

pytestmark = pytest.mark.integration

TOP = 2**64 - 1  # versions use the whole UInt64 range


def test_contract_rows_round_trip_through_the_sink_and_the_versions_tables(run_settings, clickhouse):
    db = run_settings.clickhouse.database
    assert migrate(clickhouse, db) == migrate(clickhouse, db) == len(MIGRATIONS)  # idempotent
    assert check_columns(clickhouse, db) == []

    now = int(time.time())
    minute = now // 60 * 60
    newest_totals = [CampaignTotal("dance", 3, 2, 600, "USD", now - 5, TOP, 1, 81_000_000, 4_000_000, 2**63, 7),
                     CampaignTotal("yen", 7, 7, 70, "JPY", now - 9, 1_795_000_000_000_000_000)]
    newest_minutes = [CampaignMinute("dance", minute, 2, 400, TOP), CampaignMinute("dance", minute - 60, 1, 200, 5),
                      CampaignMinute("yen", minute - 180 * 60, 9, 90, 5)]  # older than the service keeps
    sink = ClickHouseSink(run_settings)
    sink.start()
    # older versions, each in a batch of its own so that the tables hold them too
    for row in (CampaignTotal("dance", 1, 1, 200, "USD", now - 60, TOP - 1), CampaignMinute("dance", minute, 1, 1, 4)):
        sink.add(row)
        assert sink.flush() == 1
    for row in (*newest_totals, *newest_minutes):
        sink.add(row)
    assert sink.flush() == 5
    assert clickhouse.execute(f"SELECT count() FROM {TOTALS.qualified(db)}") == [(3,)]

    totals = [TOTALS.contract.from_row(r) for r in clickhouse.execute(TOTALS.contract.latest_sql(TOTALS.qualified(db)))]
    minutes = [MINUTES.contract.from_row(r)
               for r in clickhouse.execute(MINUTES.contract.latest_sql(MINUTES.qualified(db)))]
    assert sorted(totals, key=lambda r: r.key()) == newest_totals
    assert sorted(minutes, key=lambda r: r.key()) == sorted(newest_minutes, key=lambda r: r.key())

    viewed = clickhouse.execute(f"SELECT campaign_id, videos, creators, donation_minor, currency, "
                                f"toUInt32(updated_at), removed, views, likes, shares, comments "
                                f"FROM {db}.campaign_totals ORDER BY campaign_id")
    assert viewed == [(r.campaign_id, r.videos, r.creators, r.donation_minor, r.currency, r.updated_at,
                       r.removed, r.views, r.likes, r.shares, r.comments) for r in newest_totals]

    loaded = load_clickhouse(run_settings, now=now)  # what the counter service starts from
    assert sorted(loaded.totals, key=lambda r: r.key()) == newest_totals
    assert sorted(loaded.minutes, key=lambda r: r.key()) == newest_minutes[:2][::-1]


def test_a_database_made_by_migration_1_is_upgraded_and_its_rows_read_as_zero(run_settings, clickhouse, monkeypatch):
    assert clickhouse.execute("SELECT version()")[0][0].startswith("18.16"), "the local stack runs Debian's 18.16"
    upgrade_from_migration_1(clickhouse, run_settings, monkeypatch)
