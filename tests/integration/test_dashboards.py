"""The Grafana dashboards' queries, run for real: SQL on ClickHouse, PromQL through promtool.

Every panel target and template-variable query of every dashboard under
``deploy/grafana/dashboards`` is collected and checked the way Grafana would run it:

* **ClickHouse** targets get the template variables substituted as Grafana and the
  ClickHouse plugin do (``$campaign`` with the plugin's own formatter, ``${campaign:fmt}``
  with Grafana's), then the plugin's backend macros expanded exactly as
  ``pkg/macros/macros.go`` of grafana-clickhouse-datasource writes them
  (``$__timeFilter(c)`` -> ``c >= toDateTime(<from>) AND c <= toDateTime(<to>)`` ...). Each
  query then runs on the real ClickHouse (the shared local stack, a unique database filled
  with a few rows inside the last hour) and must succeed and return rows; the main panels'
  numbers are compared with what forgood's money rules give.
* **Prometheus** expressions get ``$__rate_interval`` -> ``1m`` and ``$campaign`` as
  Grafana's Prometheus data source writes it, are parsed by ``promtool check rules`` (as
  recording rules) and evaluated by ``promtool test rules`` against synthetic series named
  and labelled exactly as the metric definitions in ``streams/metrics.py``,
  ``sinks/metrics.py`` and ``forgood/domain/observability.py``: each must give at least one finite
  sample, and the main panels give known values.

Static checks (uids, data source references, grid, provisioning files, LAYOUT.md being up
to date) need no services and run first.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from babel.numbers import get_currency_precision, list_currencies
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

import forgood.domain.observability
import sinks.metrics
import streams.metrics
from forgood.domain.money import from_minor
from forgood.domain.settings import Settings
from sinks.clickhouse import connect
from sinks.schema import migrate

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "datasources.yml"
PROVIDERS_FILE = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_TYPE = "prometheus"

# The dashboard time range every query is run for: the last hour, Grafana's $__interval for
# it (3600 s over ~240 points) and what Grafana derives from that with a 15 s scrape
# interval: $__rate_interval = max($__interval + scrape, 4 * scrape) = 1m.
RANGE_S = 3600
INTERVAL_S = 15
RATE_INTERVAL = "1m"

# Test data: one campaign per currency precision forgood must get right (CLDR via Babel).
CAMPAIGNS = {
    # id: (currency, videos, creators, donation_minor, cap_minor, goal_videos)
    "dash-usd": ("USD", 57, 31, 11_405, 20_000, 100),
    "dash-jpy": ("JPY", 12, 9, 1_200, 4_800, 48),
    "dash-bhd": ("BHD", 5, 5, 2_505, 2_505, 5),
}
# id: (removed, views, likes, shares, comments) — #DanceForChange's 81 million views among them
ENGAGEMENT = {
    "dash-usd": (2, 81_000_000, 4_200_000, 123_456, 9_876),
    "dash-jpy": (0, 6_800_000, 0, 0, 0),
    "dash-bhd": (1, 0, 0, 0, 0),
}
# Per campaign: minutes ago -> videos; the last one is outside the dashboard range.
MINUTES_AGO = {50: 3, 20: 5, 2: 7, 180: 11}


# --------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class Query:
    dashboard: str  # file name
    where: str  # "panel 3 'Videos' A" or "variable $campaign"
    title: str  # the panel's title, or "$campaign" for a variable
    ref: str  # the target's refId ("" for a variable)
    datasource: dict
    text: str  # SQL or PromQL
    target: dict

    @property
    def kind(self) -> str:
        return self.datasource.get("type", "")

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.where}"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def all_panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def collect(path: Path) -> list[Query]:
    dashboard = load(path)
    queries = []
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            datasource = target.get("datasource") or panel.get("datasource") or {}
            text = target.get("rawSql") if datasource.get("type") == CLICKHOUSE_TYPE else target.get("expr")
            where = f"panel {panel['id']} {panel.get('title', '')!r} {target.get('refId', '')}"
            queries.append(Query(path.name, where, panel.get("title", ""), target.get("refId", ""), datasource,
                                 text or "", target))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            text = query if isinstance(query, str) else (query or {}).get("rawSql") or (query or {}).get("query", "")
            queries.append(Query(path.name, f"variable ${variable['name']}", f"${variable['name']}", "",
                                 variable.get("datasource") or {}, text, variable))
    return queries


QUERIES = [query for path in DASHBOARD_FILES for query in collect(path)]
CLICKHOUSE_QUERIES = [q for q in QUERIES if q.kind == CLICKHOUSE_TYPE]
PROMETHEUS_QUERIES = [q for q in QUERIES if q.kind == PROMETHEUS_TYPE]
VARIABLES = {
    v["name"]: v
    for path in DASHBOARD_FILES
    for v in load(path).get("templating", {}).get("list", [])
}


def find(dashboard_file: str, title: str, ref: str = "A") -> Query:
    for query in QUERIES:
        if (query.dashboard, query.title, query.ref) == (dashboard_file, title, ref):
            return query
    raise AssertionError(f"no panel {title!r} (target {ref}) in {dashboard_file}")


# --------------------------------------------------------------------------- Grafana's interpolation

# Grafana's template syntax (public/app/features/templating/template_srv: variableRegex).
VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _sql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _prometheus_regex_escape(value: str) -> str:
    # Grafana's prometheusSpecialRegexEscape
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def _grafana_format(value: list[str] | str, fmt: str) -> str:
    values = value if isinstance(value, list) else [value]
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join(_sql_quote(v) for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "regex":
        escaped = [re.escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "raw":
        return ",".join(values)
    raise AssertionError(f"format :{fmt} is not handled by this test; add it")


def _clickhouse_default(value: list[str] | str, variable: dict) -> str:
    # grafana-clickhouse-datasource CHDatasource.format: arrays quoted and joined, else raw
    return "'" + "','".join(value) + "'" if isinstance(value, list) else value


def _prometheus_default(value: list[str] | str, variable: dict) -> str:
    # Grafana's Prometheus data source interpolateQueryExpr
    if not variable.get("multi") and not variable.get("includeAll"):
        text = value if isinstance(value, str) else ",".join(value)
        return text.replace("\\", "\\\\").replace("'", "\\\\'")
    if isinstance(value, str):
        return _prometheus_regex_escape(value)
    escaped = [_prometheus_regex_escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(text: str, selection: dict[str, list[str] | str], builtins: dict[str, str], default) -> str:
    """Replace Grafana variables; names Grafana does not know (plugin macros) stay as they are."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in builtins:
            return builtins[name]
        if name not in selection:
            return match.group(0)
        value = selection[name]
        if fmt:
            return _grafana_format(value, fmt)
        return default(value, VARIABLES.get(name, {}))

    return VARIABLE_RE.sub(replace, text)


