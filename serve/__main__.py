"""``python -m serve`` = ``forgood serve``."""

import typer

from serve.cli import serve_command

typer.run(serve_command)
