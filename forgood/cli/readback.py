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


def fetch_totals(client: Client, settings: Settings) -> dict[str, TotalsRow]:
    """Current totals per campaign from ``campaign_totals``; blocks on one query."""
    db = settings.clickhouse.database
    rows = client.execute(
        f"SELECT campaign_id, videos, creators, donation_minor, currency FROM {db}.campaign_totals"
    )
    return {r[0]: TotalsRow(*r) for r in rows}


def totals_table(campaigns: dict[str, Campaign], totals: dict[str, TotalsRow], title: str = "") -> Table:
    """A rich table: videos, participants, raised, % of cap and % of goal per campaign."""
    table = Table(title=title or "forgood — live campaign counters (from ClickHouse)")
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("campaign", "left"),
        ("nonprofit", "left"),
        ("videos", "right"),
        ("participants", "right"),
        ("raised", "right"),
        ("% of cap", "right"),
        ("% of goal", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for cid in sorted(set(campaigns) | set(totals)):
        campaign = campaigns.get(cid)
        row = totals.get(cid) or TotalsRow(cid, 0, 0, 0, campaign.currency if campaign else "USD")
        cap = percent_of(row.donation_minor, campaign.cap_minor) if campaign else None
        goal = percent_of(row.videos, campaign.goal_videos) if campaign else None
        table.add_row(
            campaign.name if campaign else cid,
            campaign.nonprofit if campaign else "",
            f"{row.videos:,}",
            f"{row.creators:,}",
            format_minor(row.donation_minor, row.currency),
            "—" if cap is None else f"{cap:.1f}%",
            "—" if goal is None else f"{goal:.1f}%",
        )
    return table