# --------------------------------------------------------------------------- the ClickHouse plugin's macros


def _datetime(epoch_s: int) -> str:
    return f"toDateTime({epoch_s})"


def _datetime64(epoch_ms: int) -> str:
    return f"fromUnixTimestamp64Milli({epoch_ms})"


def _date(epoch_s: int) -> str:
    return "toDate('" + datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d") + "')"


def clickhouse_macros(sql: str, start_s: int, end_s: int, interval_s: int) -> str:
    """Expand the plugin's backend macros as pkg/macros/macros.go does (v4)."""
    start_ms, end_ms = start_s * 1000, end_s * 1000

    def one(args, n):
        assert len(args) == n, f"macro expects {n} argument(s), got {args}"
        return args

    macros = {
        "fromTime": lambda a: _datetime(start_s),
        "toTime": lambda a: _datetime(end_s),
        "fromTime_ms": lambda a: _datetime64(start_ms),
        "toTime_ms": lambda a: _datetime64(end_ms),
        "timeFilter": lambda a: "{0} >= {1} AND {0} <= {2}".format(
            one(a, 1)[0], _datetime(start_s), _datetime(end_s)),
        "timeFilter_ms": lambda a: "{0} >= {1} AND {0} <= {2}".format(
            one(a, 1)[0], _datetime64(start_ms), _datetime64(end_ms)),
        "dateFilter": lambda a: "{0} >= {1} AND {0} <= {2}".format(one(a, 1)[0], _date(start_s), _date(end_s)),
        "dateTimeFilter": lambda a: "({0} >= {2} AND {0} <= {3}) AND ({1} >= {4} AND {1} <= {5})".format(
            *one(a, 2), _date(start_s), _date(end_s), _datetime(start_s), _datetime(end_s)),
        "timeInterval": lambda a: (
            f"toStartOfInterval(toDateTime({one(a, 1)[0]}), INTERVAL {max(interval_s, 1)} second)"),
        "timeInterval_ms": lambda a: (
            f"toStartOfInterval(toDateTime64({one(a, 1)[0]}, 3), INTERVAL {max(interval_s * 1000, 1)} millisecond)"),
        "interval_s": lambda a: str(max(interval_s, 1)),
    }
    macros["dt"] = macros["dateTimeFilter"]

    def replace(match: re.Match) -> str:
        name, args = match.group(1), match.group(2)
        if name not in macros:
            return match.group(0)
        return macros[name]([a.strip() for a in args.split(",")] if args is not None else [])

    return re.sub(r"\$__(\w+)(?:\(([^)]*)\))?", replace, sql)


