"""Statements and settlements through the command line, on the local stack (Kafka for the
campaigns' terms, ClickHouse 18.16 for the audit rows, changes and settlements).

Audit rows are written as the sink writes them (``ClickHouseSink``), several versions of some
videos; the campaigns are published to the campaigns topic so ``forgood statement`` and
``forgood settle`` find their terms. Every figure is compared, to the minor unit, with the
video-by-video oracle of ``tests/unit/audit/test_statement_rules.py`` run on the rows this
test wrote (newest version per video, kept here). The story:

* ``relay`` (USD 1.00 a video, cap 20.00): a statement as of T1 (json, csv, pdf, table),
  settled; then two of its videos are removed, a removed one restored, two arrive after T1
  and the price goes to 2.00 (the cap now binds): the statement as of T2 owes the oracle's
  due exactly; settling T1 again, or an earlier time, is refused and writes nothing;
* ``open`` (EUR 1.25, uncapped): settled as of T1, then two removals and one restoration:
  the statement as of T2 is a credit (negative due), settled too, after which nothing is due.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from typer.testing import CliRunner

from forgood.audit.store import Settlement
from forgood.cli.cli import app
from forgood.domain.campaigns import parse_campaigns
from forgood.domain.records import CampaignChange, CampaignVideoRow
from forgood.domain.settings import get_settings
from producers.campaigns import publish_campaigns
from sinks.clickhouse import ClickHouseSink
from sinks.schema import migrate
from tests.support.statement_csv import parse_statement_csv
from tests.support.statement_rows_oracle import oracle

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
D0 = TODAY - timedelta(days=4)
T1 = D0 + timedelta(days=2, hours=12)  # both in the past: a settlement's as-of must be
T2 = D0 + timedelta(days=3, hours=12)
DAY = 86_400


def at(moment: datetime, seconds: int = 0) -> int:
    return int(moment.timestamp()) + seconds


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def spec(cid: str, price: str, currency: str, cap: str | None) -> dict:
    return {"id": cid, "name": f"{cid} challenge", "nonprofit": "Clean Water e.V.", "hashtags": [cid],
            "donation_per_video": price, "currency": currency, "donation_cap": cap,
            "starts_at": (D0 - timedelta(days=1)).isoformat(), "ends_at": (D0 + timedelta(days=10)).isoformat()}


class Videos:
    """The audit rows written so far, through the sink; ``latest`` keeps the newest per video."""

    def __init__(self, settings) -> None:
        self.sink = ClickHouseSink(settings)
        self.sink.start()
        self.latest: dict[tuple[str, str], CampaignVideoRow] = {}
        self.version = 0

    def write(self, *items: tuple[str, str, int, str]) -> None:
        """(campaign, video, created_at, status) each, as one new version, in one INSERT."""
        self.version += 1
        for cid, video, created, status in items:
            r = CampaignVideoRow(cid, video, f"creator-{video[-1]}", created, created - created % 60, status,
                                 created, "moderation" if status == "removed" else "", 100 * len(video), 0, 0, 0,
                                 self.version)
            self.sink.add(r)
            self.latest[(cid, video)] = r
        assert self.sink.flush() == len(items)

    def of(self, cid: str) -> list[CampaignVideoRow]:
        return [r for (c, _), r in self.latest.items() if c == cid]


@pytest.fixture
def forgood(run_settings, monkeypatch):
    """``forgood ...`` in-process (CliRunner) with the test's settings in the environment."""
    for name, value in run_settings.as_env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception,
                                                                                           SystemExit))
    text = " ".join(result.output.split())
    assert "error:" in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def settlements_of(clickhouse, db: str, cid: str) -> list[tuple]:
    return clickhouse.execute(f"SELECT toUInt32(as_of), videos, donation_minor, paid_minor, currency, "
                              f"video_ids_sha256, settled_by FROM {db}.settlements "
                              f"WHERE campaign_id = '{cid}' ORDER BY as_of")


