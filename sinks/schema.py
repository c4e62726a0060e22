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
live database with the contracts (the sink refuses to start on a mismatch:
:func:`require_columns`).

Migration 3 (issue 14) adds the audit trail: ``campaign_videos_versions`` (one row per
campaign and video, versioned like the aggregates; the ``campaign_videos`` view picks the
newest, so it is exact without FINAL), ``campaign_changes_versions`` (immutable rows, one per
applied change of a campaign's terms; re-delivered rows collapse into one in the
``campaign_changes`` view) and ``settlements`` (immutable: one row per settled statement,
written by ``forgood settle``, never by the sink).

Migration 2 (issue 13) adds ``removed, views, likes, shares, comments`` to
``campaign_totals_versions`` with ``DEFAULT 0`` — rows written before read as 0 — and
recreates the ``campaign_totals`` view to show them. 18.16 knows neither ``ADD COLUMN IF NOT
EXISTS`` nor ``CREATE OR REPLACE VIEW``: :func:`migrate` adds a column only when it is
missing, and the view is dropped and created again (absent for that moment, once).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from forgood.domain.contracts import RecordContract
from forgood.domain.errors import SinkError
from forgood.domain.records import CampaignChange, CampaignMinute, CampaignTotal, CampaignVideoRow, CampaignVideoRows
from forgood.domain.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Table:
    """A ``*_versions`` table: the record contract of its rows and the topic they come from.

    Compared and hashed by identity (the tables are the module's constants, and the sink looks
    one up per row: a field-wise hash walks the whole contract — a third of the sink's time)."""

    name: str
    contract: RecordContract
    #: The :class:`~forgood.domain.settings.Settings` attribute naming the topic of its rows.
    topic_setting: str
    #: The ``kind`` label of its rows in the sink's metrics.
    label: str
    #: The record class on the topic when it is not the row itself: a batch whose
    #: ``expand()`` gives the rows (:class:`~forgood.domain.records.CampaignVideoRows`).
    wire: type | None = None
    #: Whether its rows feed ``forgood_counted_to_visible_seconds`` (the aggregates do).
    freshness: bool = True

    def decode(self, raw: bytes) -> list:
        """The rows one Kafka record of :meth:`topic` holds; raises ``ValueError`` /
        ``TypeError`` when it is not such a record."""
        if self.wire is None:
            return [self.contract.from_bytes(raw)]
        return self.wire.from_bytes(raw).expand()  # type: ignore[attr-defined]

    def topic(self, settings: Settings) -> str:
        return getattr(settings, self.topic_setting)

    def qualified(self, database: str) -> str:
        return f"{database}.{self.name}"

    def insert_sql(self, database: str) -> str:
        return self.contract.insert_sql(self.qualified(database))


TOTALS = Table("campaign_totals_versions", CampaignTotal.contract, "totals_topic", "total")
MINUTES = Table("campaign_minutes_versions", CampaignMinute.contract, "minutes_topic", "minute")
VIDEOS = Table("campaign_videos_versions", CampaignVideoRow.contract, "video_rows_topic", "video",
               wire=CampaignVideoRows, freshness=False)
