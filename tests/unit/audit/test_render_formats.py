"""A statement drawn as JSON, CSV, a terminal table and a PDF (forgood.audit.render).

The CSV is read back with a parser written here and must equal the JSON document; the PDF's
text is extracted with poppler's ``pdftotext -layout`` and must read, line by line, as a
person reads the summary and the daily lines — with DejaVu embedded and with the core-font
fallback, for a currency symbol the core font lacks and for text outside Latin-1.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from forgood.audit.render import DEJAVU_DIR, render_csv, render_json, render_pdf, render_table
from forgood.audit.statement import Statement, build_statement
from forgood.audit.store import Settlement
from forgood.domain.campaigns import Campaign
from forgood.domain.money import from_minor
from forgood.domain.records import CampaignChange, CampaignVideoRow
from tests.support.statement_csv import parse_statement_csv

AS_OF = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
CUT = int(AS_OF.timestamp())
DAY = 86_400
HAVE_DEJAVU = (DEJAVU_DIR / "DejaVuSans.ttf").is_file() and (DEJAVU_DIR / "DejaVuSans-Bold.ttf").is_file()


def make(name: str = "Dance for Water", nonprofit: str = "Water e.V.", currency: str = "USD", price: int = 200,
         cap: int | None = 2_500, days: int = 3, per_day: int = 11, removed_every: int = 7,
         by: str = "alice") -> Statement:
    """A statement over ``days`` days of ``per_day`` videos (every ``removed_every``-th removed),
    one settlement and one price change."""
    campaign = Campaign(
        id="dance", name=name, nonprofit=nonprofit, hashtags=("dance",), currency=currency,
        donation_per_video=str(from_minor(price, currency)),
        donation_cap=None if cap is None else str(from_minor(cap, currency)),
        starts_at=AS_OF - timedelta(days=days + 1), ends_at=AS_OF + timedelta(days=5),
    )
    rows = []
    for d in range(days):
        for i in range(per_day):
            at = CUT - (days - d) * DAY + i * 60
            n = d * per_day + i
            status = "removed" if removed_every and n % removed_every == removed_every - 1 else "counted"
            rows.append(CampaignVideoRow("dance", f"v{n:04d}", f"c{n % 5}", at, at - at % 60, status, at, "",
                                         n * 1_000, 0, 0, 0, 1))
    settled = [Settlement("dance", CUT - DAY, 10, 2_000, 2_000, currency, "ab" * 32, CUT - DAY + 3_600, by)]
    changes = [CampaignChange("dance", 3, "price", "1.00 USD", "2.00 USD", CUT - 2 * DAY, by)]
    return build_statement(campaign, AS_OF, rows, settled, changes, CUT + 7_200)


# --------------------------------------------------------------------------- JSON


def test_json_is_the_document_with_exact_integers():
    statement = make(price=2**52 + 1, cap=None, days=1, per_day=3, removed_every=0)
    document = orjson.loads(render_json(statement))
    assert document == statement.to_json()
    assert document["donation_minor"] == 3 * (2**52 + 1)  # past a float's exact integers: still exact
    assert isinstance(document["due_minor"], int)
    assert "video_lines" in orjson.loads(render_json(statement, videos=True))


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize("videos", [False, True])
def test_csv_read_back_equals_the_json(videos):
    statement = make(name='Dance, "for" Water\nline two ☃', by="o'brien, j")
    document, formatted = parse_statement_csv(render_csv(statement, videos))
    expected = statement.to_json(videos)
    assert document == {key: expected[key] for key in document}
    assert sorted(document) == sorted(expected)
    assert formatted["due_minor"] == "$5.00" and formatted["donation_minor"] == "$25.00"
    assert formatted["videos"] == ""
    if videos:
        assert len(document["video_lines"]) == statement.videos


def test_csv_of_an_uncapped_statement_has_an_empty_cap():
    document, formatted = parse_statement_csv(render_csv(make(cap=None)))
    assert document["cap_minor"] is None and document["terms"]["cap_minor"] is None
    assert formatted["cap_minor"] == ""


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(str.strip), st.integers(0, 10**6), st.one_of(st.none(),
       st.integers(0, 10**8)), st.integers(1, 4), st.integers(0, 9))
def test_csv_round_trips_any_name_and_figures(name, price, cap, days, per_day):
    statement = make(name=name.replace("\r", " "), price=price, cap=cap, days=days, per_day=per_day)
    document, _ = parse_statement_csv(render_csv(statement, videos=True))
    assert document == statement.to_json(videos=True)


# --------------------------------------------------------------------------- table


def test_the_table_shows_the_figures_and_treats_names_as_text():
    statement = make(name="[bold]Dance[/bold]")
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(render_table(statement, videos=True))
    text = out.getvalue()
    assert "[bold]Dance[/bold]" in text
    assert re.search(r"Donation by the rules\s+│\s+\$25\.00", text)
    assert re.search(r"Due now\s+│\s+\$5\.00", text)
    assert re.search(r"2026-11-30\s+│\s+10\s+│\s+\$20\.00", text)
    assert "v0000" in text and "c0" not in text  # video lines, never the creator


# --------------------------------------------------------------------------- PDF


def pdf_text(data: bytes, tmp_path: Path) -> tuple[str, int]:
    """The PDF's text as ``pdftotext -layout`` lays it out, and its page count."""
    if shutil.which("pdftotext") is None:  # a failure, never a skip: the PDF must be checked
        pytest.fail("pdftotext is missing: install Debian's poppler-utils (scripts/setup.sh)", pytrace=False)
    path = tmp_path / "statement.pdf"
    path.write_bytes(data)
    assert data.startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    return text, text.count("\f")


