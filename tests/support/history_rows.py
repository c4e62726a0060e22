"""Campaign changes as the sink writes them, and what read_changes must give back: shared by the
history tests on a current ClickHouse (chdb) and on the local stack's 18.16.
"""

from __future__ import annotations

from typing import Any

from forgood.audit.history import (
    CREATED,
    read_changes,
)
from forgood.domain.records import CampaignChange
from forgood.domain.settings import Settings
from sinks.clickhouse import ClickHouseSink
from sinks.schema import migrate

T0 = 1_795_546_800  # 2026-11-24T19:00:00Z: the same answers on every run

QUOTED = "it's \\ a \"test\"\t✓"

#: Rows as the producer writes them, in no particular order; the same rows are written twice.
ROWS = [
    CampaignChange("camp", 7, "hashtags", "foo", "foo,bar", T0 + 60, "alice"),
    CampaignChange("camp", 7, "price", "2.00 USD", "2.50 USD", T0 + 60, "alice"),
    CampaignChange("camp", 0, "price", "", "2.00 USD", T0, "bob"),
    CampaignChange("camp", 0, CREATED, "", "", T0, "bob"),
    CampaignChange("camp", 7, "cap", "", "100.00 USD", T0 + 60, "alice"),
    CampaignChange("camp", 0, "hashtags", "", "foo", T0, "bob"),
    CampaignChange("other", 3, "price", "1.00 EUR", "1.10 EUR", T0 + 5, "carol"),
    CampaignChange(QUOTED, 1, "price", "", "1.00 EUR", T0 + 9, QUOTED),
]

#: What read_changes gives for "camp": by change id, then created, price, cap, ..., hashtags.
WANT = [ROWS[3], ROWS[2], ROWS[5], ROWS[1], ROWS[4], ROWS[0]]

def write_rows(client: Any, database: str, rows: list[CampaignChange] = ROWS) -> None:
    """Write ``rows`` through the sink's one INSERT path (schema migrated first), twice."""
    migrate(client, database)
    sink = ClickHouseSink(Settings(clickhouse_url=f"clickhouse://127.0.0.1:9000/{database}"), client=client)
    for _ in range(2):
        for row in rows:
            sink.add(row)
        sink.flush()

def check_rows(client: Any, database: str) -> None:
    """read_changes on the rows of :func:`write_rows` (shared with the integration test)."""
    assert read_changes(client, database, "camp") == WANT
    assert read_changes(client, database, "other") == [ROWS[6]]
    assert read_changes(client, database, QUOTED) == [ROWS[7]]
    assert read_changes(client, database, "nobody") == []
    assert read_changes(client, database, "camp' OR '1'='1") == []
    assert client.execute(f"SELECT count() FROM {database}.campaign_changes") == [(len(ROWS),)]
