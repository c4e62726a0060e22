"""The ``forgood serve`` command (a Typer-compatible function; ``forgood/cli/cli.py`` registers it)."""

from __future__ import annotations

import logging

import typer


def serve_command(
    host: str | None = typer.Option(None, help="Address to bind (default: FORGOOD_SERVE_HOST, else 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default: FORGOOD_SERVE_PORT, else 8080; 0 = any free port)."),
) -> None:
    """Serve the live campaign counters: JSON API, push updates (SSE) and counter pages
    (http://127.0.0.1:8080 by default) until Ctrl-C / SIGTERM."""
    from forgood.domain.errors import ForgoodError
    from forgood.domain.settings import get_settings
    from forgood.serve.server import run_serve
    from forgood.serve.settings import get_serve_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("clickhouse_driver").setLevel(logging.ERROR)  # serve logs ClickHouse trouble itself
    serve_settings = get_serve_settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        serve_settings = serve_settings.model_validate({**serve_settings.model_dump(), **overrides})
    try:
        run_serve(settings, serve_settings)
    except ForgoodError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
