"""``python -m forgood.serve`` = ``forgood serve``."""

import typer

from forgood.serve.cli import serve_command

typer.run(serve_command)
