"""``forgood settle``: record that a campaign's statement as of a time was paid.

:func:`settle` makes the statement as of T from ClickHouse as known now
(:func:`~forgood.audit.statement.build_statement`) and writes one immutable row to
``settlements``: the campaign, T, the statement's videos and donation, ``paid_minor`` = its
``due_minor`` (negative: a credit back to the payer), the currency, the hash of its counted
video ids, when and by whom. It refuses — :class:`SettlementRefused`, nothing written — a T
for which the campaign has a settlement already, a T earlier than its latest settlement's
(settlements follow each other in time, so every statement nets all earlier payments), and a T
in the future (videos created between now and T could still arrive).

ClickHouse has no transactions: two ``settle`` runs for one campaign at the same moment could
both pass the checks. After writing, :func:`settle` reads the settlements back and raises
:class:`SettlementConflict` if it finds that happened (the rows stay: they are evidence; a
person resolves it). Run one ``settle`` per campaign at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clickhouse_driver import Client

from forgood.audit.statement import Statement, StatementError, as_of_seconds, build_statement, iso
from forgood.audit.store import Settlement, insert_settlement, read_settlements, read_video_rows
from forgood.domain.campaigns import Campaign
from sinks.schema import migrate


class SettlementRefused(StatementError):
    """The settlement asked for may not be written; nothing was. The message says why."""


class SettlementConflict(StatementError):
    """Another settlement of the same campaign was written at the same time as this one."""


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` wrote, and the statement it settled."""

    settlement: Settlement
    statement: Statement


def check_allowed(campaign_id: str, as_of: int, existing: list[Settlement], now: int) -> None:
    """Raise :class:`SettlementRefused` unless a settlement of ``campaign_id`` as of ``as_of``
    (epoch s) may follow ``existing`` (its settlements) at ``now`` (epoch s). Pure."""
    if as_of > now:
        raise SettlementRefused(f"{campaign_id}: as of {iso(as_of)} is in the future (now {iso(now)}): "
                                "videos created before it may still arrive; settle a time that has passed")
    same = [s for s in existing if s.as_of == as_of]
    if same:
        s = same[0]
        raise SettlementRefused(f"{campaign_id} was already settled as of {iso(as_of)} (paid_minor {s.paid_minor} "
                                f"{s.currency}, settled at {iso(s.settled_at)} by {s.settled_by}); nothing written")
    latest = max((s.as_of for s in existing), default=None)
    if latest is not None and as_of < latest:
        raise SettlementRefused(f"{campaign_id}: as of {iso(as_of)} is earlier than its latest settlement, as of "
                                f"{iso(latest)}; settle a later time; nothing written")


def settle(client: Client, database: str, campaign: Campaign, as_of: datetime, by: str, now: int) -> Settled:
    """Settle ``campaign`` (its current terms) as of ``as_of`` (timezone-aware, whole seconds)
    for ``by`` at ``now`` (epoch s): migrate the schema (idempotent), check the rules of the
    module, build the statement, write its row. Blocks on ClickHouse (a handful of queries);
    raises :class:`SettlementRefused` / :class:`StatementError` (nothing written),
    :class:`SettlementConflict` (written, but another row was written concurrently), or
    clickhouse-driver's errors."""
    cut = as_of_seconds(as_of)
    if not by.strip():
        raise SettlementRefused(f"{campaign.id}: say who settles (--by NAME)")
    migrate(client, database)
    existing = read_settlements(client, database, campaign.id)
    check_allowed(campaign.id, cut, existing, now)
    statement = build_statement(campaign, as_of, read_video_rows(client, database, campaign.id), existing, (), now)
    row = Settlement(
        campaign_id=campaign.id,
        as_of=cut,
        videos=statement.videos,
        donation_minor=statement.donation_minor,
        paid_minor=statement.due_minor,
        currency=statement.currency,
        video_ids_sha256=statement.video_ids_sha256,
        settled_at=now,
        settled_by=by,
    )
    insert_settlement(client, database, row)
    after = read_settlements(client, database, campaign.id)
    others = [s for s in after if s not in existing and s != row]
    if others or after.count(row) != 1:
        raise SettlementConflict(
            f"{campaign.id}: another settlement was written while this one was (as of "
            f"{', '.join(iso(s.as_of) for s in others) or iso(cut)}); both rows are kept in {database}.settlements: "
            "check them before paying")
    return Settled(row, statement)
