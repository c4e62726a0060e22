"""The sink's schema, the record contracts and the dashboards' SQL on a *current* ClickHouse.

The integration tests run all of forgood's SQL on the local stack's ClickHouse 18.16;
docker-compose runs a current release. Here the same SQL runs on a current ClickHouse
embedded in-process (chdb, pinned in pyproject.toml's test extra), through forgood's own
code (``tests/support/chdb_client.py`` gives it clickhouse-driver's ``execute``):

* the real migrations apply, are idempotent and create exactly the contracts' columns;
* rows written through the sink's one INSERT path — several versions per key, out of order,
  replayed — give, in the ``campaign_totals`` / ``campaign_minutes`` views, through each
  contract's ``latest_sql`` and through the counter service's ``load_clickhouse``, exactly
  the newest version of every key (the expectations of ``tests/integration/test_schema.py``),
  before and after ReplacingMergeTree merged the versions away;
* every ClickHouse query of every Grafana dashboard, its template variables and macros
  expanded as ``tests/integration/test_dashboards.py`` expands them, runs and returns rows.

Nothing is skipped: without chdb every test fails saying ``make setup`` installs it.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

import tests.integration.test_dashboards as dashboards
from forgood.cli.readback import TotalsRow, compact, totals_table
from forgood.domain.campaigns import parse_campaigns
from forgood.domain.errors import SinkError
from forgood.domain.records import CampaignMinute, CampaignTotal
from forgood.domain.settings import Settings
from forgood.serve import sources
from sinks import schema
from sinks.clickhouse import ClickHouseSink
from sinks.schema import MIGRATIONS, MINUTES, TABLES, TOTALS, check_columns, migrate
from tests.support.chdb_client import ChdbClient
from tests.support.schema_upgrade import NOW, rows_of, upgrade_from_migration_1

TOP = 2**64 - 1  # versions use the whole UInt64 range
MINUTE = NOW // 60 * 60


def settings_for(database: str) -> Settings:
    return Settings(clickhouse_url=f"clickhouse://127.0.0.1:9000/{database}")


def test_it_is_a_current_clickhouse(chdb_client: ChdbClient):
    major = int(chdb_client.version().split(".")[0])
    assert major >= 24, f"chdb embeds ClickHouse {chdb_client.version()}, not a current release"


def test_migrations_apply_idempotently_and_create_the_contracts_columns(chdb_client: ChdbClient):
    db = "forgood_current_schema"
    assert migrate(chdb_client, db) == migrate(chdb_client, db) == max(n for n, _ in MIGRATIONS)
    assert check_columns(chdb_client, db) == []
    assert sorted(chdb_client.execute(f"SELECT version FROM {db}.schema_migrations")) == [(n,) for n, _ in MIGRATIONS]
    engines = dict(chdb_client.execute(f"SELECT name, engine FROM system.tables WHERE database = '{db}'"))
    assert engines == {"schema_migrations": "TinyLog", "settlements": "MergeTree",
                       **{t.name.removesuffix("_versions"): "View" for t in TABLES},
                       **{t.name: "ReplacingMergeTree" for t in TABLES}}


def test_views_and_latest_sql_give_the_newest_version_of_every_key(chdb_client: ChdbClient, monkeypatch):
    db = "forgood_current_rows"
    settings = settings_for(db)
    sink = ClickHouseSink(settings, client=chdb_client)
    sink.start()  # the real migrations, through the sink
    for table in TABLES:  # keep every version in the tables until the end (no background merge)
        chdb_client.execute(f"SYSTEM STOP MERGES {table.qualified(db)}")

    # tests/integration/test_schema.py's rows, on a fixed clock
    newest_totals = [CampaignTotal("dance", 3, 2, 600, "USD", NOW - 5, TOP, 1, 81_000_000, 4_000_000, 2**63, 7),
                     CampaignTotal("yen", 7, 7, 70, "JPY", NOW - 9, 1_795_000_000_000_000_000)]
    newest_minutes = [CampaignMinute("dance", MINUTE, 2, 400, TOP), CampaignMinute("dance", MINUTE - 60, 1, 200, 5),
                      CampaignMinute("yen", MINUTE - 180 * 60, 9, 90, 5)]  # older than the service keeps
    older = [CampaignTotal("dance", 4, 2, 800, "USD", NOW - 60, TOP - 1, 0, 90_000_000, 1, 1, 1),
             CampaignMinute("dance", MINUTE, 1, 1, 4),
             CampaignTotal("yen", 9, 9, 99, "JPY", NOW - 1, 1_794_999_999_999_999_999),
             CampaignMinute("yen", MINUTE - 180 * 60, 1, 10, 1)]

    # the sink keeps the newest row per key in a batch: one version per key per INSERT
    for row in (*newest_totals, *newest_minutes):
        sink.add(row)
    assert sink.flush() == 5
    for row in older:  # older versions after the newer ones (out of order)
        sink.add(row)
    assert sink.flush() == 4
    for row in (*newest_minutes, *newest_totals):  # a replay: the same rows again
        sink.add(row)
    assert sink.flush() == 5
    # several versions of one key in one INSERT, newest in the middle (the sink's SQL and columns)
    same_key = [CampaignMinute("dance", MINUTE - 60, 0, 0, 2), newest_minutes[1],
                CampaignMinute("dance", MINUTE - 60, 8, 800, 4)]
    chdb_client.execute(MINUTES.insert_sql(db), MINUTES.contract.to_columns(same_key), columnar=True)
    assert chdb_client.execute(f"SELECT count() FROM {TOTALS.qualified(db)}") == [(6,)]
    # the older versions are in the tables; the three of one INSERT are one row already: a current
    # ClickHouse replaces within an inserted block (optimize_on_insert, absent in 18.16)
    assert chdb_client.execute(f"SELECT count() FROM {MINUTES.qualified(db)}") == [(8 + 1,)]

    def check_newest() -> None:
        assert rows_of(chdb_client, TOTALS, db) == newest_totals
        assert rows_of(chdb_client, MINUTES, db) == sorted(newest_minutes, key=lambda r: r.key())

        viewed = chdb_client.execute(f"SELECT campaign_id, videos, creators, donation_minor, currency, "
                                     f"toUInt32(updated_at), removed, views, likes, shares, comments "
                                     f"FROM {db}.campaign_totals ORDER BY campaign_id")
        assert viewed == [(r.campaign_id, r.videos, r.creators, r.donation_minor, r.currency, r.updated_at,
                           r.removed, r.views, r.likes, r.shares, r.comments) for r in newest_totals]
        viewed = chdb_client.execute(f"SELECT campaign_id, toUInt32(minute), videos, donation_minor "
                                     f"FROM {db}.campaign_minutes ORDER BY campaign_id, minute")
        assert viewed == sorted((r.campaign_id, r.minute, r.videos, r.donation_minor) for r in newest_minutes)

        # what the counter service starts from (its own connection is this session)
        monkeypatch.setattr(sources, "connect", lambda _settings: chdb_client)
        loaded = sources.load_clickhouse(settings, now=NOW)
        assert sorted(loaded.totals, key=lambda r: r.key()) == newest_totals
        assert sorted(loaded.minutes, key=lambda r: r.key()) == newest_minutes[:2][::-1]

    check_newest()  # every version still in the tables: the views and latest_sql pick
    for table in TABLES:  # ReplacingMergeTree(version) keeps the same rows the views pick
        chdb_client.execute(f"SYSTEM START MERGES {table.qualified(db)}")
        chdb_client.execute(f"OPTIMIZE TABLE {table.qualified(db)} FINAL")
    assert chdb_client.execute(f"SELECT count() FROM {TOTALS.qualified(db)}") == [(2,)]
    assert chdb_client.execute(f"SELECT count() FROM {MINUTES.qualified(db)}") == [(3,)]
    check_newest()


def test_a_database_made_by_migration_1_is_upgraded_and_its_rows_read_as_zero(chdb_client: ChdbClient,
                                                                             monkeypatch):
    upgrade_from_migration_1(chdb_client, settings_for("forgood_current_upgrade"), monkeypatch)


def test_a_column_added_by_another_sink_meanwhile_is_no_error(chdb_client: ChdbClient, monkeypatch):
    db = "forgood_current_race"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
        migrate(chdb_client, db)

    class Racing:
        """The first DESCRIBE of the totals table answers as before the other sink's ADD COLUMN."""

        def __init__(self) -> None:
            self.raced = False

        def execute(self, sql: str, *args, **kwargs):
            if sql.startswith("DESCRIBE") and "campaign_totals_versions" in sql and not self.raced:
                self.raced = True
                before = chdb_client.execute(sql, *args, **kwargs)
                chdb_client.execute(MIGRATIONS[1][1][0].format(db=db))  # the other sink adds `removed`
                return before
            return chdb_client.execute(sql, *args, **kwargs)

    racing = Racing()
    assert migrate(racing, db) == len(MIGRATIONS)
    assert racing.raced and check_columns(chdb_client, db) == []


