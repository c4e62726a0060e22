"""The ``forgood`` command line (Typer). Every command reads settings once from the environment."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from forgood.domain.errors import ForgoodError
from forgood.domain.settings import Settings, get_settings
from forgood.domain.signals import stop_on_signals

if TYPE_CHECKING:
    from forgood.stack.service import ServiceStatus

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
stack_app = typer.Typer(
    no_args_is_help=True,
    help="Start, stop, inspect and reset the local stack (Kafka, ClickHouse, Prometheus, Alertmanager).",
)
campaigns_app = typer.Typer(no_args_is_help=True, help="Validate and publish campaigns.")
dlq_app = typer.Typer(no_args_is_help=True, help="Inspect and replay dead-lettered events.")
app.add_typer(stack_app, name="stack")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(dlq_app, name="dlq")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return settings


def _fail(exc: BaseException) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


# --- stack -------------------------------------------------------------------------------

def _print_status(statuses: list[ServiceStatus]) -> None:
    from rich.table import Table

    table = Table("service", "version", "address", "pid", "running", "answering", "detail", "log")
    for s in statuses:
        table.add_row(s.name, s.version or "—", s.address, str(s.pid or "—"), "yes" if s.running else "no",
                      "yes" if s.answering else "no", s.detail, str(s.log or "—"))
    console.print(table)


@stack_app.command("up")
def stack_up() -> None:
    """Start the local stack on loopback (idempotent); wait until every service answers."""
    from forgood import stack

    try:
        _print_status(stack.up(_settings()))
    except ForgoodError as exc:
        _fail(exc)


@stack_app.command("down")
def stack_down() -> None:
    """Stop the local stack (idempotent). Every service's data stays on disk."""
    from forgood import stack

    try:
        _print_status(stack.down(_settings()))
    except ForgoodError as exc:
        _fail(exc)


@stack_app.command("reset")
def stack_reset(
    yes: bool = typer.Option(False, "--yes", help="Do not ask; needed when not on a terminal."),
) -> None:
    """Stop the local stack and DELETE its data (Kafka topics and offsets, ClickHouse tables,
    Prometheus samples). Logs stay. Run `forgood stack up` afterwards for a fresh stack."""
    from forgood import stack

    settings = _settings()
    if not yes:
        if not sys.stdin.isatty():
            _fail(ValueError("`forgood stack reset` deletes all local data: pass --yes to confirm"))
        typer.confirm(f"Delete all data under {settings.state_dir}/stack?", abort=True)
    try:
        _print_status(stack.reset(settings))
    except ForgoodError as exc:
        _fail(exc)


@stack_app.command("status")
def stack_status() -> None:
    """Show whether each local service runs and answers."""
    from forgood import stack

    statuses = stack.status(_settings())
    _print_status(statuses)
    if not all(s.answering for s in statuses):
        raise typer.Exit(1)


# --- campaigns ---------------------------------------------------------------------------

@campaigns_app.command("apply")
def campaigns_apply(file: Path = typer.Argument(..., exists=False, help="Campaigns YAML file.")) -> None:
    """Validate FILE and publish its campaigns; publish nothing if any campaign is invalid."""
    from forgood.domain.campaigns import load_campaign_file
    from forgood.domain.topics import ensure_topics
    from producers.campaigns import publish_campaigns

    settings = _settings()
    try:
        campaigns = load_campaign_file(file)
        ensure_topics(settings)
        publish_campaigns(settings, campaigns)
    except ForgoodError as exc:
        _fail(exc)
    console.print(f"published {len(campaigns)} campaign(s) to {settings.campaigns_topic}: "
                  + ", ".join(c.id for c in campaigns))


@campaigns_app.command("validate")
def campaigns_validate(file: Path) -> None:
    """Validate FILE only; print every problem found."""
    from forgood.domain.campaigns import load_campaign_file

    try:
        campaigns = load_campaign_file(file)
    except ForgoodError as exc:
        _fail(exc)
    console.print(f"{file}: {len(campaigns)} valid campaign(s)")


@campaigns_app.command("list")
def campaigns_list() -> None:
    """List the campaigns currently published on the campaigns topic."""
    from rich.table import Table

    from forgood.cli.campaigns import read_campaigns

    settings = _settings()
    table = Table("id", "name", "hashtags", "per video", "cap", "window")
    for c in read_campaigns(settings).values():
        table.add_row(c.id, c.name, " ".join("#" + t for t in c.hashtags), f"{c.donation_per_video} {c.currency}",
                      "—" if c.donation_cap is None else f"{c.donation_cap}",
                      f"{c.starts_at:%Y-%m-%d %H:%M} → {c.ends_at:%Y-%m-%d %H:%M}")
    console.print(table)


# --- dead letters ------------------------------------------------------------------------

@dlq_app.command("show")
def dlq_show(limit: int = typer.Option(50, help="Show at most this many (newest); 0 = all.")) -> None:
    """List dead letters: where each came from, why, and the start of its bytes."""
    from rich.table import Table

    from forgood.cli.dead_letters import show

    settings = _settings()
    letters = show(settings, limit)
    table = Table("source", "reason", "message", "value", title=f"{settings.dlq_topic}: {len(letters)} shown")
    for letter in letters:
        table.add_row(letter.source, letter.reason, letter.message, letter.preview)
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(reason: str | None = typer.Option(None, help="Only dead letters with this reason.")) -> None:
    """Re-send dead letters not replayed before to the source topic (after a fix)."""
    from forgood.cli.dead_letters import replay

    settings = _settings()
    try:
        report = replay(settings, reason)
    except ForgoodError as exc:
        _fail(exc)
    console.print(f"re-sent {report.sent:,} dead letter(s) to {settings.video_topic}")