def has_line(text: str, *cells: str) -> bool:
    """A line of ``text`` holds ``cells`` in order, separated by blanks only."""
    pattern = r"\s+".join(re.escape(cell) for cell in cells)
    return any(re.search(pattern, line) for line in text.splitlines())


FONTS = [pytest.param(DEJAVU_DIR, id="dejavu" if HAVE_DEJAVU else "dejavu-absent"), pytest.param(None, id="core")]


@pytest.mark.parametrize("font_dir", FONTS)
def test_the_pdf_reads_as_a_statement(font_dir, tmp_path):
    statement = make()
    text, pages = pdf_text(render_pdf(statement, videos=True, font_dir=font_dir), tmp_path)
    summary = text.split("\f")[0]  # page 1: the summary alone
    for cells in (("Donation statement",), ("Dance for Water",), ("Nonprofit: Water e.V.",),
                  ("As of 2026-12-03 12:00:00 UTC",),
                  ("Counted videos", "29"), ("Participants (distinct creators)", "5"),
                  ("Removed videos (not paid)", "4"), ("Outside the campaign window (not paid)", "0"),
                  ("Donation by the rules", "$25.00"), ("Settled before (1 settlement)", "$20.00"),
                  ("Due now", "$5.00"), ("Donation per video", "$2.00"), ("Donation cap", "$25.00"),
                  ("Hashtags", "#dance"), (statement.video_ids_sha256,)):
        assert has_line(summary, *cells), (cells, summary)
    assert "Daily lines" not in summary
    for day in statement.to_json()["days"]:
        assert has_line(text, day["day"], str(day["videos"]), f"${day['donation_minor'] / 100:,.2f}"), day
    assert has_line(text, "2026-11-30", "10", "$20.00") and has_line(text, "2026-12-01", "9", "$5.00")
    assert has_line(text, "2026-12-02", "10", "$0.00")
    assert has_line(text, "Total", "29", "$25.00")
    assert has_line(text, "2026-12-02 12:00:00", "10", "$20.00", "$20.00", "2026-12-02 13:00:00", "alice")
    assert has_line(text, "2026-12-01 12:00:00", "price", "1.00 USD", "2.00 USD", "alice")
    assert has_line(text, "v0000", "2026-11-30 12:00:00", "2026-11-30", "0")
    assert has_line(text, "v0032", "2026-12-02 12:10:00", "2026-12-02", "32,000")
    assert pages >= 2


@pytest.mark.parametrize("font_dir", FONTS)
def test_a_long_statement_runs_over_several_pages_with_every_daily_line(font_dir, tmp_path):
    statement = make(days=150, per_day=1, removed_every=0, cap=None)
    text, pages = pdf_text(render_pdf(statement, font_dir=font_dir), tmp_path)
    assert pages >= 4
    for day in statement.days:
        assert has_line(text, day.day, "1", "$2.00"), day
    assert has_line(text, "Total", "150", "$300.00")
    assert text.count("Day (UTC)") >= pages - 2  # the header repeated on every page of the table


@pytest.mark.parametrize("font_dir", FONTS)
def test_text_outside_latin_1_and_any_currency_never_crash(font_dir, tmp_path):
    statement = make(name="Tanz für Wasser — ☃ 日本 Ābc", nonprofit="Ωmega ﬁnance", currency="INR", by="Zoë 李")
    text, _ = pdf_text(render_pdf(statement, videos=True, font_dir=font_dir), tmp_path)
    embedded = font_dir is not None and HAVE_DEJAVU
    assert "Tanz für Wasser —" in text  # Latin-1 and Windows-1252 print in either font
    if embedded:
        assert has_line(text, "Donation by the rules", "₹25.00") and "☃" in text and "Ωmega" in text
    else:
        assert has_line(text, "Donation by the rules", "25.00 INR")
        assert "Abc" in text and "finance" in text  # decomposed to Latin letters
    assert has_line(text, "Due now", "₹5.00" if embedded else "5.00 INR")