def test_a_sink_refuses_a_schema_its_records_do_not_fit(chdb_client: ChdbClient):
    db = "forgood_current_mismatch"
    migrate(chdb_client, db)
    chdb_client.execute(f"ALTER TABLE {TOTALS.qualified(db)} DROP COLUMN comments")  # changed by hand
    with pytest.raises(SinkError) as raised:
        ClickHouseSink(settings_for(db), client=chdb_client).start()
    message = str(raised.value)
    assert f"table {db}.campaign_totals_versions has columns" in message and "'comments'" in message, message
    assert f"table {db}.campaign_minutes_versions" not in message, message


def test_the_totals_table_shows_views_beside_videos_and_removals():
    from rich.console import Console

    campaigns = {c.id: c for c in parse_campaigns({"campaigns": [
        {"id": "dance", "name": "Dance for Change", "nonprofit": "IFAD", "hashtags": ["DanceForChange"],
         "donation_per_video": "1.00", "currency": "USD", "starts_at": "2026-01-01T00:00:00Z",
         "ends_at": "2027-01-01T00:00:00Z", "goal_videos": 40_000}]})}
    totals = {"dance": TotalsRow("dance", 33_000, 20_000, 3_300_000, "USD", 12, 81_000_000, 6_800_000, 999_999, 9_999)}

    def rendered(**kwargs) -> list[list[str]]:
        console = Console(record=True, width=240, file=io.StringIO())
        console.print(totals_table(campaigns, totals, **kwargs))
        lines = console.export_text().replace("┃", "│").splitlines()
        return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│")]

    header, row = rendered()
    assert header == ["campaign", "nonprofit", "videos", "views", "participants", "raised", "% of cap", "% of goal",
                      "removed", "likes", "shares", "comments"]
    assert row == ["Dance for Change", "IFAD", "33,000", "81.0M", "20,000", "$33,000.00", "—", "82.5%", "12", "6.8M",
                   "1.0M", "9,999"]
    assert rendered(exact=True)[1][3] == "81,000,000"
    # an 80-column terminal keeps the figures readable: no nonprofit or engagement detail
    header, row = rendered(width=80)
    assert header == ["campaign", "videos", "views", "participants", "raised", "% of cap", "% of goal", "removed"]
    assert row[1:3] == ["33,000", "81.0M"]
    assert [compact(n) for n in (0, 9_999, 10_000, 999_949, 999_999, 6_800_000, 2**64 - 1)] == [
        "0", "9,999", "10.0K", "999.9K", "1.0M", "6.8M", "18,446,744.1T"]


