"""Blocking ClickHouse reads and the one write behind statements and settlements.

Every function here runs one query on the clickhouse-driver ``client`` it is given and blocks
until ClickHouse answers; a failure (ClickHouse unreachable, a table missing because the sink
never ran) is clickhouse-driver's own exception, raised as is: the caller decides what to tell
a person. The SQL runs on ClickHouse 18.16 and on current releases alike (no ``FINAL``: the
newest version per key is picked with ``argMax`` through the record contracts).

* :func:`read_video_rows` — a campaign's audit rows (``campaign_videos``), newest version of each;
* :func:`read_settlements` — a campaign's settlements, oldest ``as_of`` first;
* :func:`insert_settlement` — one immutable ``settlements`` row (only ``forgood settle`` calls it);
* :func:`quote` — a string as a ClickHouse literal, for every audit query's WHERE.

Times are epoch seconds (``int``) throughout, as in :mod:`forgood.domain.records`.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_driver import Client
from clickhouse_driver.util.escape import escape_param

from forgood.domain.contracts import Column, RecordContract
from forgood.domain.records import CampaignVideoRow
from sinks.schema import VIDEOS


@dataclass(frozen=True, slots=True)
class Settlement:
    """One row of ``settlements``: the statement of ``campaign_id`` as of ``as_of`` was paid.

    ``videos`` and ``donation_minor`` are that statement's counted videos and donation (as
    known when it was settled); ``paid_minor`` its ``due_minor`` — what this payment moved,
    negative for a credit back to the payer; ``video_ids_sha256`` the hash of its counted
    video ids (:func:`forgood.audit.statement.video_ids_sha256`); ``settled_at`` when the row
    was written and ``settled_by`` who ran ``forgood settle``. Never updated or deleted.
    """

    campaign_id: str
    as_of: int
    videos: int
    donation_minor: int
    paid_minor: int
    currency: str
    video_ids_sha256: str
    settled_at: int
    settled_by: str


#: The ``settlements`` table's columns (migration 3 in ``sinks/schema.py``) and their conversions.
SETTLEMENT_CONTRACT: RecordContract[Settlement] = RecordContract(
    Settlement,
    key_fields=("campaign_id", "as_of"),
    columns=(
        Column("campaign_id", "String"),
        Column("as_of", "DateTime('UTC')"),
        Column("videos", "UInt64"),
        Column("donation_minor", "UInt64"),
        Column("paid_minor", "Int64"),
        Column("currency", "String"),
        Column("video_ids_sha256", "String"),
        Column("settled_at", "DateTime('UTC')"),
        Column("settled_by", "String"),
    ),
)


def quote(text: str) -> str:
    """``text`` as a ClickHouse string literal, escaped as clickhouse-driver escapes query
    parameters (values are quoted here because chdb, which the tests run the same SQL on,
    takes no parameters): the same on 18.16 and current releases. TypeError for a non-string."""
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    return str(escape_param(text, None))


def read_video_rows(client: Client, database: str, campaign_id: str) -> list[CampaignVideoRow]:
    """Every audit row of ``campaign_id`` — one per video that carried one of its hashtags, the
    newest version of each (whatever its status or creation time) — ordered by video id.
    Blocks on one query; empty when the campaign has no rows."""
    sql = VIDEOS.contract.latest_sql(VIDEOS.qualified(database), f"campaign_id = {quote(campaign_id)}")
    return [VIDEOS.contract.from_row(row) for row in client.execute(f"{sql} ORDER BY video_id")]


def _settlement_columns() -> str:
    return ", ".join(f"toUInt32({c.name})" if c.epoch_seconds else c.name for c in SETTLEMENT_CONTRACT.columns)


def read_settlements(client: Client, database: str, campaign_id: str) -> list[Settlement]:
    """The settlements of ``campaign_id``, ordered by ``as_of`` (then ``settled_at``). Blocks
    on one query; empty when there are none."""
    rows = client.execute(
        f"SELECT {_settlement_columns()} FROM {database}.settlements "
        f"WHERE campaign_id = {quote(campaign_id)} ORDER BY as_of, settled_at"
    )
    return [SETTLEMENT_CONTRACT.from_row(row) for row in rows]


def insert_settlement(client: Client, database: str, settlement: Settlement) -> None:
    """INSERT one ``settlements`` row; blocks until ClickHouse accepted it (raises if not). It
    checks nothing: :func:`forgood.audit.settlement.settle` decides whether a row may be written."""
    client.execute(
        SETTLEMENT_CONTRACT.insert_sql(f"{database}.settlements"),
        SETTLEMENT_CONTRACT.to_columns([settlement]),
        columnar=True,
    )
