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
    # kafka-python 3's selector warns whenever a callback takes over 0.1 s (a busy 2-core
    # machine): noise on a command's output, not a problem of the command.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
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
def campaigns_apply(
    file: Path = typer.Argument(..., exists=False, help="Campaigns YAML file."),
    by: str | None = typer.Option(None, "--by", help="Who applies, kept in the campaign history "
                                  "(default: the OS user)."),
) -> None:
    """Validate FILE and publish its campaigns; publish nothing if any campaign is invalid.

    Every change of a campaign's terms (price, cap, currency, window, hashtags; a new campaign's
    initial terms) is recorded with who and when: `forgood campaigns history ID` shows it."""
    from forgood.cli.campaigns import apply_lines
    from forgood.domain.campaigns import load_campaign_file
    from producers.campaigns import applier, publish_campaigns

    settings = _settings()
    try:
        campaigns = load_campaign_file(file)
        report = publish_campaigns(settings, campaigns, applier(by))
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    console.print(f"published {len(campaigns)} campaign(s) to {settings.campaigns_topic}: "
                  + ", ".join(c.id for c in campaigns), highlight=False)
    for line in apply_lines(report):
        console.print(escape(line), highlight=False, soft_wrap=True)


@campaigns_app.command("history")
def campaigns_history(
    campaign_id: str = typer.Argument(..., metavar="ID", help="The campaign's id."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON (a list, oldest first)."),
) -> None:
    """Show every recorded change of a campaign's terms, oldest first: when (UTC), who, what,
    old → new. Read from ClickHouse (`campaign_changes`, written by the sink)."""
    import json

    from clickhouse_driver.errors import Error as ClickHouseError

    from forgood.audit.history import read_changes
    from forgood.cli.campaigns import history_json, history_table
    from sinks.clickhouse import connect

    settings = _settings()
    try:
        target = settings.clickhouse
        client = connect(settings)
    except (ForgoodError, ValueError) as exc:
        _fail(exc)
    try:
        changes = read_changes(client, target.database, campaign_id)
    except (ClickHouseError, OSError) as exc:
        _fail(ConnectionError(f"ClickHouse at {target.host}:{target.port} failed: {exc} "
                              "(is it up? `forgood stack status`)"))
    finally:
        client.disconnect()
    if as_json:
        typer.echo(json.dumps(history_json(changes), indent=2))
    elif not changes:
        console.print(escape(f"campaign {campaign_id!r} has no recorded history (never applied, or the sink has "
                             "not written its changes yet: is `forgood sink` running?)"), highlight=False)
    else:
        console.print(history_table(campaign_id, changes))


@campaigns_app.command("validate")
def campaigns_validate(file: Path) -> None:
    """Validate FILE only; print every problem found."""
    from forgood.domain.campaigns import load_campaign_file

    try:
        campaigns = load_campaign_file(file)
    except ForgoodError as exc:
        _fail(exc)
    console.print(f"{file}: {len(campaigns)} valid campaign(s)")


def _kafka_errors() -> tuple[type[BaseException], ...]:
    """What the Kafka-reading commands turn into a clear error: forgood's own, and the Kafka
    client's (no broker answered, a request failed)."""
    from kafka.errors import KafkaError

    return ForgoodError, KafkaError


def _fail_kafka(settings: Settings, exc: BaseException) -> NoReturn:
    from kafka.errors import KafkaError

    if isinstance(exc, KafkaError):  # e.g. KafkaTimeoutError("Unable to bootstrap from [...]")
        _fail(ConnectionError(f"Kafka at {settings.kafka_bootstrap} failed: {exc} "
                              "(is the broker up? `forgood stack status`)"))
    _fail(exc)


@campaigns_app.command("list")
def campaigns_list() -> None:
    """List the campaigns currently published on the campaigns topic."""
    from rich.table import Table

    from forgood.cli.campaigns import read_campaigns

    settings = _settings()
    try:
        campaigns = read_campaigns(settings)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    table = Table("id", "name", "hashtags", "per video", "cap", "window")
    for c in campaigns.values():
        table.add_row(c.id, c.name, " ".join("#" + t for t in c.hashtags), f"{c.donation_per_video} {c.currency}",
                      "—" if c.donation_cap is None else f"{c.donation_cap}",
                      f"{c.starts_at:%Y-%m-%d %H:%M} → {c.ends_at:%Y-%m-%d %H:%M}")
    console.print(table)


# --- dead letters ------------------------------------------------------------------------

_DLQ_TOPIC_HELP = ("Only the dead letters of this source topic: a role (created, status, stats) "
                   "or the topic's name (e.g. video-status). Default: all three.")


@dlq_app.command("show")
def dlq_show(
    limit: int = typer.Option(50, help="Show at most this many (the newest); 0 = all."),
    topic: str | None = typer.Option(None, "--topic", help=_DLQ_TOPIC_HELP),
) -> None:
    """List dead letters of the three source topics, oldest first: the source topic each came
    from (and its partition and offset there), why, and the start of its bytes."""
    from collections import Counter

    from rich.table import Table

    from forgood.cli.dead_letters import dead_letter_topics, show

    settings = _settings()
    try:
        topics = dead_letter_topics(settings, topic)
        letters = show(settings, limit, topic)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    counts = Counter(letter.topic for letter in letters)
    title = f"{len(letters)} shown: " + ", ".join(f"{name} {counts[name]}" for name in topics)
    # Narrow terminals fold the cells instead of cutting them: every reason and topic stays readable.
    table = Table(title=title)
    table.add_column("source topic", overflow="fold")
    table.add_column("at", overflow="fold")
    table.add_column("reason", no_wrap=True, min_width=max((len(d.reason) for d in letters), default=6))
    table.add_column("message", overflow="fold")
    table.add_column("failed at", overflow="fold")
    table.add_column("value", overflow="fold")
    for letter in letters:
        table.add_row(letter.source_topic, letter.position, letter.reason,
                      letter.message, letter.failed_at, letter.preview)
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    reason: str | None = typer.Option(None, help="Only dead letters with this reason."),
    topic: str | None = typer.Option(None, "--topic", help=_DLQ_TOPIC_HELP),
) -> None:
    """Re-send dead letters not replayed before, each to its own source topic (after a fix).

    With --reason, letters with another reason are skipped and not replayed later either;
    with --topic, the other dead-letter topics are not read and keep their place."""
    from forgood.cli.dead_letters import replay

    settings = _settings()
    try:
        report = replay(settings, reason, topic)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    console.print(f"re-sent {report.sent:,} dead letter(s)" + (f": {report.per_topic()}" if report.sent else ""))


