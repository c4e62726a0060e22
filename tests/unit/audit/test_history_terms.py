"""Campaign history (forgood.audit.history): the terms as text, the changes between two
campaigns, folding changes back into terms, and reading the rows from a *current* ClickHouse.

The expected texts are written out by hand; the property tests check the changes against an
oracle that compares the campaigns' fields directly (not through :func:`terms_of`), and that
applying the changes to the old terms gives the new terms. ``read_changes`` runs on chdb
(ClickHouse in-process behind clickhouse-driver's ``Client``) with rows written the way the
sink writes them (:class:`sinks.clickhouse.ClickHouseSink` after :func:`sinks.schema.migrate`),
each row twice; the same reading runs on ClickHouse 18.16 in
``tests/integration/test_campaign_history.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.audit.history import (
    CREATED,
    ORDER,
    TERMS,
    apply_changes,
    changes_sql,
    diff_terms,
    read_changes,
    term_changes,
    terms_after,
    terms_of,
)
from forgood.domain.campaigns import Campaign
from forgood.domain.records import CampaignChange
from tests.support.chdb_client import ChdbClient
from tests.support.history_rows import check_rows, write_rows

START = datetime(2026, 11, 1, tzinfo=UTC)


def campaign(**changes: Any) -> Campaign:
    data = {
        "id": "c1", "name": "Campaign one", "nonprofit": "Some Charity", "hashtags": ["Foo"],
        "donation_per_video": "2", "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return Campaign.model_validate(data)


# --- the terms as text -------------------------------------------------------------------------

def test_the_terms_as_text() -> None:
    assert terms_of(campaign()) == {
        "price": "2.00 USD", "cap": "", "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z", "hashtags": "foo",
    }
    assert list(terms_of(campaign())) == list(TERMS)


@pytest.mark.parametrize(("price", "cap", "currency", "want_price", "want_cap"), [
    ("2.00", "100", "USD", "2.00 USD", "100.00 USD"),
    ("0.1", "0", "EUR", "0.10 EUR", "0.00 EUR"),
    ("500", "1000000", "JPY", "500 JPY", "1000000 JPY"),
    ("1.5", "12.125", "BHD", "1.500 BHD", "12.125 BHD"),
    ("12345678901234567890.12", None, "USD", "12345678901234567890.12 USD", ""),
])
def test_amounts_are_exact_decimal_text_with_their_currency(price: str, cap: str | None, currency: str,
                                                            want_price: str, want_cap: str) -> None:
    terms = terms_of(campaign(donation_per_video=price, donation_cap=cap, currency=currency))
    assert (terms["price"], terms["cap"], terms["currency"]) == (want_price, want_cap, currency)


def test_window_in_utc_and_hashtags_normalised_in_order() -> None:
    terms = terms_of(campaign(starts_at="2026-11-01T02:30:00+02:30", ends_at="2026-12-01T00:00:00.250000-05:00",
                              hashtags=["#Zeta", "alpha", "ZETA", "Beta_2"]))
    assert terms["starts_at"] == "2026-11-01T00:00:00Z"
    assert terms["ends_at"] == "2026-12-01T05:00:00.250000Z"
    assert terms["hashtags"] == "zeta,alpha,beta_2"


# --- changes between two campaigns ---------------------------------------------------------------

def test_a_new_campaign_is_created_then_its_terms_from_nothing() -> None:
    assert term_changes(None, campaign()) == [
        (CREATED, "", ""), ("price", "", "2.00 USD"), ("currency", "", "USD"),
        ("starts_at", "", "2026-11-01T00:00:00Z"), ("ends_at", "", "2027-03-01T00:00:00Z"), ("hashtags", "", "foo"),
    ]
    capped = term_changes(None, campaign(donation_cap="50"))
    assert capped[:3] == [(CREATED, "", ""), ("price", "", "2.00 USD"), ("cap", "", "50.00 USD")]


def test_price_change_cap_added_window_widened_hashtag_added() -> None:
    old = campaign()
    new = campaign(donation_per_video="2.50", donation_cap="100", ends_at="2027-04-01T00:00:00Z",
                   hashtags=["Foo", "Bar"])
    assert term_changes(old, new) == [
        ("price", "2.00 USD", "2.50 USD"), ("cap", "", "100.00 USD"),
        ("ends_at", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"), ("hashtags", "foo", "foo,bar"),
    ]
    assert term_changes(new, old) == [(w, n, o) for w, o, n in term_changes(old, new)]


def test_a_currency_change_changes_the_amounts_text_too() -> None:
    assert term_changes(campaign(donation_cap="5"), campaign(donation_cap="5", currency="EUR")) == [
        ("price", "2.00 USD", "2.00 EUR"), ("cap", "5.00 USD", "5.00 EUR"), ("currency", "USD", "EUR")]


def test_same_money_written_differently_and_non_terms_are_no_change() -> None:
    old = campaign(donation_per_video="2", donation_cap="10")
    new = campaign(donation_per_video="2.00", donation_cap="10.0", name="Renamed", nonprofit="Other",
                   description="new text", url="https://example.org", goal_videos=7,
                   starts_at="2026-11-01T01:00:00+01:00", hashtags=["#FOO", "foo"])
    assert term_changes(old, new) == []


def test_folding_rejects_an_unknown_term() -> None:
    with pytest.raises(ValueError, match="unknown campaign term 'goal'"):
        apply_changes(None, [("goal", "", "5")])


CURRENCIES = ["USD", "EUR", "JPY", "BHD"]
TAGS = ["foo", "bar", "baz", "qux"]


@st.composite
def campaigns(draw: st.DrawFn) -> Campaign:
    currency = draw(st.sampled_from(CURRENCIES))
    digits = {"JPY": 0, "BHD": 3}.get(currency, 2)
    price = Decimal(draw(st.integers(0, 10**6))).scaleb(-digits)
    cap = draw(st.none() | st.integers(0, 10**8))
    start = START + timedelta(seconds=draw(st.integers(0, 10**7)))
    return Campaign.model_validate({
        "id": "c1", "name": draw(st.sampled_from(["a", "b"])), "nonprofit": "n",
        "hashtags": draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=4, unique=True)),
        "donation_per_video": str(price), "currency": currency,
        "donation_cap": None if cap is None else str(Decimal(cap).scaleb(-digits)),
        "starts_at": start, "ends_at": start + timedelta(seconds=draw(st.integers(1, 10**7))),
        "description": draw(st.none() | st.just("text")),
    })


def oracle(old: Campaign, new: Campaign) -> set[str]:
    """The terms that differ, from the campaigns' own fields."""
    differ = {
        "price": (old.price_minor, old.currency) != (new.price_minor, new.currency),
        "cap": (old.cap_minor, old.cap_minor is not None and old.currency)
        != (new.cap_minor, new.cap_minor is not None and new.currency),
        "currency": old.currency != new.currency,
        "starts_at": old.starts_at != new.starts_at,
        "ends_at": old.ends_at != new.ends_at,
        "hashtags": old.hashtags != new.hashtags,
    }
    return {what for what, yes in differ.items() if yes}


