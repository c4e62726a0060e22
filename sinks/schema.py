"""ClickHouse schema: numbered migrations applied on sink start, idempotent.

Raw rows land in ``*_versions`` tables (``ReplacingMergeTree(version)``): every aggregate
update is an absolute value with a version, so an INSERT repeated by a retry or a replay
adds a row that changes no answer. The public surface is two views that pick the highest
version per key with ``argMax`` — exact at any moment, whether or not parts have merged —
so ``SELECT ... FROM forgood.campaign_totals`` needs no FINAL. The SQL runs on ClickHouse
18.16 (Debian) and on current releases alike: no LowCardinality, DateTime64, Map, window
functions or toStartOfInterval.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from clickhouse_driver import Client

log = logging.getLogger(__name__)

#: (number, statements) — append only; never edit a migration that has shipped.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """
            CREATE TABLE IF NOT EXISTS {db}.campaign_totals_versions (
                campaign_id String,
                videos UInt64,
                creators UInt64,
                donation_minor UInt64,
                currency String,
                updated_at DateTime('UTC'),
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY campaign_id
            """,
            """
            CREATE TABLE IF NOT EXISTS {db}.campaign_minutes_versions (
                campaign_id String,
                minute DateTime('UTC'),
                videos UInt64,
                donation_minor UInt64,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            PARTITION BY toYYYYMM(minute)
            ORDER BY (campaign_id, minute)
            """,
            """
            CREATE VIEW IF NOT EXISTS {db}.campaign_totals AS
            SELECT
                campaign_id,
                tupleElement(latest, 1) AS videos,
                tupleElement(latest, 2) AS creators,
                tupleElement(latest, 3) AS donation_minor,
                tupleElement(latest, 4) AS currency,
                tupleElement(latest, 5) AS updated_at
            FROM (
                SELECT campaign_id,
                       argMax(tuple(videos, creators, donation_minor, currency, updated_at), version) AS latest
                FROM {db}.campaign_totals_versions
                GROUP BY campaign_id
            )
            """,
            """
            CREATE VIEW IF NOT EXISTS {db}.campaign_minutes AS
            SELECT
                campaign_id,
                minute,
                tupleElement(latest, 1) AS videos,
                tupleElement(latest, 2) AS donation_minor
            FROM (
                SELECT campaign_id, minute,
                       argMax(tuple(videos, donation_minor), version) AS latest
                FROM {db}.campaign_minutes_versions
                GROUP BY campaign_id, minute
            )
            """,
        ],
    ),
]


def migrate(client: Client, database: str) -> int:
    """Create the database and apply pending migrations; return the schema version.

    Blocks on ClickHouse; raises clickhouse-driver's errors if it is unreachable. Safe to
    run from several sinks at once: every statement is IF NOT EXISTS.
    """
    client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, applied_at DateTime('UTC')) ENGINE = TinyLog"
    )
    applied = {row[0] for row in client.execute(f"SELECT version FROM {database}.schema_migrations")}
    for number, statements in MIGRATIONS:
        if number in applied:
            continue
        for statement in statements:
            client.execute(statement.format(db=database))
        client.execute(
            f"INSERT INTO {database}.schema_migrations (version, applied_at) VALUES",
            [(number, datetime.now(timezone.utc))],
        )
        log.info("applied ClickHouse migration %d to %s", number, database)
    return max(n for n, _ in MIGRATIONS)

