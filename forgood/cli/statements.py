"""``forgood statement`` and ``forgood settle``: settlement statements of a campaign.

Both read the campaign's current terms from the campaigns topic (Kafka) and its audit rows,
settlements and term changes from ClickHouse, blocking on each; a failure of either, an
unknown campaign or a bad ``--as-of`` is an ``error: ...`` line and exit code 2, no traceback.
The rules are :mod:`forgood.audit.statement`'s and :mod:`forgood.audit.settlement`'s.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from forgood.domain.campaigns import Campaign
    from forgood.domain.settings import Settings

AS_OF_HELP = ("ISO 8601 time with a timezone, whole seconds, e.g. 2026-12-03T12:00:00Z: "
              "the statement covers the videos created before it.")


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    pdf = "pdf"


def parse_as_of(text: str) -> datetime:
    """``--as-of`` as an aware datetime; ``ValueError`` saying what to write otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--as-of {text!r} is not an ISO 8601 time (e.g. 2026-12-03T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise ValueError(f"--as-of {text!r} has no timezone: add Z for UTC or an offset such as +01:00")
    if moment.microsecond:
        raise ValueError(f"--as-of {text!r}: give whole seconds (no fraction)")
    return moment


def _fail(exc: BaseException) -> NoReturn:
    from forgood.cli.cli import _fail as fail

    fail(exc)


def _clickhouse_failed(settings: Settings, exc: BaseException) -> NoReturn:
    """A ClickHouse failure as one clear line: where, the server's first line, and a hint."""
    target = settings.clickhouse
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    _fail(ConnectionError(f"ClickHouse at {target.host}:{target.port} (database {target.database}) failed: {first} "
                          "(is it up, and has the sink created the schema? `forgood stack status`, `forgood sink`)"))


def _campaign(settings: Settings, campaign_id: str) -> Campaign:
    """The campaign's current terms from the campaigns topic, or a clear error naming the known ones."""
    from forgood.cli.campaigns import read_campaigns
    from forgood.cli.cli import _fail_kafka, _kafka_errors

    try:
        campaigns = read_campaigns(settings)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    if campaign_id not in campaigns:
        known = ", ".join(sorted(campaigns)) or "none: apply some with `forgood campaigns apply FILE`"
        _fail(LookupError(f"unknown campaign {campaign_id!r} (known campaigns: {known})"))
    return campaigns[campaign_id]


def statement_command(
    campaign: str = typer.Argument(..., help="Campaign id."),
    as_of: str = typer.Option(..., "--as-of", help=AS_OF_HELP),
    format: Format = typer.Option(Format.table, "--format", help="table, json, csv or pdf (pdf needs --out)."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of standard output."),
    videos: bool = typer.Option(False, "--videos", help="Add one line per counted video."),
) -> None:
    """The statement of CAMPAIGN for the videos created before --as-of, by the rules, as known
    now: videos, participants, removed, donation, settled, due, the daily lines, the
    settlements, the terms in force and their changes."""
    from clickhouse_driver.errors import Error as ClickHouseError
    from rich.console import Console

    from forgood.audit.history import read_changes
    from forgood.audit.render import render_csv, render_json, render_pdf, render_table
    from forgood.audit.statement import build_statement
    from forgood.audit.store import read_settlements, read_video_rows
    from forgood.cli.cli import _settings, console
    from forgood.domain.errors import ForgoodError
    from sinks.clickhouse import connect

    try:
        moment = parse_as_of(as_of)
    except ValueError as exc:
        _fail(exc)
    if format is Format.pdf and out is None:
        _fail(ValueError("--format pdf writes a file: add --out FILE.pdf"))
    settings = _settings()
    found = _campaign(settings, campaign)
    db = settings.clickhouse.database
    client = connect(settings)
    try:
        rows = read_video_rows(client, db, campaign)
        settlements = read_settlements(client, db, campaign)
        changes = read_changes(client, db, campaign)
    except (ClickHouseError, OSError, EOFError) as exc:
        _clickhouse_failed(settings, exc)
    finally:
        client.disconnect()
    try:
        statement = build_statement(found, moment, rows, settlements, changes, int(time.time()))
    except ForgoodError as exc:
        _fail(exc)

    if format is Format.table:
        if out is None:
            console.print(render_table(statement, videos))
            return
        try:
            with out.open("w", encoding="utf-8") as file:
                Console(file=file, width=160, color_system=None).print(render_table(statement, videos))
        except OSError as exc:
            _fail(exc)
    else:
        data = {Format.json: lambda: render_json(statement, videos),
                Format.csv: lambda: render_csv(statement, videos).encode(),
                Format.pdf: lambda: render_pdf(statement, videos)}[format]()
        if out is None:
            typer.echo(data.decode(), nl=False)
            return
        try:
            out.write_bytes(data)
        except OSError as exc:
            _fail(exc)
    typer.echo(f"statement of {campaign} as of {as_of} written to {out}", err=True)


def settle_command(
    campaign: str = typer.Argument(..., help="Campaign id."),
    as_of: str = typer.Option(..., "--as-of", help=AS_OF_HELP),
    by: str | None = typer.Option(None, "--by", help="Who settles (default: the OS user)."),
) -> None:
    """Record that CAMPAIGN's statement as of --as-of was paid: one immutable settlement row
    (paid = that statement's due). Refused, writing nothing, when the campaign was already
    settled as of that time or a later one, or --as-of is in the future."""
    from clickhouse_driver.errors import Error as ClickHouseError

    from forgood.audit.settlement import settle
    from forgood.audit.statement import iso
    from forgood.cli.cli import _settings, console
    from forgood.domain.errors import ForgoodError
    from forgood.domain.money import format_minor
    from sinks.clickhouse import connect

    try:
        moment = parse_as_of(as_of)
    except ValueError as exc:
        _fail(exc)
    if by is None:
        try:
            by = getpass.getuser()
        except (OSError, KeyError):
            _fail(ValueError("cannot tell who you are from the OS: add --by NAME"))
    settings = _settings()
    found = _campaign(settings, campaign)
    client = connect(settings)
    try:
        done = settle(client, settings.clickhouse.database, found, moment, by, int(time.time()))
    except ForgoodError as exc:
        _fail(exc)
    except (ClickHouseError, OSError, EOFError) as exc:
        _clickhouse_failed(settings, exc)
    finally:
        client.disconnect()
    row, statement = done.settlement, done.statement
    paid = f"{format_minor(row.paid_minor, row.currency)} ({row.paid_minor} minor units of {row.currency})"
    console.print(
        f"settled {campaign} as of {iso(row.as_of)}: paid {paid}"
        + (" — a credit to the payer" if row.paid_minor < 0 else "")
        + f"\n  {row.videos:,} counted videos, donation {format_minor(row.donation_minor, row.currency)} "
        f"({row.donation_minor} minor units), settled before {format_minor(statement.settled_minor, row.currency)} "
        f"({statement.settled_minor} minor units)"
        f"\n  counted video ids sha256 {row.video_ids_sha256}; settled at {iso(row.settled_at)} by {row.settled_by}",
        soft_wrap=True, highlight=False, markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``forgood`` command line."""
    app.command("statement")(statement_command)
    app.command("settle")(settle_command)
