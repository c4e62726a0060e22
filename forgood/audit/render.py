"""A :class:`~forgood.audit.statement.Statement` drawn for people and programs: table, JSON,
CSV and PDF. Pure functions from a statement to text or bytes; nothing here reads anything
but, for the PDF, a system font file.

* :func:`render_table` — rich tables for a terminal (``forgood statement``'s default);
* :func:`render_json` — :meth:`Statement.to_json` as JSON (orjson: integers exact, indented);
* :func:`render_csv` — sections, each a title row, a header row, its rows and an empty row:
  ``summary`` (``field,value,formatted``: every top-level figure of the JSON and the
  ``terms.*``; ``formatted`` is the money amount as a person reads it), ``days``,
  ``settlements``, ``changes`` and, with ``videos``, ``video_lines`` (one row per counted
  video). Values are the JSON's (minor units, ISO times); an absent cap is an empty cell;
  hashtags are space-separated.
* :func:`render_pdf` — what a finance team would send: page 1 the summary (campaign,
  nonprofit, as of, the figures, the terms in force), then the daily lines, the settlements,
  the term changes and, with ``videos``, the video lines (as many pages as they need). Money
  is :func:`~forgood.domain.money.format_minor`'s; the exact minor units are in the JSON and
  CSV. It embeds DejaVu Sans (Debian's fonts-dejavu-core) when present, so any text prints;
  without it, the core font Helvetica (Windows-1252: accents, €, dashes) with every other
  character replaced by its closest Latin letters or ``?``, and amounts whose currency symbol
  it cannot print written with the ISO code (``1,234.50 INR``) — never a crash.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from babel.numbers import format_currency
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import TTFFont
from rich.console import Group
from rich.table import Table
from rich.text import Text

from forgood.audit.statement import Statement, iso
from forgood.domain.money import format_minor, from_minor

#: Where Debian's fonts-dejavu-core puts DejaVu Sans (regular and bold).
DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")

#: Summary fields holding money (minor units of the statement's currency).
MONEY_FIELDS = frozenset({"price_minor", "cap_minor", "donation_minor", "settled_minor", "due_minor",
                          "terms.price_minor", "terms.cap_minor"})


# --- JSON ----------------------------------------------------------------------------------

def render_json(statement: Statement, videos: bool = False) -> bytes:
    """The statement's JSON document (:meth:`Statement.to_json`), indented, with a final newline."""
    return orjson.dumps(statement.to_json(videos), option=orjson.OPT_INDENT_2) + b"\n"


# --- CSV -----------------------------------------------------------------------------------

def summary_fields(document: dict[str, Any]) -> list[tuple[str, Any]]:
    """The CSV summary's ``(field, value)`` pairs of a JSON document: every scalar at the top
    level, then ``terms.<name>`` for each term (hashtags space-separated)."""
    pairs = [(key, value) for key, value in document.items() if not isinstance(value, list | dict)]
    for key, value in document["terms"].items():
        pairs.append((f"terms.{key}", " ".join(value) if isinstance(value, list) else value))
    return pairs


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def render_csv(statement: Statement, videos: bool = False) -> str:
    """The statement as CSV (sections as the module says; RFC 4180 quoting, CRLF line ends)."""
    document = statement.to_json(videos)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["summary"])
    writer.writerow(["field", "value", "formatted"])
    for key, value in summary_fields(document):
        formatted = format_minor(value, statement.currency) if key in MONEY_FIELDS and value is not None else ""
        writer.writerow([key, _cell(value), formatted])
    sections: list[tuple[str, list[str]]] = [
        ("days", ["day", "videos", "donation_minor"]),
        ("settlements", ["as_of", "videos", "donation_minor", "paid_minor", "currency", "video_ids_sha256",
                         "settled_at", "settled_by"]),
        ("changes", ["change_id", "what", "old", "new", "changed_at", "changed_by"]),
    ]
    if videos:
        sections.append(("video_lines", ["video_id", "created_at", "day", "views"]))
    for name, header in sections:
        writer.writerow([])
        writer.writerow([name])
        writer.writerow(header)
        for item in document[name]:
            writer.writerow([_cell(item[column]) for column in header])
    return out.getvalue()


