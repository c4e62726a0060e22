"""One contract per record: Kafka key, value codec (the wire format of existing topics) and
ClickHouse columns — and the sink's schema and INSERTs agree with it."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from forgood.domain.contracts import KEY_SEP, Column, RecordContract
from forgood.domain.records import (
    CampaignChange,
    CampaignMinute,
    CampaignTotal,
    CampaignVideo,
    CampaignVideoBatch,
    CampaignVideoRow,
)
from forgood.domain.settings import Settings
from forgood.domain.video_state import VideoState
from sinks.clickhouse import ClickHouseSink
from sinks.schema import MIGRATIONS, MINUTES, TABLES, TOTALS

M = 1_795_546_800
V = 1_795_000_000_000_000_123  # a nanosecond version (> 2**53, < 2**64)
TOTAL = CampaignTotal("dance", 3, 2, 600, "USD", M + 7, V)
MINUTE = CampaignMinute("dance", M, 3, 600, V)

# --- Kafka keys ---------------------------------------------------------------------------


def test_keys_are_what_the_topics_have_always_been_keyed_by():
    assert KEY_SEP == "\x1f"
    assert TOTAL.key() == b"dance"
    assert MINUTE.key() == f"dance\x1f{M}".encode() == b"dance\x1f1795546800"
    assert CampaignVideoBatch("dance", (CampaignVideo("dance", "v1", "u1", M),)).key() == b"dance"
    assert CampaignVideoBatch("caf\u00e9", ()).key() == "caf\u00e9".encode()  # UTF-8
    assert CampaignTotal.contract.key(TOTAL) == TOTAL.key()


def test_key_fields_identify_a_row_and_not_its_values():
    newer = CampaignMinute("dance", M, 9, 900, V + 1)
    assert newer.key() == MINUTE.key()
    assert CampaignMinute("dance", M + 60, 3, 600, V).key() != MINUTE.key()
    assert CampaignTotal("dance", 0, 0, 0, "EUR", 0, 1).key() == TOTAL.key()


# --- value codec: the wire format of topics already written ------------------------------


def test_total_wire_format_only_grows_and_round_trips():
    old = (b'{"campaign_id":"dance","videos":3,"creators":2,"donation_minor":600,"currency":"USD",'
           b'"updated_at":1795546807,"version":1795000000000000123')
    raw = old + b',"removed":0,"views":0,"likes":0,"shares":0,"comments":0}'
    assert TOTAL.to_bytes() == raw
    assert CampaignTotal.from_bytes(raw) == TOTAL == CampaignTotal.contract.from_bytes(raw)
    assert CampaignTotal.contract.to_bytes(TOTAL) == raw
    # a row written before removals and engagement existed (issue 13) still reads, with zeros
    assert CampaignTotal.from_bytes(old + b"}") == TOTAL
    engaged = CampaignTotal("dance", 3, 2, 600, "USD", 1, 2, removed=1, views=81_000_000, likes=5, shares=6, comments=7)
    assert CampaignTotal.from_bytes(engaged.to_bytes()) == engaged


def test_minute_wire_format_is_unchanged_and_round_trips():
    raw = b'{"campaign_id":"dance","minute":1795546800,"videos":3,"donation_minor":600,"version":1795000000000000123}'
    assert MINUTE.to_bytes() == raw
    assert CampaignMinute.from_bytes(raw) == MINUTE == CampaignMinute.contract.from_bytes(raw)


def test_versions_up_to_the_top_of_uint64_survive_the_wire():
    top = CampaignMinute("dance", M, 1, 1, 2**64 - 1)
    assert CampaignMinute.from_bytes(top.to_bytes()).version == 2**64 - 1


def test_batch_wire_format_is_unchanged_through_the_contract():
    batch = CampaignVideoBatch("dance", (CampaignVideo("dance", "v1", "u1", M, 1.5),))
    raw = b'["dance",[["v1","u1",1795546800,1.5]]]'
    assert batch.to_bytes() == raw
    assert CampaignVideoBatch.contract.from_bytes(raw) == batch
    assert CampaignVideoBatch.contract.columns == ()  # stage 1 -> 2 only: never in ClickHouse


def test_batch_items_carry_the_whole_video_state_only_when_something_is_known():
    removed = VideoState.of_status(1_700_000_000_000_000, True).apply_stats(1_700_000_000_000_001, 81_000_000, 2, 3, 4)
    batch = CampaignVideoBatch("dance", (
        CampaignVideo("dance", "v1", "u1", M, 1.5),
        CampaignVideo("dance", "v2", "u2", M, 0.0, removed),
        CampaignVideo("dance", "v3", "u2", M, 0.0, VideoState.of_stats(7, 0, 0, 0, 0)),
    ))
    raw = batch.to_bytes()
    assert raw.startswith(b'["dance",[["v1","u1",1795546800,1.5],["v2","u2",1795546800,0.0,'
                          b'[1700000000000000,1,1700000000000001,81000000,2,3,4]]')
    decoded = CampaignVideoBatch.from_bytes(raw)
    assert decoded == batch
    assert [v.state for v in decoded.videos] == [VideoState(), removed, VideoState.of_stats(7, 0, 0, 0, 0)]


@pytest.mark.parametrize("raw", [b"not json", b'{"campaign_id": "x"}', b'{"campaign_id":"x","minute":1,"videos":1,'
                                 b'"donation_minor":1,"version":1,"extra":1}'])
def test_unreadable_values_raise_what_the_decoders_catch(raw):
    with pytest.raises((ValueError, TypeError)):
        CampaignMinute.contract.from_bytes(raw)


# --- ClickHouse columns --------------------------------------------------------------------


def test_columns_are_every_field_in_order_with_portable_types():
    assert [(c.name, c.type) for c in CampaignTotal.contract.columns] == [
        ("campaign_id", "String"), ("videos", "UInt64"), ("creators", "UInt64"), ("donation_minor", "UInt64"),
        ("currency", "String"), ("updated_at", "DateTime('UTC')"), ("version", "UInt64"),
        ("removed", "UInt64"), ("views", "UInt64"), ("likes", "UInt64"), ("shares", "UInt64"), ("comments", "UInt64")]
    assert [(c.name, c.type) for c in CampaignMinute.contract.columns] == [
        ("campaign_id", "String"), ("minute", "DateTime('UTC')"), ("videos", "UInt64"),
        ("donation_minor", "UInt64"), ("version", "UInt64")]


@pytest.mark.parametrize("type_", ["LowCardinality(String)", "DateTime64(3)", "Map(String, UInt64)",
                                   "Nullable(String)", "DateTime", "Decimal(18, 2)"])
def test_types_clickhouse_18_16_lacks_or_reads_differently_are_refused(type_):
    with pytest.raises(ValueError, match="18.16"):
        Column("x", type_)


def test_a_contract_must_name_every_field_in_order():
    with pytest.raises(ValueError, match="in order"):
        RecordContract(CampaignMinute, ("campaign_id", "minute"), columns=(Column("campaign_id", "String"),))
    with pytest.raises(ValueError, match="not fields"):
        RecordContract(CampaignMinute, ("campaign", "minute"))


def test_to_columns_and_from_row_convert_epoch_seconds():
    columns = CampaignMinute.contract.to_columns([MINUTE])
    assert columns == [["dance"], [M], [3], [600], [V]]  # epoch seconds as ints: DateTime takes them as is
    assert CampaignTotal.contract.from_row(("dance", 3, 2, 600, "USD", M + 7, V, 0, 0, 0, 0, 0)) == TOTAL
    engaged = CampaignTotal("dance", 3, 2, 600, "USD", M + 7, V, 1, 81_000_000, 5, 6, 7)
    assert CampaignTotal.contract.from_row(("dance", 3, 2, 600, "USD", M + 7, V, 1, 81_000_000, 5, 6, 7)) == engaged
    assert CampaignTotal.contract.to_columns([engaged])[-5:] == [[1], [81_000_000], [5], [6], [7]]
    with pytest.raises(ValueError):
        CampaignTotal.contract.from_row(("dance", 3))


def test_latest_sql_reads_the_newest_version_of_every_key():
    assert TOTALS.contract.latest_sql("db.campaign_totals_versions") == (
        "SELECT campaign_id, argMax(videos, version), argMax(creators, version), argMax(donation_minor, version), "
        "argMax(currency, version), toUInt32(argMax(updated_at, version)), max(version), argMax(removed, version), "
        "argMax(views, version), argMax(likes, version), argMax(shares, version), argMax(comments, version) "
        "FROM db.campaign_totals_versions GROUP BY campaign_id")
    assert MINUTES.contract.latest_sql("db.campaign_minutes_versions", "minute >= toDateTime(60)") == (
        "SELECT campaign_id, toUInt32(minute), argMax(videos, version), argMax(donation_minor, version), "
        "max(version) FROM db.campaign_minutes_versions WHERE minute >= toDateTime(60) GROUP BY campaign_id, minute")


# --- the migrations against the contracts ---------------------------------------------------


CREATE = re.compile(r"CREATE (?:TABLE|VIEW) IF NOT EXISTS \{db\}\.(\w+)")
ADD = re.compile(r"^ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+) (\w+) DEFAULT 0$")
DROP = re.compile(r"^DROP TABLE IF EXISTS \{db\}\.(\w+)$")


def _created() -> dict[str, str]:
    """The newest CREATE statement of every table or view, after every migration."""
    out = {}
    for _, statements in MIGRATIONS:
        for statement in statements:
            if created := CREATE.search(statement):
                out[created.group(1)] = statement
    return out


def _columns_after_migrations() -> dict[str, list[tuple[str, str]]]:
    """Every table's (name, type) columns once every migration ran: its CREATE, then ADD COLUMNs."""
    out: dict[str, list[tuple[str, str]]] = {}
    for _, statements in MIGRATIONS:
        for statement in statements:
            if (created := CREATE.search(statement)) and "ENGINE" in statement:
                body = statement[statement.index("(") + 1 : statement.index(") ENGINE")]
                out[created.group(1)] = [tuple(line.strip().rstrip(",").split(" ", 1))
                                         for line in body.strip().splitlines()]
            elif added := ADD.match(statement.strip()):
                out[added.group(1)].append((added.group(2), added.group(3)))
    return out