CHANGES = Table("campaign_changes_versions", CampaignChange.contract, "changes_topic", "change", freshness=False)
#: Every table the sink writes, in the order it writes them (per-video rows before the
#: aggregates they add up to, so a reader that sees a total finds its videos).
TABLES: tuple[Table, ...] = (VIDEOS, TOTALS, MINUTES, CHANGES)

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
    (
        2,
        [
            # issue 13: removals and engagement. ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS:
            # migrate() runs an ADD COLUMN only when the column is missing (see _add_column).
            # DEFAULT 0: rows written before (and by a sink that predates this) read as 0.
            "ALTER TABLE {db}.campaign_totals_versions ADD COLUMN removed UInt64 DEFAULT 0",
            "ALTER TABLE {db}.campaign_totals_versions ADD COLUMN views UInt64 DEFAULT 0",
            "ALTER TABLE {db}.campaign_totals_versions ADD COLUMN likes UInt64 DEFAULT 0",
            "ALTER TABLE {db}.campaign_totals_versions ADD COLUMN shares UInt64 DEFAULT 0",
            "ALTER TABLE {db}.campaign_totals_versions ADD COLUMN comments UInt64 DEFAULT 0",
            # 18.16 has neither CREATE OR REPLACE VIEW nor DROP VIEW; DROP TABLE drops a view
            # on every release. The view is absent between these two statements, once.
            "DROP TABLE IF EXISTS {db}.campaign_totals",
            """
            CREATE VIEW IF NOT EXISTS {db}.campaign_totals AS
            SELECT
                campaign_id,
                tupleElement(latest, 1) AS videos,
                tupleElement(latest, 2) AS creators,
                tupleElement(latest, 3) AS donation_minor,
                tupleElement(latest, 4) AS currency,
                tupleElement(latest, 5) AS updated_at,
                tupleElement(latest, 6) AS removed,
                tupleElement(latest, 7) AS views,
                tupleElement(latest, 8) AS likes,
                tupleElement(latest, 9) AS shares,
                tupleElement(latest, 10) AS comments
            FROM (
                SELECT campaign_id,
                       argMax(tuple(videos, creators, donation_minor, currency, updated_at,
                                    removed, views, likes, shares, comments), version) AS latest
                FROM {db}.campaign_totals_versions
                GROUP BY campaign_id
            )
            """,
        ],
    ),
    (
        3,
        [
            # issue 14: the audit trail. One row per campaign and video; the newest version wins.
            """
            CREATE TABLE IF NOT EXISTS {db}.campaign_videos_versions (
                campaign_id String,
                video_id String,
                creator_id String,
                created_at DateTime('UTC'),
                minute DateTime('UTC'),
                status String,
                status_at DateTime('UTC'),
                reason String,
                views UInt64,
                likes UInt64,
                shares UInt64,
                comments UInt64,
                version UInt64
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY (campaign_id, video_id)
            """,
            """
            CREATE VIEW IF NOT EXISTS {db}.campaign_videos AS
            SELECT
                campaign_id,
                video_id,
                tupleElement(latest, 1) AS creator_id,
                tupleElement(latest, 2) AS created_at,
                tupleElement(latest, 3) AS minute,
                tupleElement(latest, 4) AS status,
                tupleElement(latest, 5) AS status_at,
                tupleElement(latest, 6) AS reason,
                tupleElement(latest, 7) AS views,
                tupleElement(latest, 8) AS likes,
                tupleElement(latest, 9) AS shares,
                tupleElement(latest, 10) AS comments
            FROM (
                SELECT campaign_id, video_id,
                       argMax(tuple(creator_id, created_at, minute, status, status_at, reason,
                                    views, likes, shares, comments), version) AS latest
                FROM {db}.campaign_videos_versions
                GROUP BY campaign_id, video_id
            )
            """,
            # Immutable rows: a row re-delivered to the sink is the same row (same key, same
            # values); the view shows each once, whether or not parts have merged.
            """
            CREATE TABLE IF NOT EXISTS {db}.campaign_changes_versions (
                campaign_id String,
                change_id UInt64,
                what String,
                old String,
                new String,
                changed_at DateTime('UTC'),
                changed_by String
            ) ENGINE = ReplacingMergeTree
            ORDER BY (campaign_id, change_id, what)
            """,
            """
            CREATE VIEW IF NOT EXISTS {db}.campaign_changes AS
            SELECT
                campaign_id,
                change_id,
                what,
                tupleElement(latest, 1) AS old,
                tupleElement(latest, 2) AS new,
                tupleElement(latest, 3) AS changed_at,
                tupleElement(latest, 4) AS changed_by
            FROM (
                SELECT campaign_id, change_id, what,
                       any(tuple(old, new, changed_at, changed_by)) AS latest
                FROM {db}.campaign_changes_versions
                GROUP BY campaign_id, change_id, what
            )
            """,
            # Written by `forgood settle` only, never changed: one row per settled statement.
            """
            CREATE TABLE IF NOT EXISTS {db}.settlements (
                campaign_id String,
                as_of DateTime('UTC'),
                videos UInt64,
                donation_minor UInt64,
                paid_minor Int64,
                currency String,
                video_ids_sha256 String,
                settled_at DateTime('UTC'),
                settled_by String
            ) ENGINE = MergeTree
            ORDER BY (campaign_id, as_of)
            """,
        ],
    ),
]