def expand_sql(query: Query, selection: dict, database: str, start_s: int, end_s: int) -> str:
    builtins = {
        "__from": str(start_s * 1000), "__to": str(end_s * 1000),
        "__interval": f"{INTERVAL_S}s", "__interval_ms": str(INTERVAL_S * 1000),
    }
    sql = interpolate(query.text, selection, builtins, _clickhouse_default)
    sql = clickhouse_macros(sql, start_s, end_s, INTERVAL_S)
    assert "$" not in sql, f"{query.id}: unexpanded variable or macro left in:\n{sql}"
    return re.sub(r"\bforgood\.", f"{database}.", sql)


def expand_promql(query: Query, selection: dict) -> str:
    builtins = {
        "__rate_interval": RATE_INTERVAL, "__interval": f"{INTERVAL_S}s",
        "__interval_ms": str(INTERVAL_S * 1000), "__range": f"{RANGE_S}s", "__range_s": str(RANGE_S),
    }
    expr = interpolate(query.text, selection, builtins, _prometheus_default)
    assert "$" not in expr, f"{query.id}: unexpanded variable left in: {expr}"
    return expr


SELECTIONS = {
    "all": {"campaign": sorted(CAMPAIGNS)},  # "All" with no custom all value = every option
    "one": {"campaign": ["dash-jpy"]},  # a multi-value variable holds a list even for one value
}


# --------------------------------------------------------------------------- static checks


def test_there_are_dashboards_with_both_kinds_of_query():
    assert {p.name for p in DASHBOARD_FILES} >= {"campaigns.json", "pipeline-health.json"}
    assert CLICKHOUSE_QUERIES and PROMETHEUS_QUERIES
    assert all(q.text.strip() for q in QUERIES), [q.id for q in QUERIES if not q.text.strip()]


