"""``forgood demo``: the whole pipeline on the local stack with a live counter table.

Starts the stack (idempotent), creates topics, applies the campaigns file, starts the stream
worker, the sink and the traffic simulator as child processes (their logs go to
``<state_dir>/logs``), and redraws a table of counters read from ClickHouse every second
until Ctrl-C or ``duration``. Then stops the children cleanly; the stack stays up
(``forgood stack down`` stops it).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from forgood import stack
from forgood.cli.processes import first_exited, spawn, stop_all
from forgood.cli.readback import fetch_totals, totals_table
from forgood.domain.campaigns import load_campaign_file
from forgood.domain.settings import Settings
from forgood.domain.signals import stop_on_signals
from forgood.domain.topics import ensure_topics
from forgood.serve.settings import get_serve_settings
from producers.campaigns import publish_campaigns
from sinks.clickhouse import connect


def run_demo(settings: Settings, *, rate: float, duration: float, campaigns_file: Path | None) -> int:
    """Run the demo; blocks until Ctrl-C/SIGTERM or ``duration`` s. Returns an exit code."""
    console = Console()
    console.print("[bold]forgood demo[/] — starting the local stack …")
    address = {service.name: service.address for service in stack.up(settings)}
    console.print(f"Prometheus: [bold]http://{address['prometheus']}/[/] (alerts: http://{address['prometheus']}/alerts)"
                  f" — Alertmanager: [bold]http://{address['alertmanager']}/[/]")
    ensure_topics(settings)
    campaigns = load_campaign_file(campaigns_file or settings.campaigns_file)
    publish_campaigns(settings, campaigns)
    console.print(f"applied {len(campaigns)} campaigns; starting worker, sink and simulator …")
    logs = settings.state_dir / "logs"
    children = [
        spawn("worker", ["worker"], logs / "worker.log"),
        spawn("sink", ["sink"], logs / "sink.log"),
        spawn("simulator", ["produce", "--simulate", "--rate", str(rate), "--duration", "0", "--quiet"],
              logs / "simulator.log"),
    ]
    page = get_serve_settings().url
    server = spawn("serve", ["serve"], logs / "serve.log")
    console.print(f"live counter pages: [bold]{page}/[/] (one campaign: {page}/c/{campaigns[0].id}; "
                  f"widget: {page}/embed/{campaigns[0].id})")
    stop = stop_on_signals()
    by_id = {c.id: c for c in campaigns}
    client = connect(settings)
    started = time.monotonic()
    code = 0
    warned = False
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while not stop.is_set() and (duration <= 0 or time.monotonic() - started < duration):
                dead = first_exited(children)
                if dead:
                    console.print(f"[bold red]{dead.name} exited ({dead.process.returncode}); "
                                  f"see {logs}/{dead.name}.log")
                    code = 1
                    break
                try:
                    table = totals_table(by_id, fetch_totals(client, settings), width=console.width)
                    if not server.alive and not warned:  # the pages are a bonus: never stop the demo for them
                        console.print(f"[yellow]serve exited ({server.process.returncode}); see {logs}/serve.log")
                        warned = True
                    note = Text(f"{time.monotonic() - started:,.0f}s — pages at {page}/ — logs in {logs} — "
                                "Ctrl-C to stop", style="dim")
                    live.update(Group(table, note))
                except Exception as exc:  # ClickHouse still starting or tables not yet created
                    live.update(Text(f"waiting for ClickHouse tables … ({exc.__class__.__name__})"))
                time.sleep(1.0)
    finally:
        console.print("\nstopping worker, sink and simulator …")
        stop_all([*children, server])
    return code
