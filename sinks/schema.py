"""ClickHouse schema: numbered migrations applied on sink start, idempotent.

Raw rows land in ``*_versions`` tables (``ReplacingMergeTree(version)``): every aggregate
update is an absolute value with a version, so an INSERT repeated by a retry or a replay
adds a row that changes no answer. The public surface is two views that pick the highest
version per key with ``argMax`` — exact at any moment, whether or not parts have merged —
so ``SELECT ... FROM forgood.campaign_totals`` needs no FINAL. The SQL runs on ClickHouse
18.16 (Debian) and on current releases alike: no LowCardinality, DateTime64, Map, window
functions or toStartOfInterval.

:data:`TABLES` names, per ``*_versions`` table, the record contract
(:mod:`forgood.domain.contracts`) whose columns it holds and the topic its rows come from;
the sink inserts through it and the counter service reads through it. The migrations stay
literal SQL (a shipped migration never changes); ``tests/unit/domain/test_contracts.py`` checks that
they create exactly the contracts' columns and key, and :func:`check_columns` compares a
live database with the contracts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_driver import Client

from forgood.domain.contracts import RecordContract
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.domain.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Table:
    """A ``*_versions`` table: the record contract of its rows and the topic they come from."""

    name: str
    contract: RecordContract
    #: The :class:`~forgood.domain.settings.Settings` attribute naming the topic of its rows.
    topic_setting: str
    #: The ``kind`` label of its rows in the sink's metrics.
    label: str

    def topic(self, settings: Settings) -> str:
        return getattr(settings, self.topic_setting)

    def qualified(self, database: str) -> str:
        return f"{database}.{self.name}"

    def insert_sql(self, database: str) -> str:
        return self.contract.insert_sql(self.qualified(database))


TOTALS = Table("campaign_totals_versions", CampaignTotal.contract, "totals_topic", "total")
MINUTES = Table("campaign_minutes_versions", CampaignMinute.contract, "minutes_topic", "minute")
#: Every table the sink writes, in the order it writes them.
TABLES: tuple[Table, ...] = (TOTALS, MINUTES)

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
            [(number, datetime.now(UTC))],
        )
        log.info("applied ClickHouse migration %d to %s", number, database)
    return max(n for n, _ in MIGRATIONS)



def check_columns(client: Client, database: str) -> list[str]:
    """What differs between the live tables' columns and :data:`TABLES`' contracts (name and
    type, in order); an empty list when they agree. Blocks on one query per table."""
    problems = []
    for table in TABLES:
        live = [(name, type_) for name, type_, *_ in client.execute(f"DESCRIBE TABLE {table.qualified(database)}")]
        wanted = [(c.name, c.type) for c in table.contract.columns]
        if live != wanted:
            problems.append(f"{table.qualified(database)} has columns {live}, its contract {wanted}")
    return problems
