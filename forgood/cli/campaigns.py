"""The ``forgood campaigns`` commands' reading and printing: the published campaigns (``list``,
``produce --simulate``, ``totals``), what an ``apply`` changed, and a campaign's ``history``.

Publishing campaigns and reading them back live in :mod:`producers.campaigns` (the producer
side must not import the command line); :func:`read_campaigns` is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from forgood.audit.history import CREATED, order_key
from forgood.domain.records import CampaignChange
from producers.campaigns import ApplyReport, read_campaigns

__all__ = ["apply_lines", "history_json", "history_table", "read_campaigns"]


def when_text(epoch_s: int) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return f"{datetime.fromtimestamp(epoch_s, tz=UTC):%Y-%m-%d %H:%M:%S}"


def _value(text: str) -> str:
    return text if text else "—"


def describe(change: CampaignChange) -> str:
    """One change as ``what old → new`` (``—`` for none); a new campaign's opening row as ``created``."""
    if change.what == CREATED:
        return CREATED
    return f"{change.what} {_value(change.old)} → {_value(change.new)}"


def apply_lines(report: ApplyReport) -> list[str]:
    """What ``forgood campaigns apply`` prints after the publish line: per campaign what
    changed (or ``unchanged``), then any rows an earlier apply had left unrecorded."""
    lines = []
    for campaign in dict.fromkeys(c.id for c in report.campaigns):
        changes = report.changes_of(campaign)
        if not changes:
            lines.append(f"{campaign}: unchanged")
        else:
            first = changes[0]
            lines.append(f"{campaign}: " + "; ".join(describe(c) for c in changes)
                         + f" (change {first.change_id} by {first.changed_by})")
    if report.repaired:
        lines.append(f"also recorded {len(report.repaired)} change(s) an earlier apply had published "
                     "without its history:")
        lines += [f"  {c.campaign_id}: {describe(c)} (change {c.change_id} by {c.changed_by}, "
                  f"{when_text(c.changed_at)} UTC)" for c in report.repaired]
    return lines


def history_table(campaign_id: str, changes: Sequence[CampaignChange]) -> Table:
    """A campaign's history as a rich table, oldest first: change id, when (UTC), who, what,
    old → new (``—`` for none)."""
    table = Table(title=Text(f"history of campaign {campaign_id}: {len(changes)} row(s)"))
    table.add_column("change", justify="right")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("who", overflow="fold")
    table.add_column("what", no_wrap=True)
    table.add_column("old → new", overflow="fold")
    for c in sorted(changes, key=order_key):
        change = "" if c.what == CREATED else f"{_value(c.old)} → {_value(c.new)}"
        # Text cells: a name or value is shown as written, never read as rich markup.
        table.add_row(*(Text(cell) for cell in (str(c.change_id), when_text(c.changed_at), c.changed_by, c.what,
                                                change)))
    return table


def history_json(changes: Sequence[CampaignChange]) -> list[dict]:
    """A campaign's history for ``--json``, oldest first: the rows' fields, ``changed_at`` as
    ISO 8601 UTC (``2026-12-03T19:02:23Z``)."""
    return [
        {"campaign_id": c.campaign_id, "change_id": c.change_id, "what": c.what, "old": c.old, "new": c.new,
         "changed_at": datetime.fromtimestamp(c.changed_at, tz=UTC).isoformat().replace("+00:00", "Z"),
         "changed_by": c.changed_by}
        for c in sorted(changes, key=order_key)
    ]