def test_datasources_are_provisioned_by_uid_without_secrets():
    config = yaml.safe_load(DATASOURCES_FILE.read_text())
    by_uid = {ds["uid"]: ds for ds in config["datasources"]}
    assert set(by_uid) == {"clickhouse", "prometheus"}
    clickhouse = by_uid["clickhouse"]
    assert clickhouse["type"] == CLICKHOUSE_TYPE
    assert {k: clickhouse["jsonData"][k] for k in ("host", "port", "protocol", "defaultDatabase", "username")} == {
        "host": "clickhouse", "port": 9000, "protocol": "native", "defaultDatabase": "forgood",
        "username": "default"}
    # secrets only as references to the environment, expanded by Grafana at provisioning
    assert clickhouse["secureJsonData"] == {"password": "$CLICKHOUSE_PASSWORD"}
    for ds in config["datasources"]:
        for key, value in (ds.get("secureJsonData") or {}).items():
            assert re.fullmatch(r"\$\{?[A-Z_][A-Z0-9_]*\}?", str(value)), f"{ds['uid']}.{key} is a literal"
    prometheus = by_uid["prometheus"]
    assert (prometheus["type"], prometheus["url"]) == (PROMETHEUS_TYPE, "http://prometheus:9090")

    providers = yaml.safe_load(PROVIDERS_FILE.read_text())["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [("file", "/var/lib/grafana/dashboards")]


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_structure(path: Path):
    dashboard = load(path)
    expected_uid = {"campaigns.json": "forgood-campaigns", "pipeline-health.json": "forgood-pipeline"}
    if path.name in expected_uid:
        assert dashboard["uid"] == expected_uid[path.name]
    assert dashboard["title"].startswith("forgood — ")
    assert 36 <= dashboard["schemaVersion"] <= 41
    provisioned = {(ds["type"], ds["uid"]) for ds in yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]}

    def refs(node):
        if isinstance(node, dict):
            if "datasource" in node and isinstance(node["datasource"], dict):
                yield node["datasource"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(dashboard):
        if ref.get("type") == "grafana":
            continue  # the built-in annotations
        assert (ref.get("type"), ref.get("uid")) in provisioned, f"{path.name}: unknown data source {ref}"

    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, f"{panel['title']} leaves the grid"
        if panel["type"] != "row":
            assert panel.get("description"), f"{panel['title']} has no description"
            assert panel.get("targets"), f"{panel['title']} has no query"
        for x, y in itertools.product(range(pos["x"], pos["x"] + pos["w"]), range(pos["y"], pos["y"] + pos["h"])):
            assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
            cells[(x, y)] = panel["title"]


def test_clickhouse_queries_avoid_functions_missing_in_18_16():
    for query in CLICKHOUSE_QUERIES:
        assert "$__timeInterval" not in query.text, f"{query.id}: $__timeInterval expands to toStartOfInterval"
        for missing in ("toStartOfInterval", "LowCardinality", "DateTime64", "fromUnixTimestamp64", " FINAL"):
            assert missing not in query.text, f"{query.id} uses {missing}"
        assert re.search(r"\bforgood\.\w+", query.text), f"{query.id}: name tables as forgood.<table>"


def test_clickhouse_targets_say_how_grafana_should_shape_them():
    for query in CLICKHOUSE_QUERIES:
        if query.where.startswith("variable"):
            continue
        assert query.target.get("editorType") == "sql", query.id
        # without pluginVersion >= 4 the plugin treats a saved target as v3 and migrates it
        assert int(query.target.get("pluginVersion", "0").split(".")[0]) >= 4, query.id
        shape = (query.target.get("format"), query.target.get("queryType"))
        assert shape in {(0, "timeseries"), (1, "table")}, query.id


def test_every_rate_uses_the_rate_interval():
    for query in PROMETHEUS_QUERIES:
        windows = re.findall(r"\[([^\]]*)\]", query.text)
        assert all(w == "$__rate_interval" for w in windows), f"{query.id}: range {windows}"


def test_currency_minor_units_in_sql_match_forgood_money_rules():
    """The SQL's CLDR table (which currencies have 0, 3 or 4 minor digits) is Babel's."""
    scale_of = {1: 0, 1000: 3, 10000: 4}
    checked = 0
    for query in CLICKHOUSE_QUERIES:
        for match in re.finditer(r"multiIf\((.*?)\)\s+AS\s+scale", query.text, re.S):
            branches = re.findall(r"currency IN \(([^)]*)\),\s*(\d+)", match.group(1))
            in_sql = {digits: set(re.findall(r"'([A-Z]{3})'", codes)) for codes, digits in
                      ((codes, scale_of[int(scale)]) for codes, scale in branches)}
            assert match.group(1).rstrip().endswith(", 100"), "the default must be 2 digits (scale 100)"
            for digits in (0, 3, 4):
                babel = {c for c in list_currencies() if get_currency_precision(c) == digits}
                assert in_sql.get(digits, set()) == babel, f"{query.id}: {digits}-digit currencies differ from CLDR"
            checked += 1
    assert checked >= 2  # the Raised stat and the campaigns table


def test_scrape_jobs_named_in_queries_exist_in_the_prometheus_config():
    """up{job="..."} only finds targets if the Prometheus scrape config uses the same job names."""
    jobs_used = {job for q in PROMETHEUS_QUERIES for job in re.findall(r'\bjob\s*=~?\s*"([^"]+)"', q.text)}
    assert jobs_used == {"forgood-worker", "forgood-sink"}
    configs = [p for p in (REPO / "deploy").rglob("prometheus*.y*ml") if "scrape_configs" in p.read_text()]
    assert configs, "no Prometheus scrape config under deploy/ to compare the job names with"
    for path in configs:
        scrape = yaml.safe_load(path.read_text()).get("scrape_configs") or []
        assert jobs_used <= {c.get("job_name") for c in scrape}, f"{path}: scrape jobs differ from the dashboards'"


def test_layout_md_is_up_to_date():
    out = subprocess.run([sys.executable, str(GRAFANA / "render_layout.py")], capture_output=True, text=True,
                         check=True).stdout
    assert (GRAFANA / "LAYOUT.md").read_text(encoding="utf-8") == out, (
        "LAYOUT.md is stale: run python deploy/grafana/render_layout.py --write")


# --------------------------------------------------------------------------- ClickHouse, for real


@pytest.fixture(scope="module")
def dashboard_db(stack_settings: Settings):
    """A unique database with forgood's schema and rows for CAMPAIGNS; yields (client, db, now_s)."""
    client = connect(stack_settings)
    database = "forgood_dash_" + uuid.uuid4().hex[:10]
    migrate(client, database)
    now_s = int(time.time())
    updated = datetime.fromtimestamp(now_s - 30, UTC)
    version = time.time_ns()
    client.execute(
        f"INSERT INTO {database}.campaign_totals_versions "
        "(campaign_id, videos, creators, donation_minor, currency, updated_at, version, removed, views, likes, "
        "shares, comments) VALUES",
        [(cid, videos, creators, minor, cur, updated, version, *ENGAGEMENT[cid])
         for cid, (cur, videos, creators, minor, _, _) in CAMPAIGNS.items()]
        # an older version that the views must ignore
        + [("dash-usd", 1, 1, 1, "USD", updated, version - 1, 9, 9, 9, 9, 9)],
    )
    minute_now = now_s // 60 * 60
    client.execute(
        f"INSERT INTO {database}.campaign_minutes_versions "
        "(campaign_id, minute, videos, donation_minor, version) VALUES",
        [(cid, datetime.fromtimestamp(minute_now - ago * 60, UTC), n, n * 100, version)
         for cid in CAMPAIGNS for ago, n in MINUTES_AGO.items()],
    )
    yield client, database, now_s
    client.execute(f"DROP DATABASE IF EXISTS {database}")
    client.disconnect()


def run_sql(dashboard_db, query: Query, selection: dict):
    client, database, now_s = dashboard_db
    sql = expand_sql(query, selection, database, now_s - RANGE_S, now_s)
    try:
        rows, columns = client.execute(sql, with_column_types=True)
    except Exception as exc:  # any server or client error fails the dashboard
        error = f"{type(exc).__name__}: {str(exc).split('Stack trace:')[0].strip()}"
    else:
        return sql, rows, [name for name, _ in columns], [kind for _, kind in columns]
    pytest.fail(f"{query.id} failed on ClickHouse:\n{sql}\n{error}")


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
@pytest.mark.parametrize("query", CLICKHOUSE_QUERIES, ids=lambda q: q.id)
def test_clickhouse_query_runs_and_returns_rows(dashboard_db, query: Query, selection: str):
    sql, rows, names, kinds = run_sql(dashboard_db, query, SELECTIONS[selection])
    assert rows, f"{query.id} returned nothing although the database has data in the range:\n{sql}"
    if query.target.get("format") == 0:  # time series: Grafana needs a leading, ascending time column
        assert kinds[0].startswith("DateTime"), f"{query.id}: first column is {names[0]} {kinds[0]}"
        times = [row[0] for row in rows]
        assert times == sorted(times)


def test_campaign_variable_lists_every_campaign(dashboard_db):
    (query,) = [q for q in CLICKHOUSE_QUERIES if q.where == "variable $campaign"]
    assert query.text == "SELECT campaign_id FROM forgood.campaign_totals ORDER BY campaign_id"
    variable = VARIABLES["campaign"]
    assert variable["multi"] and variable["includeAll"] and not variable.get("allValue")
    _, rows, _, _ = run_sql(dashboard_db, query, {})
    assert [r[0] for r in rows] == sorted(CAMPAIGNS)


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
def test_stat_panels_show_the_stored_numbers(dashboard_db, selection: str):
    chosen = SELECTIONS[selection]["campaign"]
    _, videos, _, _ = run_sql(dashboard_db, find("campaigns.json", "Videos"), SELECTIONS[selection])
    assert videos == [(c, CAMPAIGNS[c][1]) for c in chosen]
    _, participants, _, _ = run_sql(dashboard_db, find("campaigns.json", "Participants"), SELECTIONS[selection])
    assert participants == [(c, CAMPAIGNS[c][2]) for c in chosen]
    _, views, _, _ = run_sql(dashboard_db, find("campaigns.json", "Views"), SELECTIONS[selection])
    assert views == [(c, ENGAGEMENT[c][1]) for c in chosen]
    _, removed, _, _ = run_sql(dashboard_db, find("campaigns.json", "Removed"), SELECTIONS[selection])
    assert removed == [(c, ENGAGEMENT[c][0]) for c in chosen]
    _, raised, names, _ = run_sql(dashboard_db, find("campaigns.json", "Raised"), SELECTIONS[selection])
    assert names == ["campaign_id", "currency", "raised"]
    assert [(c, cur) for c, cur, _ in raised] == [(c, CAMPAIGNS[c][0]) for c in chosen]
    for cid, currency, value in raised:  # JPY: 0 minor digits, BHD: 3, USD: 2
        assert value == pytest.approx(float(from_minor(CAMPAIGNS[cid][3], currency)), abs=1e-9)


def test_campaigns_table_shows_exact_amounts(dashboard_db):
    _, rows, names, _ = run_sql(dashboard_db, find("campaigns.json", "All campaigns"), {})
    table = [dict(zip(names, row, strict=True)) for row in rows]
    assert [r["campaign"] for r in table] == sorted(CAMPAIGNS)
    for row in table:
        currency, videos, creators, minor, _, _ = CAMPAIGNS[row["campaign"]]
        assert (row["videos"], row["participants"], row["currency"], row["donation_minor"]) == (
            videos, creators, currency, minor)
        assert row["raised"] == str(from_minor(minor, currency))  # "114.05", "1200", "2.505"
        removed, views, likes, shares, comments = ENGAGEMENT[row["campaign"]]
        assert (row["removed"], row["views"], row["likes"], row["shares"], row["comments"]) == (
            removed, views, likes, shares, comments)
    assert names[:5] == ["campaign", "videos", "views", "removed", "participants"]  # views beside videos


def test_views_sit_beside_videos_and_big_counts_read_grouped():
    dashboard = load(GRAFANA / "dashboards" / "campaigns.json")
    stats = sorted((p for p in all_panels(dashboard) if p["gridPos"]["y"] == 0), key=lambda p: p["gridPos"]["x"])
    assert [p["title"] for p in stats][:2] == ["Videos", "Views"]
    assert {p["title"] for p in stats} >= {"Videos", "Views", "Removed", "Participants", "Raised"}
    table = next(p for p in all_panels(dashboard) if p["title"] == "All campaigns")
    units = {o["matcher"]["options"]: o["properties"] for o in table["fieldConfig"]["overrides"]}
    for name in ("views", "likes", "shares", "comments"):  # 81,000,000, not 81000000
        assert {"id": "unit", "value": "locale"} in units[name], name


@pytest.mark.parametrize("selection", sorted(SELECTIONS))
def test_videos_per_minute_covers_the_time_range_only(dashboard_db, selection: str):
    query = find("campaigns.json", "Videos per minute")
    assert "$__timeFilter(minute)" in query.text and "toStartOfMinute" in query.text
    _, rows, names, _ = run_sql(dashboard_db, query, SELECTIONS[selection])
    assert names == ["time", "campaign_id", "videos"]
    in_range = {ago: n for ago, n in MINUTES_AGO.items() if ago * 60 < RANGE_S}
    for cid in SELECTIONS[selection]["campaign"]:
        assert sorted(n for _, c, n in rows if c == cid) == sorted(in_range.values())
    assert {c for _, c, _ in rows} == set(SELECTIONS[selection]["campaign"])


# --------------------------------------------------------------------------- Prometheus, through promtool

EVAL_AT_S = 300
STEPS = 40  # 10 minutes of samples every 15 s
COUNTER_STEP = 60  # per 15 s: rate() = 4/s

JOBS = {
    streams.metrics: "forgood-worker",
    sinks.metrics: "forgood-sink",
    forgood.domain.observability: "forgood-worker",
}
INSTANCES = {"forgood-worker": "worker-1:9464", "forgood-sink": "sink-1:9465"}
LABEL_VALUES = {
    "reason": ["not_json", "future_timestamp"],
    "kind": ["totals", "minutes"],
    "agent": ["match_videos", "count_videos"],
    "consumer": ["worker", "sink"],
    "topic": ["video-created", "forgood-campaign-totals"],
    "partition": ["0", "1"],
}
CAMPAIGN_GAUGES = {
    "forgood_campaign_videos": lambda c: CAMPAIGNS[c][1],
    "forgood_campaign_participants": lambda c: CAMPAIGNS[c][2],
    "forgood_campaign_donation_raised_minor": lambda c: CAMPAIGNS[c][3],
    "forgood_campaign_donation_cap_minor": lambda c: CAMPAIGNS[c][4],
    "forgood_campaign_goal_videos": lambda c: CAMPAIGNS[c][5],
}


def defined_metrics() -> list[tuple[MetricWrapperBase, str]]:
    """Every metric the forgood processes define, with the scrape job that serves it."""
    found = []
    for module, job in JOBS.items():
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                found.append((value, job))
    return found


PROBE = "dashboard-test-probe"  # label value of the throw-away series metric_shape may add


def _samples(metric: MetricWrapperBase) -> list[Sample]:
    return [sample for collected in metric.collect() for sample in collected.samples]


def _add_probe_series(metric: MetricWrapperBase) -> tuple[str, ...]:
    """Give a labelled metric one series (its label count found by trying), for metric_shape to read."""
    for count in range(1, 10):
        values = (PROBE,) * count
        try:
            metric.labels(*values)
        except ValueError:  # "Incorrect label count"
            continue
        return values
    raise AssertionError(f"{metric!r} has no series, and no label count up to 9 fits it")


def metric_shape(metric: MetricWrapperBase) -> tuple[str, str, list[str], list[float]]:
    """A metric's name, type, label names (in order) and, for a histogram, bucket upper bounds.

    Read through prometheus_client's public API: name and type from describe(); the label
    names and the ``le`` bounds from the samples collect() gives for one series. A labelled
    metric with no series yet gets a probe series for the reading, removed right after.
    """
    (described,) = metric.describe()
    samples = _samples(metric)
    if not samples:  # labelled, and no series yet
        probe = _add_probe_series(metric)
        try:
            samples = _samples(metric)
        finally:
            metric.remove(*probe)
    series = {k: v for k, v in samples[0].labels.items() if k != "le"}
    bounds = [
        float(s.labels["le"]) for s in samples  # "+Inf" -> inf
        if s.name == f"{described.name}_bucket" and {k: v for k, v in s.labels.items() if k != "le"} == series
    ]
    return described.name, described.type, list(series), bounds


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}"