def test_the_counter_service_starts_empty_before_the_sink_made_the_schema(chdb_client: ChdbClient, monkeypatch):
    # the error codes sources._NO_SCHEMA relies on (UNKNOWN_DATABASE, then UNKNOWN_TABLE)
    monkeypatch.setattr(sources, "connect", lambda _settings: chdb_client)
    assert sources.load_clickhouse(settings_for("forgood_current_nothing"), now=NOW) == sources.Loaded([], [])
    chdb_client.execute("CREATE DATABASE IF NOT EXISTS forgood_current_empty")
    assert sources.load_clickhouse(settings_for("forgood_current_empty"), now=NOW) == sources.Loaded([], [])


# --------------------------------------------------------------------------- the dashboards


@pytest.fixture(scope="module")
def dashboard_db(chdb_client: ChdbClient):
    """test_dashboards.py's data (its CAMPAIGNS and MINUTES_AGO, an older version the views
    must ignore) written through the sink; its (client, database, now_s)."""
    db = "forgood_current_dash"
    sink = ClickHouseSink(settings_for(db), client=chdb_client)
    sink.start()
    version = 1_795_000_000_000_000_000
    sink.add(CampaignTotal("dash-usd", 1, 1, 1, "USD", NOW - 30, version - 1))
    assert sink.flush() == 1
    for cid, (currency, videos, creators, minor, _, _) in dashboards.CAMPAIGNS.items():
        sink.add(CampaignTotal(cid, videos, creators, minor, currency, NOW - 30, version, *dashboards.ENGAGEMENT[cid]))
        for ago, n in dashboards.MINUTES_AGO.items():
            sink.add(CampaignMinute(cid, MINUTE - ago * 60, n, n * 100, version))
    assert sink.flush() == len(dashboards.CAMPAIGNS) * (1 + len(dashboards.MINUTES_AGO))
    return chdb_client, db, NOW


