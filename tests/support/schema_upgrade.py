"""Upgrading a database made by migration 1 (the same steps on chdb and on ClickHouse 18.16)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forgood.cli.readback import TotalsRow, fetch_totals
from forgood.domain.errors import SinkError
from forgood.domain.records import CampaignTotal
from forgood.domain.settings import Settings
from sinks import schema
from sinks.clickhouse import ClickHouseSink
from sinks.schema import MIGRATIONS, TOTALS, check_columns, migrate
from tests.support.chdb_client import ChdbClient

NOW = 1_795_546_830  # a fixed "now" (epoch s): the same answers on every run

def rows_of(client: ChdbClient, table, database: str, where: str = "") -> list:
    """``table``'s rows as the counter service reads them (``contract.latest_sql``), by key."""
    found = [table.contract.from_row(r) for r in client.execute(table.contract.latest_sql(table.qualified(database),
                                                                                          where))]
    return sorted(found, key=lambda r: r.key())

def upgrade_from_migration_1(client, settings: Settings, monkeypatch) -> None:
    """Shared with tests/integration/test_schema.py (the same steps on 18.16): a database made
    by migration 1 alone, holding rows, is upgraded by the sink's start; its rows read as 0 in
    the new columns, new rows carry them, and repeating the upgrade (several sinks, a crash
    half-way) changes nothing."""
    db = settings.clickhouse.database
    with monkeypatch.context() as m:  # the schema as forgood before issue 13 left it
        m.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
        assert migrate(client, db) == 1
    old_columns = "campaign_id, videos, creators, donation_minor, currency, updated_at, version"
    utc = lambda s: datetime.fromtimestamp(s, tz=UTC)  # noqa: E731
    client.execute(f"INSERT INTO {TOTALS.qualified(db)} ({old_columns}) VALUES",  # what a 0.1 sink wrote
                   [["dance", "yen"], [3, 7], [2, 7], [600, 70], ["USD", "JPY"], [utc(NOW - 5), utc(NOW - 9)], [5, 5]],
                   columnar=True)
    assert check_columns(client, db) != []  # the contracts grew: a mismatch until the upgrade
    with pytest.raises(SinkError, match="removed"):
        schema.require_columns(client, db)

    # a crash half-way through migration 2 the first time: two columns added, nothing recorded
    for statement in MIGRATIONS[1][1][:2]:
        client.execute(statement.format(db=db))
    sink = ClickHouseSink(settings, client=client)
    sink.start()  # migrates, then checks the columns
    assert check_columns(client, db) == []
    assert sorted(client.execute(f"SELECT version FROM {db}.schema_migrations")) == [(n,) for n, _ in MIGRATIONS]
    assert migrate(client, db) == len(MIGRATIONS) and check_columns(client, db) == []

    old = [CampaignTotal("dance", 3, 2, 600, "USD", NOW - 5, 5), CampaignTotal("yen", 7, 7, 70, "JPY", NOW - 9, 5)]
    assert rows_of(client, TOTALS, db) == old  # removed, views ... read as 0
    assert client.execute(f"SELECT campaign_id, videos, removed, views, likes, shares, comments "
                          f"FROM {db}.campaign_totals ORDER BY campaign_id") == [("dance", 3, 0, 0, 0, 0, 0),
                                                                                 ("yen", 7, 0, 0, 0, 0, 0)]
    newer = CampaignTotal("dance", 2, 2, 400, "USD", NOW - 1, 6, removed=1, views=81_000_000, likes=3, shares=2,
                          comments=1)
    sink.add(newer)
    assert sink.flush() == 1
    assert rows_of(client, TOTALS, db) == [newer, old[1]]
    assert client.execute(f"SELECT campaign_id, videos, removed, views, likes, shares, comments "
                          f"FROM {db}.campaign_totals ORDER BY campaign_id") == [("dance", 2, 1, 81_000_000, 3, 2, 1),
                                                                                 ("yen", 7, 0, 0, 0, 0, 0)]
    # what `forgood totals` and the demo's table read
    assert fetch_totals(client, settings) == {"dance": TotalsRow("dance", 2, 2, 400, "USD", 1, 81_000_000, 3, 2, 1),
                                              "yen": TotalsRow("yen", 7, 7, 70, "JPY")}
