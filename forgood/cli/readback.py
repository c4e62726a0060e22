"""Reading results back from ClickHouse for people (the demo's table, ``forgood totals``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clickhouse_driver import Client
from rich.table import Table

from forgood.domain.campaigns import Campaign
from forgood.domain.money import format_minor
from forgood.domain.rules import percent_of
from forgood.domain.settings import Settings


@dataclass(frozen=True)
class TotalsRow:
    campaign_id: str
    videos: int
    creators: int
    donation_minor: int
    currency: str
    removed: int = 0
    views: int = 0
    likes: int = 0
    shares: int = 0
    comments: int = 0


def fetch_totals(client: Client, settings: Settings) -> dict[str, TotalsRow]:
    """Current totals per campaign from ``campaign_totals``; blocks on one query."""
    db = settings.clickhouse.database
    rows = client.execute(
        f"SELECT campaign_id, videos, creators, donation_minor, currency, removed, views, likes, shares, comments "
        f"FROM {db}.campaign_totals"
    )
    return {r[0]: TotalsRow(*r) for r in rows}


def compact(count: int) -> str:
    """A count short enough for a table cell: grouped digits below 10,000, then 33.0K, 6.8M,
    81.0M, 1.2B (one decimal; the exact figure is in the JSON API and ClickHouse)."""
    if count < 10_000:
        return f"{count:,}"
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size * 0.99995:  # 999,999 reads 1.0M, not 1000.0K
            return f"{count / size:,.1f}{suffix}"
    raise AssertionError("unreachable")


def totals_table(campaigns: dict[str, Campaign], totals: dict[str, TotalsRow], title: str = "",
                 exact: bool = False, width: int | None = None) -> Table:
    """A rich table per campaign: videos, views, participants, raised, % of cap, % of goal,
    removed videos, likes, shares and comments. Engagement is compact (81.0M) unless ``exact``.
    On a terminal narrower than 140 columns (``width``; None: wide) the nonprofit, likes,
    shares and comments columns are left out so the figures stay readable."""
    narrow = width is not None and width < 140
    table = Table(title=title or "forgood — live campaign counters (from ClickHouse)")
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("campaign", "left"),
        ("nonprofit", "left"),
        ("videos", "right"),
        ("views", "right"),
        ("participants", "right"),
        ("raised", "right"),
        ("% of cap", "right"),
        ("% of goal", "right"),
        ("removed", "right"),
        ("likes", "right"),
        ("shares", "right"),
        ("comments", "right"),
    )
    big = (lambda n: f"{n:,}") if exact else compact
    dropped = {"nonprofit", "likes", "shares", "comments"} if narrow else set()
    keep = [i for i, (column, _) in enumerate(columns) if column not in dropped]
    for column, justify in columns:
        if column not in dropped:
            table.add_column(column, justify=justify)
    for cid in sorted(set(campaigns) | set(totals)):
        campaign = campaigns.get(cid)
        row = totals.get(cid) or TotalsRow(cid, 0, 0, 0, campaign.currency if campaign else "USD")
        cap = percent_of(row.donation_minor, campaign.cap_minor) if campaign else None
        goal = percent_of(row.videos, campaign.goal_videos) if campaign else None
        cells = (
            campaign.name if campaign else cid,
            campaign.nonprofit if campaign else "",
            f"{row.videos:,}",
            big(row.views),
            f"{row.creators:,}",
            format_minor(row.donation_minor, row.currency),
            "—" if cap is None else f"{cap:.1f}%",
            "—" if goal is None else f"{goal:.1f}%",
            f"{row.removed:,}",
            big(row.likes),
            big(row.shares),
            big(row.comments),
        )
        table.add_row(*(cells[i] for i in keep))
    return table