def test_every_dashboard_has_clickhouse_queries_to_run():
    assert {q.dashboard for q in dashboards.CLICKHOUSE_QUERIES} >= {"campaigns.json"}
    assert any(q.where.startswith("variable") for q in dashboards.CLICKHOUSE_QUERIES)


@pytest.mark.parametrize("selection", sorted(dashboards.SELECTIONS))
@pytest.mark.parametrize("query", dashboards.CLICKHOUSE_QUERIES, ids=lambda q: q.id)
def test_dashboard_query_runs_and_returns_rows(dashboard_db, query, selection: str):
    # run_sql expands the variables and macros as Grafana does and fails naming the query and error
    sql, rows, names, kinds = dashboards.run_sql(dashboard_db, query, dashboards.SELECTIONS[selection])
    assert rows, f"{query.id} returned nothing although the database has data in the range:\n{sql}"
    if query.target.get("format") == 0:  # time series: Grafana needs a leading, ascending time column
        assert kinds[0].startswith("DateTime"), f"{query.id}: first column is {names[0]} {kinds[0]}"
        assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_dashboard_numbers_are_the_stored_ones(dashboard_db):
    """The main panels' numbers, as test_dashboards.py checks them on 18.16."""
    _, rows, names, _ = dashboards.run_sql(dashboard_db, dashboards.find("campaigns.json", "All campaigns"), {})
    table = [dict(zip(names, row, strict=True)) for row in rows]
    assert [(r["campaign"], r["videos"], r["participants"], r["currency"], r["donation_minor"], r["raised"])
            for r in table] == [("dash-bhd", 5, 5, "BHD", 2_505, "2.505"), ("dash-jpy", 12, 9, "JPY", 1_200, "1200"),
                                ("dash-usd", 57, 31, "USD", 11_405, "114.05")]
    assert [(r["views"], r["removed"], r["likes"], r["shares"], r["comments"]) for r in table] == [
        (0, 1, 0, 0, 0), (6_800_000, 0, 0, 0, 0), (81_000_000, 2, 4_200_000, 123_456, 9_876)]
    for title, column in (("Views", 1), ("Removed", 0)):
        _, shown, _, _ = dashboards.run_sql(dashboard_db, dashboards.find("campaigns.json", title),
                                            dashboards.SELECTIONS["all"])
        assert shown == [(cid, dashboards.ENGAGEMENT[cid][column]) for cid in sorted(dashboards.CAMPAIGNS)]
    assert {r["updated_at"] for r in table} == {datetime.fromtimestamp(NOW - 30, UTC).replace(tzinfo=None)}
    _, raised, _, _ = dashboards.run_sql(dashboard_db, dashboards.find("campaigns.json", "Raised"),
                                         dashboards.SELECTIONS["all"])
    assert raised == [("dash-bhd", "BHD", 2.505), ("dash-jpy", "JPY", 1200.0), ("dash-usd", "USD", 114.05)]
    _, per_minute, _, _ = dashboards.run_sql(dashboard_db, dashboards.find("campaigns.json", "Videos per minute"),
                                             dashboards.SELECTIONS["one"])
    in_range = sorted((ago, n) for ago, n in dashboards.MINUTES_AGO.items() if ago * 60 < dashboards.RANGE_S)
    assert per_minute == [(datetime.fromtimestamp(MINUTE - ago * 60, UTC).replace(tzinfo=None), "dash-jpy", n)
                          for ago, n in reversed(in_range)]