# --- table ---------------------------------------------------------------------------------

def _when(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary_lines(statement: Statement, money: Callable[[int], str]) -> list[tuple[str, str]]:
    """The summary's (label, figure) lines as a person reads them; ``money`` formats amounts."""
    s = statement
    due_label = "Due now" if s.due_minor >= 0 else "Due now (a credit to the payer)"
    return [
        ("Counted videos", f"{s.videos:,}"),
        ("Participants (distinct creators)", f"{s.participants:,}"),
        ("Removed videos (not paid)", f"{s.removed:,}"),
        ("Outside the campaign window (not paid)", f"{s.outside_window:,}"),
        ("Donation by the rules", money(s.donation_minor)),
        (f"Settled before ({len(s.settlements)} settlement{'' if len(s.settlements) == 1 else 's'})",
         money(s.settled_minor)),
        (due_label, money(s.due_minor)),
    ]


def terms_lines(statement: Statement, money: Callable[[int], str]) -> list[tuple[str, str]]:
    """The terms in force as (label, value) lines."""
    t = statement.terms
    return [
        ("Donation per video", money(t.price_minor)),
        ("Donation cap", "none" if t.cap_minor is None else money(t.cap_minor)),
        ("Currency", t.currency),
        ("Window", f"{_when(t.starts_at)} to {_when(t.ends_at)}"),
        ("Hashtags", " ".join("#" + tag for tag in t.hashtags)),
    ]


def render_table(statement: Statement, videos: bool = False) -> Group:
    """Rich tables: the summary and terms, the daily lines, the settlements, the term changes
    and, with ``videos``, the video lines. Every cell is plain text (a name is never read as
    rich markup)."""
    s = statement

    def money(minor: int) -> str:
        return format_minor(minor, s.currency)

    def table(title: str, *columns: str, right: tuple[int, ...] = (), header: bool = True) -> Table:
        made = Table(title=Text(title), show_header=header)
        for i, column in enumerate(columns):
            made.add_column(column, justify="right" if i in right else "left")
        return made

    def add(to: Table, *cells: str, style: str = "") -> None:
        to.add_row(*(Text(cell) for cell in cells), style=style)

    summary = table(f"{s.name} — {s.nonprofit}\nstatement of {s.campaign_id} as of {_when(s.as_of)}",
                    "item", "figure", right=(1,), header=False)
    for label, figure in summary_lines(s, money) + terms_lines(s, money):
        add(summary, label, figure)
    add(summary, "Counted video ids (sha256)", s.video_ids_sha256)
    days = table("Daily lines (UTC days of creation)", "day", "videos", "donation", right=(1, 2))
    for d in s.days:
        add(days, d.day, f"{d.videos:,}", money(d.donation_minor))
    add(days, "total", f"{s.videos:,}", money(s.donation_minor), style="bold")
    settlements = table("Settlements", "as of", "videos", "donation then", "paid", "settled at", "by",
                        right=(1, 2, 3))
    for x in s.settlements:
        add(settlements, iso(x.as_of), f"{x.videos:,}", money(x.donation_minor), money(x.paid_minor),
            iso(x.settled_at), x.settled_by)
    changes = table("Term changes", "changed at", "what", "old", "new", "by")
    for c in s.changes:
        add(changes, iso(c.changed_at), c.what, c.old, c.new, c.changed_by)
    parts: list[Table] = [summary, days, settlements, changes]
    if videos:
        lines = table("Counted videos", "video", "created", "day", "views", right=(3,))
        for v in s.video_lines:
            add(lines, v.video_id, iso(v.created_at), v.day, f"{v.views:,}")
        parts.append(lines)
    return Group(*parts)


# --- PDF -----------------------------------------------------------------------------------

def _cp1252(ch: str) -> bool:
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def printable_text(text: str, printable: Callable[[str], bool] = _cp1252) -> str:
    """``text`` with every character ``printable`` refuses (default: not in Windows-1252, what
    the PDF core fonts print) replaced by the printable characters of its compatibility
    decomposition (``Ā`` -> ``A``, ``ﬁ`` -> ``fi``), or ``?`` when none is left."""
    out = []
    for ch in text:
        if printable(ch):
            out.append(ch)
        else:
            out.append("".join(c for c in unicodedata.normalize("NFKD", ch) if printable(c)) or "?")
    return "".join(out)


class _StatementPDF(FPDF):
    """A4 portrait with a footer naming the statement and the page."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(size=8)
        self.cell(0, 5, f"{self.footer_text} - page {self.page_no()} of {{nb}}", align="C")


class _PdfWriter:
    """Draws one statement into a :class:`_StatementPDF` (fonts and text as the module says)."""

    def __init__(self, statement: Statement, font_dir: Path | None) -> None:
        self.s = statement
        self.pdf = _StatementPDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_margins(12, 12, 12)
        fonts = [] if font_dir is None else [font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"]
        if fonts and all(path.is_file() for path in fonts):
            glyphs: set[int] | None = None
            for style, path in zip(("", "B"), fonts, strict=True):
                self.pdf.add_font("DejaVu", style, str(path))
                self.pdf.set_font("DejaVu", style)
                font = self.pdf.current_font
                cmap = set(font.cmap) if isinstance(font, TTFFont) else set()
                glyphs = cmap if glyphs is None else glyphs & cmap
            printable = set(glyphs or ())
            self.family, self.printable = "DejaVu", (lambda ch: ord(ch) in printable or ch in "\n\t")
        else:
            self.pdf.core_fonts_encoding = "windows-1252"
            self.family, self.printable = "Helvetica", _cp1252
        self.pdf.set_font(self.family, size=10)
        self.pdf.set_auto_page_break(auto=True, margin=16)
        self.pdf.set_creation_date(datetime.fromtimestamp(statement.generated_at, tz=UTC))
        self.pdf.set_title(self.t(f"Donation statement: {statement.name} as of {iso(statement.as_of)}"))
        self.pdf.set_author("forgood")
        self.pdf.footer_text = self.t(f"forgood statement of {statement.campaign_id} as of {_when(statement.as_of)}")

    def t(self, text: str) -> str:
        """``text`` as the font prints it (:func:`printable_text`)."""
        return printable_text(text, self.printable)

    def money(self, minor: int) -> str:
        """An amount as :func:`format_minor` writes it, or with the ISO code when the font cannot
        print the currency's symbol (``1,234.50 INR``)."""
        text = format_minor(minor, self.s.currency)
        if all(self.printable(ch) for ch in text):
            return text
        return format_currency(from_minor(minor, self.s.currency), self.s.currency, format="#,##0.00 ¤¤",
                               locale="en_US", currency_digits=True)

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.set_font(self.family, "B", size)
        self.pdf.multi_cell(0, size * 0.5, self.t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_font(self.family, "", 10)
        self.pdf.ln(1)

    def para(self, text: str, size: float = 10, wrap: WrapMode = WrapMode.WORD) -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.multi_cell(0, size * 0.5, self.t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=wrap)
        self.pdf.set_font(self.family, "", 10)

    def table(self, header: list[str] | None, rows: list[list[str]], widths: tuple[float, ...],
              align: tuple[str, ...], size: float = 9) -> None:
        """A bordered table; its header row (when given) repeated on every page it spans."""
        self.pdf.set_font(self.family, "", size)
        with self.pdf.table(col_widths=widths, width=sum(widths), align="LEFT", text_align=align,
                            first_row_as_headings=header is not None, line_height=size * 0.55) as table:
            for values in ([header] if header else []) + rows:
                row = table.row()
                for value in values:
                    row.cell(self.t(value))
        self.pdf.set_font(self.family, "", 10)
        self.pdf.ln(4)

    def draw(self, videos: bool) -> bytes:
        s, pdf = self.s, self.pdf
        pdf.add_page()
        self.heading("Donation statement", 18)
        self.heading(s.name, 14)
        self.para(f"Nonprofit: {s.nonprofit}")
        self.para(f"Campaign: {s.campaign_id}")
        self.para(f"As of {_when(s.as_of)}: the videos created before this time, by their status as known "
                  f"at {_when(s.generated_at)}.")
        pdf.ln(4)
        self.heading("Summary", 12)
        self.table(None, [list(line) for line in summary_lines(s, self.money)], (120, 66), ("LEFT", "RIGHT"),
                   size=10)
        self.heading("Terms in force", 12)
        self.table(None, [list(line) for line in terms_lines(s, self.money)], (50, 136), ("LEFT", "LEFT"))
        self.para(f"Counted video ids (sorted, one per line), sha256: {s.video_ids_sha256}", 8, WrapMode.CHAR)
        pdf.ln(2)
        self.para("Donation = counted videos x donation per video, up to the cap, with the terms in force; "
                  "due = donation - settled (negative: a credit to the payer). Exact amounts in minor "
                  "units: forgood statement --format json or --format csv.", 8)

        pdf.add_page()
        self.heading("Daily lines (UTC days of creation; the cap filled in day order)", 12)
        day_rows = [[d.day, f"{d.videos:,}", self.money(d.donation_minor)] for d in s.days]
        day_rows.append(["Total", f"{s.videos:,}", self.money(s.donation_minor)])
        self.table(["Day (UTC)", "Videos", "Donation"], day_rows, (50, 40, 60), ("LEFT", "RIGHT", "RIGHT"))

        self.heading("Settlements", 12)
        if s.settlements:
            self.table(["As of (UTC)", "Videos", "Donation then", "Paid", "Settled at (UTC)", "By"],
                       [[_short(x.as_of), f"{x.videos:,}", self.money(x.donation_minor), self.money(x.paid_minor),
                         _short(x.settled_at), x.settled_by] for x in s.settlements],
                       (34, 18, 32, 32, 34, 36), ("LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "LEFT"), size=8)
        else:
            self.para(f"No settlement as of {_when(s.as_of)}.")
            pdf.ln(4)

        self.heading("Term changes", 12)
        if s.changes:
            self.table(["Changed at (UTC)", "What", "Old", "New", "By"],
                       [[_short(c.changed_at), c.what, c.old, c.new, c.changed_by] for c in s.changes],
                       (34, 22, 48, 48, 34), ("LEFT",) * 5, size=8)
        else:
            self.para("No change recorded.")
            pdf.ln(4)

        if videos:
            self.heading(f"Counted videos ({s.videos:,})", 12)
            self.table(["Video", "Created (UTC)", "Day (UTC)", "Views"],
                       [[v.video_id, _short(v.created_at), v.day, f"{v.views:,}"] for v in s.video_lines],
                       (80, 40, 30, 36), ("LEFT", "LEFT", "LEFT", "RIGHT"), size=8)
        return bytes(pdf.output())


def _short(epoch_s: int) -> str:
    """``2026-12-03 12:00:00`` (UTC, said in the column's header)."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_pdf(statement: Statement, videos: bool = False, font_dir: Path | None = DEJAVU_DIR) -> bytes:
    """The statement as a PDF document (the module says what it holds). ``font_dir``: where
    ``DejaVuSans.ttf`` and ``DejaVuSans-Bold.ttf`` are; None or missing: the core font."""
    return _PdfWriter(statement, font_dir).draw(videos)
