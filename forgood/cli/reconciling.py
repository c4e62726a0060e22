"""``forgood reconcile`` and ``forgood video``: recounting every figure, and "did my video count?"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from forgood.audit.reconcile_diff import CampaignReconciliation, ReconcileResult
    from forgood.domain.settings import Settings

#: Differing minutes and videos listed per campaign (``--json`` lists them all, up to 1000 each).
SHOWN = 10


def quiet_kafka(settings: Settings) -> None:
    """No Kafka client log lines below CRITICAL (unless FORGOOD_LOG_LEVEL is DEBUG): these
    commands print their own error naming a failed broker, and kafka-python's warnings (a
    slow poll, a reconnect) would only clutter the answer."""
    import logging

    if settings.log_level.upper() != "DEBUG":
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``forgood`` command line."""
    app.command("reconcile")(reconcile_command)
    app.command("video")(video_command)


def reconcile_command(
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign (default: every campaign)."),
    from_source: bool = typer.Option(
        False, "--from-source",
        help="Also recount from the source topics (video-created, video-status, video-stats), read end to end "
        "with the worker's rules, and compare every video's row.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON instead of tables."),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0,
                                  help="Seconds allowed to read the source topics to their end (--from-source)."),
) -> None:
    """Recount every campaign from its per-video rows in ClickHouse (campaign_videos) — and with
    --from-source from the source topics too — and compare with campaign_totals and
    campaign_minutes. Prints one row per campaign, then the first differing videos or minutes.
    Exit code 0 when everything agrees, 1 when anything differs, 2 on an error."""
    import orjson

    from forgood.audit.reconcile import reconcile
    from forgood.cli.cli import _fail, _settings, console
    from forgood.domain.errors import ForgoodError

    settings = _settings()
    quiet_kafka(settings)
    try:
        result = reconcile(settings, campaign, from_source, source_timeout_s=timeout)
    except ForgoodError as exc:
        _fail(exc)
    if as_json:
        typer.echo(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_result(console, result)
    raise typer.Exit(0 if result.ok else 1)


def print_result(console: Console, result: ReconcileResult) -> None:
    """The per-campaign table, what was read of the source, then each differing campaign's
    first differences (every total, at most :data:`SHOWN` minutes and videos)."""
    console.print(result_table(result))
    if result.source_summary is not None:
        summary = result.source_summary
        bad = sum(summary["bad"].values())
        read = summary["read"]
        console.print(
            f"source: read {read['created']:,} created, {read['status']:,} status, {read['stats']:,} stats event(s); "
            f"{bad:,} bad (skipped, as the worker dead-letters them"
            + (": " + ", ".join(f"{k} {n}" for k, n in summary["bad"].items()) if bad else "")
            + f"); {summary['ignored']:,} status/stats event(s) of videos never created ignored",
            soft_wrap=True, highlight=False, markup=False)
    for checked in result.campaigns:
        if not checked.ok:
            print_differences(console, checked)
    if result.ok:
        what = "campaign_videos and the source topics" if result.from_source else "campaign_videos"
        console.print(f"all {len(result.campaigns)} campaign(s) agree with {what}", highlight=False)


def print_differences(console: Console, checked: CampaignReconciliation) -> None:
    """One campaign's differences, one line each, never wrapped inside a line."""
    console.print(f"\n{checked.campaign_id}: {len(checked.differences)} difference(s)", soft_wrap=True,
                  highlight=False, markup=False, style="bold")
    for kind, limit in (("campaign", None), ("total", None), ("minute", SHOWN), ("video", SHOWN)):
        found = checked.count(kind)
        shown = checked.first(kind, found if limit is None else limit)
        for difference in shown:
            console.print("  " + difference.text(), soft_wrap=True, highlight=False, markup=False)
        if found > len(shown):
            console.print(f"  … and {found - len(shown):,} more {kind} difference(s) (--json lists them)",
                          soft_wrap=True, highlight=False, markup=False)


def result_table(result: ReconcileResult) -> Table:
    """One row per campaign: videos, donation and removed as campaign_totals / the recount of
    campaign_videos / the source's recount (with --from-source), and the verdict."""
    from rich import box
    from rich.table import Table

    from forgood.audit.recount import Figures
    from forgood.domain.money import format_minor

    sides = "campaign_totals / recount of campaign_videos" + (" / recount of the source topics"
                                                             if result.from_source else "")
    table = Table(title="forgood reconcile", title_justify="left", caption=f"each cell: {sides}",
                  caption_justify="left", box=box.SIMPLE_HEAD)
    # on a narrow terminal the donations wrap at their " / ", the ids and counts stay whole
    longest = max((len(c.campaign_id) for c in result.campaigns), default=8)
    table.add_column("campaign", overflow="fold", min_width=min(longest, 24))
    table.add_column("videos", justify="right", no_wrap=True)
    table.add_column("donation", justify="right")
    table.add_column("removed", justify="right", no_wrap=True)
    verdicts = ["OK" if c.ok else f"DIFFERS ({len(c.differences):,})" for c in result.campaigns]
    table.add_column("verdict", no_wrap=True, min_width=max(map(len, verdicts), default=7))

    def money(minor: int | None, currency: str | None) -> str:
        if minor is None:
            return "?"
        return format_minor(minor, currency) if currency else f"{minor:,} minor"

    for checked, verdict in zip(result.campaigns, verdicts, strict=True):
        figures: list[Figures] = [checked.totals, checked.rows]
        if checked.source is not None:
            figures.append(checked.source)
        table.add_row(
            checked.campaign_id,
            " / ".join(f"{f.videos:,}" for f in figures),
            " / ".join(money(f.donation_minor, checked.currency) for f in figures),
            " / ".join(f"{f.removed:,}" for f in figures),
            verdict,
        )
    return table


def video_command(
    campaign: str = typer.Argument(..., help="Campaign id."),
    video_id: str = typer.Argument(..., help="Video id, as in its video-created event."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON (what the API answers)."),
) -> None:
    """Did this video count? Its status for the campaign — counted, removed, outside_window or
    unknown — with its event-time minute, when the status was set and why, from ClickHouse's
    audit trail (the same answer as GET /api/campaigns/CAMPAIGN/videos/VIDEO_ID; never the
    creator id). Exit code 0 with an answer (unknown included), 2 on an error (an unknown
    campaign, Kafka or ClickHouse unreachable)."""
    import orjson
    from clickhouse_driver.errors import Error as ClickHouseError

    from forgood.audit.lookup import lookup_video
    from forgood.cli.campaigns import read_campaigns
    from forgood.cli.cli import _fail, _fail_kafka, _kafka_errors, _settings, console
    from sinks.clickhouse import connect

    settings = _settings()
    quiet_kafka(settings)
    try:
        campaigns = read_campaigns(settings)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    if campaign not in campaigns:
        _fail(ValueError(f"no campaign {campaign!r} on {settings.campaigns_topic} "
                         f"(known: {', '.join(sorted(campaigns)) or 'none'})"))
    target = settings.clickhouse
    client = connect(settings)
    try:
        answer = lookup_video(client, target.database, campaign, video_id)
    except (ClickHouseError, OSError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _fail(ConnectionError(f"ClickHouse at {target.host}:{target.port} (database {target.database}) failed: "
                              f"{first} (is it up? `forgood stack status`)"))
    finally:
        client.disconnect()
    if as_json:
        typer.echo(orjson.dumps(answer.to_json()).decode())
        return
    shown = answer.to_json()
    width = max(len(name) for name in shown)
    console.print(f"{answer.in_words()}", highlight=False, markup=False, style="bold")
    for name, value in shown.items():
        console.print(f"{name:<{width}}  {'—' if value is None else value}", soft_wrap=True, highlight=False,
                      markup=False)
