"""ClickHouse's answer, read back in the shape the oracle of ``tests/support/eventset.py`` gives."""

from __future__ import annotations


def read_back(client, database: str) -> tuple[dict, dict]:
    """``campaign_totals`` by campaign and ``campaign_minutes`` by (campaign, minute) from
    ClickHouse, as the oracle of ``tests/support/eventset.py`` states them; ({}, {}) while the
    database or its views do not exist yet."""
    try:
        totals = {r[0]: tuple(r[1:]) for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor, currency FROM {database}.campaign_totals")}
        minutes = {(r[0], r[1]): (r[2], r[3]) for r in client.execute(
            f"SELECT campaign_id, toUInt32(minute), videos, donation_minor FROM {database}.campaign_minutes")}
    except Exception:  # database or views not created yet
        return {}, {}
    return totals, minutes


def read_back_counts(client, database: str) -> dict[str, tuple]:
    """``campaign_totals`` by campaign with every figure: (videos, creators, donation_minor,
    currency, removed, views, likes, shares, comments) — the order of
    ``tests.support.serving.COUNTS``; {} while the database or its view does not exist yet."""
    try:
        return {r[0]: tuple(r[1:]) for r in client.execute(
            f"SELECT campaign_id, videos, creators, donation_minor, currency, removed, views, likes, shares, "
            f"comments FROM {database}.campaign_totals")}
    except Exception:  # database or view not created yet
        return {}
