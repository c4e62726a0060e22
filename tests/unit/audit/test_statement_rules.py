"""The statement rules (forgood.audit.statement) against an oracle written here, video by video.

The oracle walks the counted videos one at a time in event-time order, each adding its price
to a running total that stops at the cap, and books each video's part on its UTC day: the
days' donations, the total, settled and due follow from that, independently of
``rules.minute_donations`` and ``rules.total_donation`` which the code uses. Also: the JSON
field names, the as-of cut, the refusals (bad as-of, rows of another campaign, a foreign
currency, an unknown status) and the pure settlement rules (forgood.audit.settlement.check_allowed).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.audit.settlement import SettlementRefused, check_allowed
from forgood.audit.statement import StatementError, build_statement
from forgood.audit.store import Settlement
from forgood.domain.campaigns import Campaign
from forgood.domain.money import from_minor
from forgood.domain.records import CampaignChange, CampaignVideoRow
from tests.support.statement_rows_oracle import oracle

AS_OF = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
CUT = int(AS_OF.timestamp())
GENERATED = CUT + 86_400
START = datetime(2026, 11, 28, tzinfo=UTC)


def campaign(price_minor: int = 200, cap_minor: int | None = None, currency: str = "USD",
             cid: str = "dance") -> Campaign:
    return Campaign(
        id=cid, name="Dance for Water", nonprofit="Water e.V.", hashtags=("dance", "water"),
        donation_per_video=str(from_minor(price_minor, currency)), currency=currency,
        starts_at=START, ends_at=START + timedelta(days=14),
        donation_cap=None if cap_minor is None else str(from_minor(cap_minor, currency)),
    )


def row(video_id: str, created_at: int, status: str = "counted", creator: str = "c1", views: int = 0,
        cid: str = "dance") -> CampaignVideoRow:
    return CampaignVideoRow(cid, video_id, creator, created_at, created_at - created_at % 60, status, created_at,
                            "", views, 0, 0, 0, 1)


def settlement(as_of: int, paid_minor: int, currency: str = "USD", cid: str = "dance") -> Settlement:
    return Settlement(cid, as_of, 1, max(paid_minor, 0), paid_minor, currency, "0" * 64, as_of + 60, "alice")


# --------------------------------------------------------------------------- the oracle


# --------------------------------------------------------------------------- properties

STATUS = st.sampled_from(["counted", "counted", "counted", "removed", "outside_window"])


@st.composite
def mixes(draw):
    """Rows around the cut (some after it, some exactly on it), terms, settlements before and after."""
    count = draw(st.integers(0, 60))
    offsets = draw(st.lists(st.integers(-5 * 86_400, 86_400), min_size=count, max_size=count))
    if count and draw(st.booleans()):
        offsets[0] = 0  # created exactly at as_of: not in the statement
    rows = [row(f"v{i:03d}", CUT + offset, draw(STATUS), f"c{draw(st.integers(0, 6))}", draw(st.integers(0, 10**12)))
            for i, offset in enumerate(offsets)]
    price = draw(st.integers(0, 1_000))
    cap = draw(st.one_of(st.none(), st.integers(0, 20_000)))
    plan = draw(st.lists(st.tuples(st.integers(-4 * 86_400, 86_400), st.integers(-5_000, 20_000)), max_size=4))
    settlements = [settlement(CUT + offset, paid) for offset, paid in plan]
    if plan and draw(st.booleans()):
        settlements.append(settlement(CUT, 7))  # settled exactly as of the cut: included
    return rows, price, cap, settlements


@settings(max_examples=300, deadline=None)
@given(mixes(), st.randoms(use_true_random=False))
def test_every_figure_equals_the_video_by_video_oracle(mix, shuffle):
    rows, price, cap, settlements = mix
    shuffle.shuffle(rows)  # any order in
    statement = build_statement(campaign(price, cap), AS_OF, rows, settlements, (), GENERATED)
    expected = oracle(rows, price, cap, settlements, CUT)
    document = statement.to_json(videos=True)
    for key in ("videos", "participants", "removed", "outside_window", "donation_minor", "settled_minor",
                "due_minor", "days", "video_ids_sha256"):
        assert document[key] == expected[key], key
    assert [s.as_of for s in statement.settlements] == sorted(expected["settlements"])
    assert sum(d["donation_minor"] for d in document["days"]) == document["donation_minor"]
    assert sum(d["videos"] for d in document["days"]) == document["videos"]
    assert [(v.video_id, v.created_at, v.views) for v in statement.video_lines] == expected["video_lines"]
    if cap is not None:
        assert document["donation_minor"] <= cap


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 500), st.integers(0, 5_000))
def test_the_cap_is_filled_in_day_order(per_day, price, cap):
    """Three days of ``per_day`` videos: the earliest day fills the cap first, later days get
    only what is left (zero once it is reached)."""
    day = 86_400
    rows = [row(f"d{d}v{i}", CUT - (3 - d) * day + i) for d in range(3) for i in range(per_day)]
    document = build_statement(campaign(price, cap), AS_OF, rows, (), (), GENERATED).to_json()
    left = cap
    for line in document["days"]:
        assert line["donation_minor"] == min(left, line["videos"] * price)
        left -= line["donation_minor"]
    assert document["donation_minor"] == min(cap, 3 * per_day * price)


def test_removed_outside_window_and_later_videos_are_not_paid():
    rows = [row("a", CUT - 100, creator="x"), row("b", CUT - 90, creator="x"), row("c", CUT - 80, creator="y"),
            row("gone", CUT - 70, "removed"), row("early", CUT - 60, "outside_window"),
            row("at-cut", CUT), row("later", CUT + 1, creator="z"), row("later-removed", CUT + 5, "removed")]
    s = build_statement(campaign(250), AS_OF, rows, (), (), GENERATED)
    assert (s.videos, s.participants, s.removed, s.outside_window) == (3, 2, 1, 1)
    assert (s.donation_minor, s.settled_minor, s.due_minor) == (750, 0, 750)
    assert s.video_ids_sha256 == hashlib.sha256(b"a\nb\nc").hexdigest()


def test_due_is_negative_after_a_removal_following_a_payment():
    rows = [row("a", CUT - 100), row("b", CUT - 90, "removed")]
    s = build_statement(campaign(300), AS_OF, rows, [settlement(CUT - 50, 600)], (), GENERATED)
    assert (s.donation_minor, s.settled_minor, s.due_minor) == (300, 600, -300)


def test_an_uncapped_campaign_and_a_zero_price():
    rows = [row(f"v{i}", CUT - i - 1) for i in range(5)]
    assert build_statement(campaign(0), AS_OF, rows, (), (), GENERATED).donation_minor == 0
    s = build_statement(campaign(10**9, None, "JPY"), AS_OF, rows, (), (), GENERATED)
    assert (s.donation_minor, s.cap_minor, s.currency) == (5 * 10**9, None, "JPY")


def test_an_as_of_with_another_timezone_is_the_same_instant():
    rows = [row("a", CUT - 1), row("b", CUT)]
    plus_two = AS_OF.astimezone(timezone(timedelta(hours=2)))
    s = build_statement(campaign(), plus_two, rows, (), (), GENERATED)
    assert (s.as_of, s.videos, s.to_json()["as_of"]) == (CUT, 1, "2026-12-03T12:00:00Z")


# --------------------------------------------------------------------------- the JSON document

TOP_LEVEL = ["campaign_id", "name", "nonprofit", "currency", "price_minor", "cap_minor", "as_of", "generated_at",
             "videos", "participants", "removed", "outside_window", "donation_minor", "settled_minor", "due_minor",
             "video_ids_sha256", "days", "settlements", "terms", "changes"]


def test_json_field_names_are_exactly_the_documented_ones():
    change = CampaignChange("dance", 4, "price", "1.00 USD", "2.00 USD", CUT - 3_600, "bob")
    s = build_statement(campaign(200, 10_000), AS_OF, [row("a", CUT - 100, views=42)],
                        [settlement(CUT - 10, 100)], [change], GENERATED)
    document = s.to_json()
    assert list(document) == TOP_LEVEL
    assert list(s.to_json(videos=True)) == [*TOP_LEVEL, "video_lines"]
    assert document["days"] == [{"day": "2026-12-03", "videos": 1, "donation_minor": 200}]
    assert document["settlements"] == [{
        "as_of": "2026-12-03T11:59:50Z", "videos": 1, "donation_minor": 100, "paid_minor": 100, "currency": "USD",
        "video_ids_sha256": "0" * 64, "settled_at": "2026-12-03T12:00:50Z", "settled_by": "alice"}]
    assert document["terms"] == {"price_minor": 200, "cap_minor": 10_000, "currency": "USD",
                                 "starts_at": "2026-11-28T00:00:00Z", "ends_at": "2026-12-12T00:00:00Z",
                                 "hashtags": ["dance", "water"]}
    assert document["changes"] == [{"change_id": 4, "what": "price", "old": "1.00 USD", "new": "2.00 USD",
                                    "changed_at": "2026-12-03T11:00:00Z", "changed_by": "bob"}]
    assert s.to_json(videos=True)["video_lines"] == [
        {"video_id": "a", "created_at": "2026-12-03T11:58:20Z", "day": "2026-12-03", "views": 42}]
    assert (document["as_of"], document["generated_at"]) == ("2026-12-03T12:00:00Z", "2026-12-04T12:00:00Z")
    assert "creator" not in repr(s.to_json(videos=True))  # never the creator id


def test_changes_are_listed_in_change_order():
    changes = [CampaignChange("dance", 9, "cap", "", "5.00 USD", CUT, "b"),
               CampaignChange("dance", 2, "price", "1.00 USD", "2.00 USD", CUT - 9, "a")]
    s = build_statement(campaign(), AS_OF, (), (), changes, GENERATED)
    assert [c.change_id for c in s.changes] == [2, 9]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("as_of", "message"), [
    (datetime(2026, 12, 3, 12), "give a timezone"),
    (AS_OF.replace(microsecond=5), "whole seconds"),
])
def test_a_bad_as_of_is_refused(as_of, message):
    with pytest.raises(StatementError, match=message):
        build_statement(campaign(), as_of, (), (), (), GENERATED)


def test_rows_of_another_campaign_a_foreign_currency_a_twice_listed_video_and_an_unknown_status_are_refused():
    with pytest.raises(StatementError, match="a row of another campaign"):
        build_statement(campaign(), AS_OF, [row("a", CUT - 1, cid="other")], (), (), GENERATED)
    with pytest.raises(StatementError, match="paid in EUR, the campaign's currency is now USD"):
        build_statement(campaign(), AS_OF, (), [settlement(CUT - 1, 5, "EUR")], (), GENERATED)
    with pytest.raises(StatementError, match="listed twice: a"):
        build_statement(campaign(), AS_OF, [row("a", CUT - 1), row("a", CUT - 2)], (), (), GENERATED)
    with pytest.raises(StatementError, match="unknown video status"):
        build_statement(campaign(), AS_OF, [row("a", CUT - 1, "deleted")], (), (), GENERATED)


def test_settling_the_same_or_an_earlier_as_of_or_the_future_is_refused():
    done = [settlement(CUT - 100, 5), settlement(CUT, 7)]
    check_allowed("dance", CUT + 1, done, now=CUT + 10)  # later: allowed
    check_allowed("dance", CUT, [], now=CUT)  # the first, as of now: allowed
    with pytest.raises(SettlementRefused, match="already settled as of 2026-12-03T12:00:00Z"):
        check_allowed("dance", CUT, done, now=CUT + 10)
    with pytest.raises(SettlementRefused, match="earlier than its latest settlement, as of 2026-12-03T12:00:00Z"):
        check_allowed("dance", CUT - 50, done, now=CUT + 10)
    with pytest.raises(SettlementRefused, match="in the future"):
        check_allowed("dance", CUT + 11, done, now=CUT + 10)
