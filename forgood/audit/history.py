"""Campaign history: every applied change of a campaign's terms, who made it and when.

A campaign's **terms** are what its donations depend on and what decides which videos count:

* ``price`` — ``donation_per_video`` as exact decimal text with the currency, ``"2.00 USD"``
  (made from the minor units, so ``2`` and ``2.00`` in a file are the same price);
* ``cap`` — ``donation_cap`` the same way, ``""`` when the campaign has none;
* ``currency`` — the ISO 4217 code;
* ``starts_at`` / ``ends_at`` — the window, ISO 8601 UTC (``"2026-01-01T00:00:00Z"``);
* ``hashtags`` — the normalised hashtags, comma-separated, in the campaign's order (a
  reordering is recorded like any other change of the text).

``name``, ``nonprofit``, ``description``, ``url`` and ``goal_videos`` are not terms: changing
them changes no donation and is not recorded.

**A new campaign** is recorded as one ``created`` row (``old`` and ``new`` both ``""``)
followed by one row per term that has a value, each with ``old = ""`` (so an uncapped new
campaign has no ``cap`` row). Starting from "no terms" (every term ``""``), applying a
campaign's rows in order always gives its terms: :func:`apply_changes`.

Each row is a :class:`~forgood.domain.records.CampaignChange`; the rows of one apply of one
campaign share a ``change_id`` (the offset of that campaign's record on the campaigns topic,
so rows are ordered by it) and are listed in the fixed order :data:`ORDER`. They are written
by :func:`producers.campaigns.publish_campaigns` and land in ClickHouse's ``campaign_changes``
view through the sink; :func:`read_changes` reads them back.

Everything here is pure except :func:`read_changes`, which blocks on ClickHouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from clickhouse_driver.errors import ServerException

from forgood.audit.store import quote
from forgood.domain.campaigns import Campaign
from forgood.domain.money import from_minor
from forgood.domain.records import CampaignChange

#: The row that opens a new campaign's history (its terms follow as rows with ``old = ""``).
CREATED = "created"
#: The terms, in the order their rows are listed within one change.
TERMS: tuple[str, ...] = ("price", "cap", "currency", "starts_at", "ends_at", "hashtags")
#: Every ``what`` of a history row, in listing order within one ``change_id``.
ORDER: tuple[str, ...] = (CREATED, *TERMS)
#: The terms of "no campaign": what a ``created`` row starts from.
NO_TERMS: Mapping[str, str] = dict.fromkeys(TERMS, "")

#: ClickHouse error codes meaning "the sink has not created its schema yet": no history.
_NO_SCHEMA = {60, 81}  # UNKNOWN_TABLE, UNKNOWN_DATABASE

TermChange = tuple[str, str, str]
"""``(what, old, new)``: one changed term, values as :func:`terms_of` writes them."""


def amount_text(minor: int, currency: str) -> str:
    """An amount in minor units as exact decimal text with its currency: ``200, "USD"`` ->
    ``"2.00 USD"``, ``500, "JPY"`` -> ``"500 JPY"`` (all the currency's decimals, never an exponent)."""
    return f"{from_minor(minor, currency):f} {currency}"


def instant_text(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with ``Z``: ``"2026-01-01T00:00:00Z"`` (microseconds
    only when it has some)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def terms_of(campaign: Campaign) -> dict[str, str]:
    """The campaign's terms as text, in :data:`TERMS` order (see the module for each format)."""
    cap = campaign.cap_minor
    return {
        "price": amount_text(campaign.price_minor, campaign.currency),
        "cap": "" if cap is None else amount_text(cap, campaign.currency),
        "currency": campaign.currency,
        "starts_at": instant_text(campaign.starts_at),
        "ends_at": instant_text(campaign.ends_at),
        "hashtags": ",".join(campaign.hashtags),
    }


def diff_terms(old: Mapping[str, str] | None, new: Mapping[str, str]) -> list[TermChange]:
    """The rows that take terms ``old`` to ``new`` (both as :func:`terms_of` gives them), in
    :data:`ORDER`. ``old`` None means no campaign yet: a ``created`` row, then every term of
    ``new`` that is not ``""``. Equal terms give no rows."""
    if old is None:
        return [(CREATED, "", ""), *((what, "", new[what]) for what in TERMS if new[what] != "")]
    return [(what, old[what], new[what]) for what in TERMS if old[what] != new[what]]


def term_changes(old: Campaign | None, new: Campaign) -> list[TermChange]:
    """``(what, old, new)`` for every term of ``new`` that differs from ``old``'s, in
    :data:`ORDER`; for a new campaign (``old`` None) the ``created`` row and its initial terms
    (see the module). Non-term fields are ignored: only they differing gives ``[]``."""
    return diff_terms(None if old is None else terms_of(old), terms_of(new))


def apply_changes(terms: Mapping[str, str] | None, changes: Iterable[TermChange]) -> dict[str, str] | None:
    """The terms after ``changes`` (in the order given) starting from ``terms`` (None: no
    campaign): ``created`` resets to :data:`NO_TERMS`, a term row sets that term to its
    ``new``. None when there were no terms and no rows. Raises ``ValueError`` on an unknown
    ``what``. Pure: the inverse of :func:`diff_terms`, and how the recorded history of a
    campaign is folded into the terms it records (:func:`terms_after`)."""
    result = None if terms is None else dict(terms)
    for what, _old, new in changes:
        if what == CREATED:
            result = dict(NO_TERMS)
        elif what in NO_TERMS:
            result = dict(NO_TERMS) if result is None else result
            result[what] = new
        else:
            raise ValueError(f"unknown campaign term {what!r} (known: {', '.join(ORDER)})")
    return result


def order_key(change: CampaignChange) -> tuple[int, int, str]:
    """Sort key of history rows: by ``change_id``, then :data:`ORDER` (an unknown ``what`` last)."""
    rank = ORDER.index(change.what) if change.what in ORDER else len(ORDER)
    return (change.change_id, rank, change.what)


def terms_after(changes: Iterable[CampaignChange]) -> dict[str, str] | None:
    """The terms one campaign's recorded history ends with (rows sorted by :func:`order_key`
    first), or None when it has none: the terms in force after its last recorded change."""
    return apply_changes(None, ((c.what, c.old, c.new) for c in sorted(changes, key=order_key)))


def changes_sql(database: str, campaign_id: str) -> str:
    """The SELECT of one campaign's history rows from the ``campaign_changes`` view (each row
    once however often the sink wrote it), ``changed_at`` as epoch seconds. Runs on ClickHouse
    18.16 and current releases."""
    return (f"SELECT campaign_id, change_id, what, old, new, toUInt32(changed_at), changed_by "
            f"FROM {database}.campaign_changes WHERE campaign_id = {quote(campaign_id)}")


def read_changes(client: Any, database: str, campaign_id: str) -> list[CampaignChange]:
    """Every recorded change of ``campaign_id``'s terms, ordered by ``change_id`` then
    :data:`ORDER`; empty when it has none or the sink has not created the schema yet
    (ClickHouse codes 60, 81). Blocks on ClickHouse (a clickhouse-driver ``Client``); any
    other ClickHouse or network error propagates."""
    try:
        rows = client.execute(changes_sql(database, campaign_id))
    except ServerException as exc:
        if exc.code in _NO_SCHEMA:
            return []
        raise
    changes = [CampaignChange(str(cid), int(change_id), str(what), str(old), str(new), int(at), str(by))
               for cid, change_id, what, old, new, at, by in rows]
    return sorted(changes, key=order_key)