def test_every_migration_statement_is_idempotent():
    """Several sinks may migrate at once, and a crash may repeat a half-applied migration."""
    for number, statements in MIGRATIONS:
        for statement in statements:
            flat = " ".join(statement.split())
            assert CREATE.search(flat) or ADD.match(flat) or DROP.match(flat), (number, flat)
            assert "IF NOT EXISTS" not in flat or flat.startswith("CREATE "), "18.16 has no ADD COLUMN IF NOT EXISTS"
            assert "OR REPLACE" not in flat and "DROP VIEW" not in flat, "18.16 has neither"
            # a view dropped is created again by the same migration
            if dropped := DROP.match(flat):
                assert any((c := CREATE.search(s)) and c.group(1) == dropped.group(1)
                           for s in statements[statements.index(statement):])


def test_shipped_migrations_are_unchanged():
    """Migration 1 shipped: a database made by it must be upgraded by the later ones, not by an edit."""
    assert [n for n, _ in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    first = {CREATE.search(s).group(1): " ".join(s.split()) for s in MIGRATIONS[0][1]}
    assert first["campaign_totals_versions"] == (
        "CREATE TABLE IF NOT EXISTS {db}.campaign_totals_versions ( campaign_id String, videos UInt64, "
        "creators UInt64, donation_minor UInt64, currency String, updated_at DateTime('UTC'), version UInt64 ) "
        "ENGINE = ReplacingMergeTree(version) ORDER BY campaign_id")
    assert "argMax(tuple(videos, creators, donation_minor, currency, updated_at), version)" in first["campaign_totals"]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_migrations_create_the_contract_columns_key_and_version(table):
    ddl = _created()[table.name]
    assert _columns_after_migrations()[table.name] == [(c.name, c.type) for c in table.contract.columns]
    version = table.contract.version_field
    assert f"ENGINE = ReplacingMergeTree({version})" in ddl if version else "ENGINE = ReplacingMergeTree\n" in ddl
    order_by = re.search(r"ORDER BY \(?([\w, ]+?)\)?\s*$", ddl.strip()).group(1)
    assert tuple(k.strip() for k in order_by.split(",")) == table.contract.key_fields


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_views_show_every_contract_column_but_the_version(table):
    view = _created()[table.name.removesuffix("_versions")]
    shown = [*table.contract.key_fields, *re.findall(r"tupleElement\(latest, \d+\) AS (\w+)", view)]
    expected = [c.name for c in table.contract.columns if c.name != table.contract.version_field]
    assert shown == expected  # in the contract's order
    # element i of the argMax tuple is the column shown as the i-th tupleElement
    picked = (r"argMax\(tuple\(([^)]*)\), version\)" if table.contract.version_field  # the newest row
              else r"any\(tuple\(([^)]*)\)\)")  # immutable rows: any copy of a re-delivered row
    elements = [e.strip() for e in re.search(picked, view).group(1).split(",")]
    numbered = re.findall(r"tupleElement\(latest, (\d+)\) AS (\w+)", view)
    assert [(int(i), name) for i, name in numbered] == list(enumerate(elements, 1))
    assert f"{table.name}\n" in view and f"GROUP BY {', '.join(table.contract.key_fields)}" in view


# --- the sink's one INSERT path --------------------------------------------------------------


class RecordingClient:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list]] = []
        self.fail_on = fail_on

    def execute(self, sql, data=None, columnar=False):
        assert columnar
        if self.fail_on and self.fail_on in sql:
            raise OSError("connection refused")
        self.calls.append((sql, data))

    def disconnect(self):
        pass