#: An ``ALTER TABLE {db}.t ADD COLUMN c ...`` statement (one column each): made idempotent by
#: :func:`migrate`, since ClickHouse 18.16 has no ``ADD COLUMN IF NOT EXISTS``.
_ADD_COLUMN = re.compile(r"^\s*ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+) ")


def migrate(client: Client, database: str) -> int:
    """Create the database and apply pending migrations; return the schema version.

    Blocks on ClickHouse; raises clickhouse-driver's errors if it is unreachable. Safe to
    run from several sinks at once, and again after a crash half-way through a migration:
    every CREATE is IF NOT EXISTS, every DROP IF EXISTS, and an ADD COLUMN runs only when
    the column is missing (an error because another sink added it meanwhile is ignored).
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
            added = _ADD_COLUMN.match(statement)
            if added:
                _add_column(client, database, added.group(1), added.group(2), statement.format(db=database))
            else:
                client.execute(statement.format(db=database))
        client.execute(
            f"INSERT INTO {database}.schema_migrations (version, applied_at) VALUES",
            [(number, datetime.now(UTC))],
        )
        log.info("applied ClickHouse migration %d to %s", number, database)
    return max(n for n, _ in MIGRATIONS)


def _columns(client: Client, qualified: str) -> list[tuple[str, str]]:
    """(name, type) of a table's or view's columns, in order."""
    return [(name, type_) for name, type_, *_ in client.execute(f"DESCRIBE TABLE {qualified}")]


def _add_column(client: Client, database: str, table: str, column: str, sql: str) -> None:
    """Run ``sql`` (an ADD COLUMN) unless ``table`` has ``column``; when it fails because
    another sink added the column meanwhile (code 44 on 18.16, 15 today), that is success."""
    qualified = f"{database}.{table}"
    if any(name == column for name, _ in _columns(client, qualified)):
        return
    try:
        client.execute(sql)
    except ServerException:
        if not any(name == column for name, _ in _columns(client, qualified)):
            raise
        log.info("column %s of %s was added by another sink meanwhile", column, qualified)


def check_columns(client: Client, database: str) -> list[str]:
    """What differs between the live schema and :data:`TABLES`' contracts: each ``*_versions``
    table's columns (name and type, in order) and its public view's (the same but the
    version). An empty list when they agree. Blocks on two queries per table."""
    problems = []
    for table in TABLES:
        view = table.qualified(database).removesuffix("_versions")
        for what, name, wanted in (
            ("table", table.qualified(database), [(c.name, c.type) for c in table.contract.columns]),
            ("view", view, [(c.name, c.type) for c in table.contract.columns
                            if c.name != table.contract.version_field]),
        ):
            try:
                live = _columns(client, name)
            except ServerException as exc:  # it answered: missing, or a view naming a dropped column
                first = (exc.message.strip().splitlines() or [str(exc)])[0]
                problems.append(f"{what} {name} cannot be described ({first})")
                continue
            if live != wanted:
                problems.append(f"{what} {name} has columns {live}, its contract {wanted}")
    return problems


def require_columns(client: Client, database: str) -> None:
    """Raise :class:`~forgood.domain.errors.SinkError` naming every difference
    :func:`check_columns` finds (a schema this sink's records do not fit); blocks."""
    problems = check_columns(client, database)
    if problems:
        raise SinkError(
            f"the ClickHouse schema of {database} does not match this sink's records (schema version "
            f"{max(n for n, _ in MIGRATIONS)} expected; was it changed by hand, or by a newer or older "
            "forgood?): " + "; ".join(problems))