@settings(max_examples=300, deadline=None)
@given(old=campaigns(), new=campaigns())
def test_changes_are_exactly_the_differing_terms_in_order_and_take_old_to_new(old: Campaign, new: Campaign) -> None:
    changes = term_changes(old, new)
    assert {what for what, _, _ in changes} == oracle(old, new)
    ranks = [ORDER.index(what) for what, _, _ in changes]
    assert ranks == sorted(set(ranks)), "one row per term, in the fixed order"
    before, after = terms_of(old), terms_of(new)
    assert all(o == before[w] and n == after[w] and o != n for w, o, n in changes)
    assert apply_changes(before, changes) == after
    assert term_changes(old, old) == [] and term_changes(new, new) == []


@settings(max_examples=200, deadline=None)
@given(history=st.lists(campaigns(), min_size=1, max_size=5))
def test_a_recorded_history_folds_into_the_last_terms(history: list[Campaign]) -> None:
    rows: list[CampaignChange] = []
    previous: Campaign | None = None
    for offset, current in enumerate(history):
        rows += [CampaignChange("c1", offset * 3, w, o, n, 0, "x") for w, o, n in term_changes(previous, current)]
        previous = current
    assert terms_after(reversed(rows)) == terms_of(history[-1])  # any order in: sorted by change id, then ORDER
    assert apply_changes(None, term_changes(None, history[0])) == terms_of(history[0])
    assert diff_terms(terms_after(rows), terms_of(history[-1])) == []


# --- reading the rows back ---------------------------------------------------------------------

DB = "history_unit"


def test_read_changes_on_current_clickhouse(chdb_client: ChdbClient) -> None:
    write_rows(chdb_client, DB)
    check_rows(chdb_client, DB)


def test_no_schema_yet_is_no_history(chdb_client: ChdbClient) -> None:
    assert read_changes(chdb_client, "history_never_created", "camp") == []
    chdb_client.execute("CREATE DATABASE IF NOT EXISTS history_empty")
    assert read_changes(chdb_client, "history_empty", "camp") == []


def test_the_query_quotes_the_campaign_id() -> None:
    assert changes_sql("db", "a'b\\c").endswith("WHERE campaign_id = 'a\\'b\\\\c'")
