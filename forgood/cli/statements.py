"""``forgood statement`` and ``forgood settle``: settlement statements of a campaign."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``forgood`` command line."""