def check_statement(forgood, videos: Videos, cid: str, when: datetime, price: int, cap: int | None,
                    paid: list[Settlement], changes: tuple[CampaignChange, ...] | list[CampaignChange] = ()) -> dict:
    """The json and csv statements of ``cid`` as of ``when`` equal the oracle; returns the oracle."""
    expected = oracle(videos.of(cid), price, cap, paid, at(when))
    document = orjson.loads(ok(forgood("statement", cid, "--as-of", iso(when), "--format", "json", "--videos")))
    for key in ("videos", "participants", "removed", "outside_window", "donation_minor", "settled_minor",
                "due_minor", "days", "video_ids_sha256"):
        assert document[key] == expected[key], (key, document[key], expected[key])
    assert (document["campaign_id"], document["as_of"], document["price_minor"], document["cap_minor"]) == \
        (cid, iso(when), price, cap)
    assert [s["as_of"] for s in document["settlements"]] == [iso(datetime.fromtimestamp(s, UTC))
                                                               for s in expected["settlements"]]
    assert [(v["video_id"], v["views"]) for v in document["video_lines"]] == \
        [(video, views) for video, _, views in expected["video_lines"]]
    assert "creator-" not in orjson.dumps(document).decode()  # never a creator id
    assert [(c["change_id"], c["what"], c["old"], c["new"], c["changed_by"]) for c in document["changes"]] == \
        [(c.change_id, c.what, c.old, c.new, c.changed_by) for c in list(changes)]
    text = ok(forgood("statement", cid, "--as-of", iso(when), "--format", "csv", "--videos"))
    from_csv, _ = parse_statement_csv(text)
    assert {k: v for k, v in from_csv.items() if k != "generated_at"} == \
        {k: v for k, v in document.items() if k != "generated_at"}
    return expected