def synthetic_series() -> list[dict]:
    """promtool input series: every defined metric, with realistic label values."""
    series = []
    for job, instance in INSTANCES.items():  # Prometheus's own `up`
        series.append({"series": f'up{_labels({"job": job, "instance": instance})}', "values": f"1x{STEPS}"})
    for metric, job in defined_metrics():
        name, kind, labelnames, bounds = metric_shape(metric)
        label_sets = []
        others = [n for n in labelnames if n not in ("campaign", "currency")]
        campaigns = [{}]
        if "campaign" in labelnames:
            campaigns = [{"campaign": c, **({"currency": CAMPAIGNS[c][0]} if "currency" in labelnames else {})}
                         for c in CAMPAIGNS]
        for base in campaigns:
            for combo in itertools.product(*(LABEL_VALUES[n] for n in others)):
                label_sets.append({**base, **dict(zip(others, combo, strict=True))})
        for labels in label_sets:
            this_job = {"worker": "forgood-worker", "sink": "forgood-sink"}.get(labels.get("consumer"), job)
            labels = {**labels, "job": this_job, "instance": INSTANCES[this_job]}
            if kind == "counter":
                series.append({"series": f"{name}_total{_labels(labels)}", "values": f"0+{COUNTER_STEP}x{STEPS}"})
            elif kind == "gauge":
                if name in CAMPAIGN_GAUGES:
                    value = CAMPAIGN_GAUGES[name](labels["campaign"])
                elif name.endswith("_timestamp_seconds"):
                    value = EVAL_AT_S - 20  # 20 s before the evaluation
                else:
                    value = 7
                series.append({"series": f"{name}{_labels(labels)}", "values": f"{value}x{STEPS}"})
            elif kind == "histogram":
                for i, bound in enumerate(bounds):  # cumulative: each bucket grows at least as fast
                    step = 4 * (i + 1) if bound != math.inf else 4 * len(bounds)
                    le = {**labels, "le": floatToGoString(bound)}
                    series.append({"series": f"{name}_bucket{_labels(le)}", "values": f"0+{step}x{STEPS}"})
                series.append({"series": f"{name}_count{_labels(labels)}", "values": f"0+{4 * len(bounds)}x{STEPS}"})
                series.append({"series": f"{name}_sum{_labels(labels)}", "values": f"0+{2 * len(bounds)}x{STEPS}"})
            else:
                raise AssertionError(f"no synthetic series for {kind} {name}")
    return series