# --- produce -----------------------------------------------------------------------------

@app.command()
def produce(
    from_file: Path | None = typer.Option(None, "--from", help="Replay this JSON-lines file."),
    simulate: bool = typer.Option(False, "--simulate", help="Generate traffic for the applied campaigns."),
    rate: float = typer.Option(200.0, help="Events per second (with --simulate)."),
    duration: float = typer.Option(60.0, help="Seconds to run (with --simulate; 0 = until Ctrl-C)."),
    seed: int | None = typer.Option(None, help="Random seed (with --simulate)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress line."),
) -> None:
    """Send video-created events: replay a file or simulate traffic."""
    from forgood.domain.topics import ensure_topics

    settings = _settings()
    if bool(from_file) == simulate:
        _fail(ValueError("give exactly one of --from FILE or --simulate"))
    try:
        ensure_topics(settings)
        if from_file:
            from producers.replay import replay_file

            if not from_file.is_file():
                _fail(FileNotFoundError(f"no such file: {from_file}"))
            report = replay_file(settings, from_file, show_progress=not quiet)
        else:
            from forgood.cli.campaigns import read_campaigns
            from producers.simulate import simulate as run_simulation

            campaigns = list(read_campaigns(settings).values())
            if not campaigns:
                _fail(ValueError("no campaigns applied yet: run `forgood campaigns apply FILE` first"))
            report = run_simulation(settings, campaigns, rate=rate, duration=duration, seed=seed,
                                    show_progress=not quiet)
    except ForgoodError as exc:
        _fail(exc)
    console.print(f"sent {report.sent:,} events to {settings.video_topic} "
                  f"({report.duplicates:,} re-deliveries), all acknowledged")


# --- run ---------------------------------------------------------------------------------

@app.command()
def worker() -> None:
    """Run the Faust stream worker in the foreground (until SIGINT/SIGTERM)."""
    from streams.worker import run_worker

    run_worker(_settings())


@app.command()
def sink() -> None:
    """Run the ClickHouse sink in the foreground (until SIGINT/SIGTERM)."""
    from sinks.runner import run_sink

    run_sink(_settings())


@app.command()
def run() -> None:
    """Run the stream worker and the sink until Ctrl-C / SIGTERM, then stop both cleanly."""
    from forgood.cli.processes import first_exited, spawn, stop_all

    _settings()
    children = [spawn("worker", ["worker"]), spawn("sink", ["sink"])]
    stop = stop_on_signals()
    while not stop.is_set():
        dead = first_exited(children)
        if dead:
            err.print(f"[bold red]{dead.name} exited with code {dead.process.returncode}; stopping[/]")
            stop_all(children)
            raise typer.Exit(1)
        time.sleep(0.2)
    stop_all(children)
    console.print("stopped cleanly")


@app.command()
def totals() -> None:
    """Print the current campaign totals from ClickHouse."""
    from forgood.cli.campaigns import read_campaigns
    from forgood.cli.readback import fetch_totals, totals_table
    from sinks.clickhouse import connect

    settings = _settings()
    console.print(totals_table(read_campaigns(settings), fetch_totals(connect(settings), settings)))


@app.command()
def bench(
    events: int = typer.Option(200_000, help="Events per throughput phase."),
    probes: int = typer.Option(50, help="Single-event probes for freshness."),
    partitions: int = typer.Option(8, help="Partitions of the benchmark topics."),
    scale_out: bool = typer.Option(True, help="Also run with two workers."),
    json_out: Path = typer.Option(Path("bench.json"), "--json", help="Write the figures here."),
    campaigns_file: Path | None = typer.Option(None, "--campaigns", help="Campaign mix."),
) -> None:
    """Measure raw ceiling, end-to-end throughput, freshness, state cost and scale-out."""
    from forgood.cli.bench import print_result, run_bench

    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)
    result = run_bench(settings, events=events, probes=probes, partitions=partitions, scale_out=scale_out,
                       campaigns_file=campaigns_file or settings.campaigns_file, json_path=json_out)
    print_result(result)
    console.print(f"figures written to {json_out}")


# --- serve -------------------------------------------------------------------------------
from forgood.serve.cli import serve_command  # noqa: E402  (imports only typer; the service loads when run)

app.command("serve")(serve_command)


@app.command()
def demo(
    rate: float = typer.Option(300.0, help="Simulated events per second."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0 = until Ctrl-C)."),
    campaigns_file: Path | None = typer.Option(None, "--campaigns", help="Campaigns file to apply."),
) -> None:
    """The main job: start the stack, apply campaigns, run the pipeline and the simulator,
    and show live campaign counters read back from ClickHouse."""
    from forgood.cli.demo import run_demo

    settings = _settings()
    try:
        sys.exit(run_demo(settings, rate=rate, duration=duration, campaigns_file=campaigns_file))
    except ForgoodError as exc:
        _fail(exc)
