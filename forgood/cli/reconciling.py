"""``forgood reconcile`` and ``forgood video``: recounting every figure, and "did my video count?"."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``forgood`` command line."""