SERIES = synthetic_series()
SERIES_NAMES = {s["series"].split("{", 1)[0] for s in SERIES}



def spread(metric: MetricWrapperBase, *kept: str) -> int:
    """How many synthetic series of ``metric`` a ``sum by (kept)`` adds up: the product of its
    other labels' value counts (so the answers follow a label added to a metric)."""
    _, _, labelnames, _ = metric_shape(metric)
    return math.prod(len(LABEL_VALUES[n]) for n in labelnames if n not in kept)


def per_group(metric: MetricWrapperBase, dashboard: str, title: str) -> list[tuple[dict, float]]:
    """The answer of a panel ``sum by (labels) (rate(metric[...]))`` for the synthetic series:
    one group per value combination of the grouping labels the metric has, each the rate of the
    series it adds up."""
    by = [n.strip() for n in re.search(r"sum by \(([^)]*)\)", find(dashboard, title).text).group(1).split(",")]
    _, _, labelnames, _ = metric_shape(metric)
    kept = [n for n in by if n in labelnames]
    return [(dict(zip(kept, combo, strict=True)), COUNTER_STEP / 15 * spread(metric, *kept))
            for combo in itertools.product(*(LABEL_VALUES[n] for n in kept))]


# Exact answers of the main panels for the synthetic series above (selection "all").
EXPECTED = {
    ("campaigns.json", "% of donation cap", "A"): [
        ({"campaign": c}, CAMPAIGNS[c][3] / CAMPAIGNS[c][4]) for c in CAMPAIGNS],
    ("campaigns.json", "% of goal (videos)", "A"): [
        ({"campaign": c}, CAMPAIGNS[c][1] / CAMPAIGNS[c][5]) for c in CAMPAIGNS],
    ("pipeline-health.json", "Workers up", "A"): [({}, 1)],
    ("pipeline-health.json", "Events per second", "A"): [
        ({}, COUNTER_STEP / 15 * spread(streams.metrics.EVENTS_CONSUMED))],
    ("pipeline-health.json", "Dead letters by reason", "A"): per_group(
        streams.metrics.EVENTS_DEAD_LETTERED, "pipeline-health.json", "Dead letters by reason"),
    ("pipeline-health.json", "Consumer lag", "A"): [
        ({"consumer": c, "topic": t}, 7 * len(LABEL_VALUES["partition"]))
        for c in LABEL_VALUES["consumer"] for t in LABEL_VALUES["topic"]],
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: scripts/setup.sh installs it (Debian package prometheus)"
    return path


def _rule_name(query: Query) -> str:
    return "dashboard:" + re.sub(r"[^a-zA-Z0-9_]", "_", f"{query.dashboard}_{query.where}")


def _promtool(promtool: str, tmp_path: Path, query: Query, expr: str, tests: list[dict]) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": _rule_name(query), "expr": expr}]}]}, sort_keys=False))
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, f"{query.id}: promtool cannot parse\n{expr}\n{check.stdout}{check.stderr}"

    unit = tmp_path / "test.yml"
    unit.write_text(yaml.safe_dump({
        "rule_files": [rules.name],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": SERIES, "promql_expr_test": tests}],
    }, sort_keys=False))
    run = subprocess.run([promtool, "test", "rules", str(unit)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert run.returncode == 0, f"{query.id}: evaluation failed\n{expr}\n{run.stdout}{run.stderr}"


@pytest.mark.parametrize("query", PROMETHEUS_QUERIES, ids=lambda q: q.id)
def test_promql_parses_and_gives_finite_samples(promtool: str, tmp_path: Path, query: Query):
    expr = expand_promql(query, SELECTIONS["all"])
    unknown = set(re.findall(r"\bforgood_\w+", expr)) - SERIES_NAMES
    assert not unknown, f"{query.id}: no metric definition exposes {sorted(unknown)}"
    # Non-empty and finite: count the samples that are > -Inf (NaN is not), then map to 1.
    tests = [{"expr": f"(count(({expr}) > -Inf) > 0) * 0 + 1", "eval_time": f"{EVAL_AT_S}s",
              "exp_samples": [{"labels": "{}", "value": 1}]}]
    key = (query.dashboard, query.title, query.ref)
    if key in EXPECTED:
        tests.append({"expr": expr, "eval_time": f"{EVAL_AT_S}s",
                      "exp_samples": [{"labels": _labels(labels), "value": value} for labels, value in EXPECTED[key]]})
    _promtool(promtool, tmp_path, query, expr, tests)


def test_main_prometheus_panels_have_exact_checks():
    titles = {(q.dashboard, q.title, q.ref) for q in PROMETHEUS_QUERIES}
    assert set(EXPECTED) <= titles, set(EXPECTED) - titles


@pytest.mark.parametrize("query", [q for q in PROMETHEUS_QUERIES if "$campaign" in q.text], ids=lambda q: q.id)
def test_campaign_selection_filters_prometheus_series(promtool: str, tmp_path: Path, query: Query):
    expr = expand_promql(query, SELECTIONS["one"])
    assert '=~"dash\\-jpy"' in expr or '=~"dash-jpy"' in expr, expr
    _promtool(promtool, tmp_path, query, expr, [{
        "expr": f"count({expr})", "eval_time": f"{EVAL_AT_S}s", "exp_samples": [{"labels": "{}", "value": 1}]}])