def test_the_sink_writes_each_table_from_its_contract_keeping_the_newest_version_per_key():
    settings = Settings(clickhouse_url="clickhouse://127.0.0.1:9000/fg")
    client = RecordingClient()
    sink = ClickHouseSink(settings, client=client)
    older_total = CampaignTotal("dance", 1, 1, 200, "USD", M, V - 1)
    for row in (MINUTE, older_total, TOTAL, CampaignTotal("dance", 0, 0, 0, "USD", M, V - 5),
                CampaignMinute("dance", M + 60, 1, 200, V), CampaignTotal("music", 1, 1, 50, "GBP", M, V)):
        sink.add(row)
    assert sink.buffered == 4
    assert sink.write() == 4
    assert client.calls == [  # epoch seconds go to DateTime columns as ints
        ("INSERT INTO fg.campaign_totals_versions "
         "(campaign_id, videos, creators, donation_minor, currency, updated_at, version, removed, views, likes, "
         "shares, comments) VALUES",
         [["dance", "music"], [3, 1], [2, 1], [600, 50], ["USD", "GBP"], [M + 7, M], [V, V],
          [0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]),
        ("INSERT INTO fg.campaign_minutes_versions (campaign_id, minute, videos, donation_minor, version) VALUES",
         [["dance", "dance"], [M, M + 60], [3, 1], [600, 200], [V, V]]),
    ]
    assert sink.buffered == 0 and sink.write() == 0


def test_a_failed_insert_keeps_the_rows_of_the_table_that_failed():
    from forgood.domain.errors import SinkUnavailable

    settings = Settings(clickhouse_url="clickhouse://127.0.0.1:9000/fg")
    client = RecordingClient(fail_on="campaign_minutes_versions")
    sink = ClickHouseSink(settings, client=client)
    sink.add(TOTAL)
    sink.add(MINUTE)
    with pytest.raises(SinkUnavailable):
        sink.write()
    assert len(client.calls) == 1 and sink.buffered == 1  # totals went in; the minute waits
    client.fail_on = None
    assert sink.write() == 1
    assert client.calls[-1][1][0] == ["dance"] and "campaign_minutes_versions" in client.calls[-1][0]


def test_tables_name_their_topics():
    settings = Settings()
    assert [t.topic(settings) for t in TABLES] == [
        settings.video_rows_topic, settings.totals_topic, settings.minutes_topic, settings.changes_topic]
    assert [t.contract.record for t in TABLES] == [CampaignVideoRow, CampaignTotal, CampaignMinute, CampaignChange]
    assert orjson.loads(TOTAL.to_bytes())["version"] == V


def test_freshness_is_measured_from_each_written_rows_publication_time_not_its_version():
    from prometheus_client import REGISTRY

    from forgood.domain.errors import SinkUnavailable

    def observed() -> tuple[float, float]:
        return (REGISTRY.get_sample_value("forgood_counted_to_visible_seconds_count") or 0.0,
                REGISTRY.get_sample_value("forgood_counted_to_visible_seconds_sum") or 0.0)

    client = RecordingClient(fail_on="campaign_minutes_versions")
    sink = ClickHouseSink(Settings(clickhouse_url="clickhouse://127.0.0.1:9000/fg"), client=client)
    count, total = observed()
    published = time.time() - 30
    sink.add(TOTAL, published_at=published)
    sink.add(MINUTE, published_at=published)
    sink.add(CampaignTotal("music", 1, 1, 50, "GBP", M, V))  # no timestamp: not observed
    with pytest.raises(SinkUnavailable):
        sink.write()  # the totals went in, the minute did not: only the total is observed
    after_count, after_sum = observed()
    assert after_count == count + 1
    assert 30 <= after_sum - total < 90
    client.fail_on = None
    sink.write()
    assert observed()[0] == count + 2