# --- produce -----------------------------------------------------------------------------

@app.command()
def produce(
    from_file: Path | None = typer.Option(None, "--from", help="Replay this JSON-lines file, byte for byte."),
    topic: str = typer.Option(
        "created", "--topic",
        help="With --from: the source topic to send to, by role (created, status, stats) or by name "
        "(the configured FORGOOD_VIDEO_TOPIC, FORGOOD_STATUS_TOPIC or FORGOOD_STATS_TOPIC, "
        "e.g. video-status).",
    ),
    simulate: bool = typer.Option(False, "--simulate", help="Generate traffic for the applied campaigns."),
    rate: float = typer.Option(200.0, help="New videos (video-created events) per second (with --simulate)."),
    duration: float = typer.Option(60.0, help="Seconds to run (with --simulate; 0 = until Ctrl-C)."),
    seed: int | None = typer.Option(None, help="Random seed (with --simulate)."),
    removals: bool = typer.Option(
        True, "--removals/--no-removals",
        help="With --simulate: also remove a few per cent of videos (some removals before the video's "
        "created event, some restored later) on the status topic.",
    ),
    stats: bool = typer.Option(
        True, "--stats/--no-stats",
        help="With --simulate: also send growing engagement snapshots of some videos to the stats topic.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress line."),
) -> None:
    """Send events to the source topics: replay a file (to video-created unless --topic says
    otherwise) or simulate traffic (video-created, plus video-status and video-stats)."""
    from dataclasses import replace

    from forgood.domain.topics import ensure_topics
    from producers.replay import source_topic

    settings = _settings()
    if bool(from_file) == simulate:
        _fail(ValueError("give exactly one of --from FILE or --simulate"))
    try:
        target = source_topic(settings, topic)
        if simulate and target != settings.video_topic:
            _fail(ValueError("--topic goes with --from FILE; --simulate sends to all three source topics"))
        ensure_topics(settings)
        if from_file:
            from producers.replay import replay_file

            if not from_file.is_file():
                _fail(FileNotFoundError(f"no such file: {from_file}"))
            report = replay_file(settings, from_file, topic=target, show_progress=not quiet)
        else:
            from forgood.cli.campaigns import read_campaigns
            from producers.simulate import TrafficShape
            from producers.simulate import simulate as run_simulation

            campaigns = list(read_campaigns(settings).values())
            if not campaigns:
                _fail(ValueError("no campaigns applied yet: run `forgood campaigns apply FILE` first"))
            shape = TrafficShape()
            if not removals:
                shape = replace(shape, removed_share=0.0)
            if not stats:
                shape = replace(shape, stats_share=0.0)
            report = run_simulation(settings, campaigns, rate=rate, duration=duration, seed=seed,
                                    show_progress=not quiet, shape=shape)
    except _kafka_errors() as exc:
        _fail_kafka(settings, exc)
    console.print(f"sent {report.sent:,} events ({report.per_topic()}; "
                  f"{report.duplicates:,} re-deliveries), all acknowledged")


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
def totals(
    exact: bool = typer.Option(False, help="Views, likes, shares and comments in full (81,000,000), not 81.0M."),
) -> None:
    """Print the current campaign totals from ClickHouse."""
    from forgood.cli.campaigns import read_campaigns
    from forgood.cli.readback import fetch_totals, totals_table
    from sinks.clickhouse import connect

    settings = _settings()
    console.print(totals_table(read_campaigns(settings), fetch_totals(connect(settings), settings),
                               exact=exact, width=console.width))