def test_statements_settlements_removals_restorations_and_refusals(run_settings, clickhouse, forgood, tmp_path):
    db = run_settings.clickhouse.database
    migrate(clickhouse, db)
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [spec("relay", "1.00", "USD", "20.00"),
                                                                   spec("open", "1.25", "EUR", None)]}))
    videos = Videos(run_settings)
    # relay: 12 counted before T1 over three days (r05 restored earlier, r06 removed in its second version)
    relay = [("relay", f"r{i:02d}", at(D0, i * 5 * 3_600), "counted") for i in range(12)]
    videos.write(*relay[:4], ("relay", "r05", at(D0, 25 * 3_600), "removed"), ("relay", "r06", at(D0, 30 * 3_600),
                                                                                "counted"))
    videos.write(*relay, ("relay", "r12", at(D0, 30 * 3_600 + 1), "counted"),
                 ("relay", "x-removed", at(D0, 3_000), "removed"),
                 ("relay", "x-outside", at(D0, -2 * DAY), "outside_window"),
                 ("relay", "x-at-t1", at(T1), "counted"), ("relay", "x-after-t1", at(T1, 3_600), "counted"),
                 ("relay", "x-after-t2", at(T2, 1), "counted"))
    videos.write(("relay", "r06", at(D0, 30 * 3_600), "removed"))
    # open: 6 counted before T1, none after
    videos.write(*(("open", f"o{i}", at(D0, i * 9 * 3_600), "counted") for i in range(6)),
                 ("open", "o-gone", at(D0, 7_200), "removed"))
    changes = [CampaignChange("relay", 0, "created", "", "", at(D0, -DAY), "ops"),
               CampaignChange("relay", 0, "price", "", "1.00 USD", at(D0, -DAY), "ops"),
               CampaignChange("relay", 0, "cap", "", "20.00 USD", at(D0, -DAY), "ops")]
    for change in changes:
        videos.sink.add(change)
    videos.sink.flush()

    # --- as of T1: statements, then settlements
    relay_t1 = check_statement(forgood, videos, "relay", T1, 100, 2_000, [], changes)
    assert (relay_t1["videos"], relay_t1["removed"], relay_t1["outside_window"]) == (12, 2, 1)
    assert relay_t1["due_minor"] == 1_200
    open_t1 = check_statement(forgood, videos, "open", T1, 125, None, [])
    assert open_t1["due_minor"] == 750

    pdf = tmp_path / "relay.pdf"
    assert "written to" in forgood("statement", "relay", "--as-of", iso(T1), "--format", "pdf",
                                   "--out", str(pdf)).output
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    assert "Donation by the rules" in text and "$12.00" in text and "relay challenge" in text
    table = ok(forgood("statement", "relay", "--as-of", iso(T1)))
    assert "Due now" in table and "$12.00" in table

    out = ok(forgood("settle", "relay", "--as-of", iso(T1), "--by", "tester"))
    assert f"settled relay as of {iso(T1)}: paid $12.00 (1200 minor units of USD)" in " ".join(out.split())
    out = ok(forgood("settle", "open", "--as-of", iso(T1), "--by", "tester"))
    assert "paid €7.50 (750 minor units of EUR)" in " ".join(out.split())
    relay_paid = [Settlement("relay", at(T1), 12, 1_200, 1_200, "USD", relay_t1["video_ids_sha256"], 0, "tester")]
    open_paid = [Settlement("open", at(T1), 6, 750, 750, "EUR", open_t1["video_ids_sha256"], 0, "tester")]
    assert settlements_of(clickhouse, db, "relay") == [(at(T1), 12, 1_200, 1_200, "USD", relay_t1["video_ids_sha256"],
                                                        "tester")]

    # --- refused: the same as-of again, an earlier one, a future one; nothing written
    refused(forgood("settle", "relay", "--as-of", iso(T1), "--by", "tester"),
            f"relay was already settled as of {iso(T1)}", "nothing written")
    refused(forgood("settle", "relay", "--as-of", iso(T1 - timedelta(hours=1))),
            "earlier than its latest settlement", iso(T1))
    refused(forgood("settle", "relay", "--as-of", iso(datetime.now(UTC) + timedelta(days=1))), "in the future")
    assert len(settlements_of(clickhouse, db, "relay")) == 1

    # --- after the settlement: removals, a restoration, a price change (the cap now binds)
    videos.write(("relay", "r01", at(D0, 5 * 3_600), "removed"), ("relay", "r02", at(D0, 10 * 3_600), "removed"),
                 ("relay", "r06", at(D0, 30 * 3_600), "counted"),
                 ("open", "o1", at(D0, 9 * 3_600), "removed"), ("open", "o2", at(D0, 18 * 3_600), "removed"),
                 ("open", "o-gone", at(D0, 7_200), "counted"))
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [spec("relay", "2.00", "USD", "20.00")]}))
    raised = CampaignChange("relay", 1, "price", "1.00 USD", "2.00 USD", at(T1, 60), "ops")
    videos.sink.add(raised)
    videos.sink.flush()

    relay_t2 = check_statement(forgood, videos, "relay", T2, 200, 2_000, relay_paid, [*changes, raised])
    # r00..r11 less r01, r02 (r06 restored): 10; r12, x-at-t1, x-after-t1: 13 x 2.00 = 26.00 -> the cap, 20.00
    assert (relay_t2["videos"], relay_t2["donation_minor"], relay_t2["due_minor"]) == (13, 2_000, 800)
    open_t2 = check_statement(forgood, videos, "open", T2, 125, None, open_paid)
    assert (open_t2["videos"], open_t2["donation_minor"], open_t2["due_minor"]) == (5, 625, -125)  # a credit

    out = ok(forgood("settle", "open", "--as-of", iso(T2), "--by", "tester"))
    assert "paid -€1.25 (-125 minor units of EUR) — a credit to the payer" in " ".join(out.split())
    assert [row[3] for row in settlements_of(clickhouse, db, "open")] == [750, -125]
    open_paid.append(Settlement("open", at(T2), 5, 625, -125, "EUR", open_t2["video_ids_sha256"], 0, "tester"))
    assert check_statement(forgood, videos, "open", T2, 125, None, open_paid)["due_minor"] == 0
    refused(forgood("settle", "open", "--as-of", iso(T2)), f"open was already settled as of {iso(T2)}")
    assert len(settlements_of(clickhouse, db, "open")) == 2


def test_unknown_campaigns_and_bad_options_are_clear_errors(run_settings, clickhouse, forgood):
    migrate(clickhouse, run_settings.clickhouse.database)
    publish_campaigns(run_settings, parse_campaigns({"campaigns": [spec("relay", "1.00", "USD", None),
                                                                   spec("open", "1.25", "EUR", None)]}))
    refused(forgood("statement", "nope", "--as-of", iso(T1)), "unknown campaign 'nope'",
            "known campaigns: open, relay")
    refused(forgood("settle", "nope", "--as-of", iso(T1)), "unknown campaign 'nope'")
    refused(forgood("statement", "relay", "--as-of", "2026-12-03T12:00:00"), "has no timezone")
    refused(forgood("statement", "relay", "--as-of", "yesterday"), "not an ISO 8601 time")
    refused(forgood("settle", "relay", "--as-of", "2026-12-03T12:00:00.5Z"), "whole seconds")
    refused(forgood("statement", "relay", "--as-of", iso(T1), "--format", "pdf"), "--out")
    assert ok(forgood("statement", "relay", "--as-of", iso(T1), "--format", "json")).startswith("{")