@app.command()
def bench(
    events: int = typer.Option(200_000, help="Events per throughput phase."),
    probes: int = typer.Option(50, help="Single-event probes for freshness."),
    partitions: int = typer.Option(8, help="Partitions of the benchmark topics."),
    scale_out: bool = typer.Option(True, help="Also run with two workers."),
    json_out: Path = typer.Option(Path("bench.json"), "--json", help="Write the figures here."),
    campaigns_file: Path | None = typer.Option(None, "--campaigns", help="Campaign mix."),
    scale: int = typer.Option(0, help="Instead: the scale phase, one campaign with this many videos "
                                      "(15000000 for #MusicShapedMe; takes most of an hour and several GB)."),
    checkpoint: int = typer.Option(1_000_000, help="With --scale: the first measuring point, in videos."),
) -> None:
    """Measure raw ceiling, end-to-end throughput, freshness, state cost and scale-out; or, with
    --scale N, one campaign of N videos: memory and disk per video, catch-up rate against a plain
    kafka-python consumer, and recovery after a SIGKILL of its owner."""
    from forgood.cli.bench import print_result, run_bench

    settings = _settings()
    logging.getLogger().setLevel(logging.WARNING)
    if scale:
        from forgood.cli.bench_scale import print_scale, run_scale

        figures = run_scale(settings, videos=scale, checkpoint=checkpoint, partitions=partitions, json_path=json_out)
        print_scale(figures)
        console.print(f"figures written to {json_out}")
        return
    result = run_bench(settings, events=events, probes=probes, partitions=partitions, scale_out=scale_out,
                       campaigns_file=campaigns_file or settings.campaigns_file, json_path=json_out)
    print_result(result)
    console.print(f"figures written to {json_out}")


# --- serve -------------------------------------------------------------------------------
from forgood.serve.cli import serve_command  # noqa: E402  (imports only typer; the service loads when run)

app.command("serve")(serve_command)

# --- audit: statement, settle, reconcile, video ------------------------------------------
from forgood.cli import reconciling, statements  # noqa: E402

statements.register(app)
reconciling.register(app)


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
