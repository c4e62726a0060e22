"""The recount from ``campaign_videos`` rows and the comparison with the aggregates, against a
brute-force oracle written here (no forgood rule imported: the cap is re-stated as "the
capped running total's growth per minute").

Properties (hypothesis):

* :func:`forgood.audit.recount.recount` gives the oracle's totals and minutes for any rows
  and terms (capped, uncapped, a cap of 0, unknown terms);
* :func:`forgood.audit.reconcile_diff.reconcile_campaign` finds nothing when the aggregates
  are the oracle's (with or without all-zero minute rows), and, after one figure or one
  minute is changed, exactly that difference, naming the campaign, the field and both values;
* :func:`forgood.audit.reconcile_diff.compare_videos` reports exactly the (video, field)
  pairs the oracle finds between two sets of rows.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from forgood.audit.reconcile_diff import (
    RECOUNTED,
    Difference,
    ReconcileResult,
    compare_videos,
    reconcile_campaign,
)
from forgood.audit.recount import TOTAL_FIELDS, Figures, Terms, recount
from forgood.domain.records import CampaignVideoRow

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
FIELDS = ("creator_id", "created_at", "minute", "status", "status_at", "reason",
          "views", "likes", "shares", "comments")


@st.composite
def video_rows(draw, campaign: str = "dance", max_size: int = 40) -> dict[str, CampaignVideoRow]:
    """Rows of one campaign, by video id: statuses of all three kinds, a few creators and
    minutes, engagement up to a trillion."""
    n = draw(st.integers(0, max_size))
    rows = {}
    for i in range(n):
        created = T0 + draw(st.integers(0, 600))
        status = draw(st.sampled_from(("counted", "counted", "removed", "outside_window")))
        rows[f"v{i}"] = CampaignVideoRow(
            campaign, f"v{i}", draw(st.sampled_from(("ann", "bob", "cy", "di"))), created, created - created % 60,
            status, created + draw(st.integers(0, 100)), draw(st.sampled_from(("", "moderation", "appeal"))),
            *(draw(st.integers(0, 10**12)) for _ in range(4)), version=draw(st.integers(0, 5)))
    return rows


terms_strategy = st.one_of(
    st.none(),
    st.builds(Terms, st.integers(0, 500), st.one_of(st.none(), st.integers(0, 3000)), st.just("USD")),
)


def oracle(rows: dict[str, CampaignVideoRow], terms: Terms | None) -> tuple[dict, dict]:
    """Totals {field: value} and minutes {minute: (videos, donation)} the plainest way."""
    counted = [r for r in rows.values() if r.status == "counted"]
    totals = {
        "videos": len(counted),
        "creators": len({r.creator_id for r in counted}),
        "removed": len([r for r in rows.values() if r.status == "removed"]),
        "views": sum(r.views for r in counted),
        "likes": sum(r.likes for r in counted),
        "shares": sum(r.shares for r in counted),
        "comments": sum(r.comments for r in counted),
    }

    def capped(amount: int) -> int:
        assert terms is not None
        return amount if terms.cap_minor is None else min(amount, terms.cap_minor)

    minutes = {}
    if terms is None:
        totals["donation_minor"] = None
        for r in counted:
            minutes[r.minute] = (minutes.get(r.minute, (0, None))[0] + 1, None)
    else:
        totals["donation_minor"] = capped(len(counted) * terms.price_minor)
        for m in sorted({r.minute for r in counted}):
            before = len([r for r in counted if r.minute < m])
            upto = len([r for r in counted if r.minute <= m])
            minutes[m] = (upto - before, capped(upto * terms.price_minor) - capped(before * terms.price_minor))
    return totals, minutes


@settings(max_examples=300, deadline=None)
@given(video_rows(), terms_strategy)
def test_the_recount_is_the_oracles(rows, terms):
    totals, minutes = oracle(rows, terms)
    result = recount(rows.values(), terms)
    assert result.figures.to_json() == totals
    assert result.minutes == minutes
    if terms is not None:  # the minutes add up to the total
        assert sum(d for _, d in result.minutes.values()) == result.figures.donation_minor


def _aggregates(rows, terms, zero_minutes: list[int]) -> tuple[Figures, dict]:
    totals, minutes = oracle(rows, terms)
    figures = Figures(**totals)
    for m in zero_minutes:  # a minute whose videos were all removed: the pipeline writes (0, 0)
        minutes.setdefault(m, (0, 0))
    return figures, minutes


@settings(max_examples=200, deadline=None)
@given(video_rows(), st.builds(Terms, st.integers(1, 500), st.one_of(st.none(), st.integers(0, 3000)),
                               st.just("USD")),
       st.lists(st.integers(0, 20).map(lambda k: T0 + 60 * k), max_size=3))
def test_aggregates_equal_to_the_oracle_agree(rows, terms, zero_minutes):
    figures, minutes = _aggregates(rows, terms, zero_minutes)
    checked = reconcile_campaign("dance", terms, figures, minutes, rows)
    assert checked.ok, [d.text() for d in checked.differences]
    assert checked.rows == checked.totals == figures
    # the source says the same rows: still nothing
    again = reconcile_campaign("dance", terms, figures, minutes, rows, source_rows=dict(rows))
    assert again.ok and again.source == figures
    assert ReconcileResult((checked, again), from_source=True).ok


@settings(max_examples=200, deadline=None)
@given(video_rows(), st.builds(Terms, st.integers(1, 500), st.none(), st.just("USD")),
       st.sampled_from(TOTAL_FIELDS), st.integers(1, 5))
def test_one_changed_total_is_the_one_difference(rows, terms, name, delta):
    figures, minutes = _aggregates(rows, terms, [])
    wrong = replace(figures, **{name: getattr(figures, name) + delta})
    checked = reconcile_campaign("dance", terms, wrong, minutes, rows)
    assert checked.differences == (
        Difference("dance", "total", None, name, "campaign_totals", getattr(figures, name) + delta, RECOUNTED,
                   getattr(figures, name)),
    )
    text = checked.differences[0].text()
    assert text.startswith("dance: totals: campaign_totals says ") and name in text
    assert not ReconcileResult((checked,), from_source=False).ok


@settings(max_examples=200, deadline=None)
@given(video_rows(), st.builds(Terms, st.integers(1, 500), st.one_of(st.none(), st.integers(0, 3000)),
                               st.just("USD")),
       st.integers(0, 20), st.sampled_from((0, 1)), st.integers(1, 3))
def test_one_changed_minute_is_the_one_difference(rows, terms, k, column, delta):
    figures, minutes = _aggregates(rows, terms, [])
    minute = T0 + 60 * k
    was = minutes.get(minute, (0, 0))
    now = tuple(v + delta if i == column else v for i, v in enumerate(was))
    minutes[minute] = now
    checked = reconcile_campaign("dance", terms, figures, minutes, rows)
    field = ("videos", "donation_minor")[column]
    assert [(d.kind, d.subject, d.field, d.left_value, d.right_value) for d in checked.differences] == [
        ("minute", minute, field, now[column], was[column])]
    assert checked.differences[0].text().startswith(f"dance: minute {_iso(minute)}: campaign_minutes says {field}=")


def _iso(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mutate(draw, row: CampaignVideoRow) -> CampaignVideoRow:
    changes = {}
    for name in draw(st.sets(st.sampled_from(FIELDS), max_size=3)):
        value = getattr(row, name)
        if isinstance(value, str):
            changes[name] = value + "x"
        else:
            changes[name] = value + draw(st.integers(1, 90))
    return replace(row, **changes, version=row.version + draw(st.integers(0, 3)))


@st.composite
def row_pairs(draw):
    """Two views of one campaign's rows: some missing on either side, some fields changed
    (the version never counts)."""
    base = draw(video_rows(max_size=25))
    actual, expected = {}, {}
    for video_id, row in base.items():
        where = draw(st.sampled_from(("both", "both", "actual", "expected")))
        if where in ("both", "actual"):
            actual[video_id] = _mutate(draw, row) if draw(st.booleans()) else row
        if where in ("both", "expected"):
            expected[video_id] = row
    return actual, expected


@settings(max_examples=300, deadline=None)
@given(row_pairs())
def test_video_differences_are_exactly_the_differing_fields_and_rows(pair):
    actual, expected = pair
    want = set()
    for video_id in set(actual) | set(expected):
        if video_id not in actual or video_id not in expected:
            want.add((video_id, "row"))
            continue
        for name in FIELDS:
            if getattr(actual[video_id], name) != getattr(expected[video_id], name):
                want.add((video_id, name))
    found = compare_videos("dance", actual, expected)
    assert {(d.subject, d.field) for d in found} == want
    assert [d.subject for d in found] == sorted(d.subject for d in found)
    for d in found:
        assert d.text().startswith(f"dance: video {d.subject}: ")


def test_a_difference_reads_as_a_sentence_naming_both_sides():
    status = Difference("dance", "video", "v-123", "status", "campaign_videos", "removed", "source", "counted")
    assert status.text() == "dance: video v-123: campaign_videos says status=removed, source says counted"
    at = Difference("dance", "video", "v-1", "status_at", "campaign_videos", T0, "source", T0 + 61)
    assert at.text() == ("dance: video v-1: campaign_videos says status_at=2026-01-01T00:00:00Z, "
                         "source says 2026-01-01T00:01:01Z")
    missing = Difference("dance", "video", "v-9", "row", "campaign_videos", None, "source", "counted")
    assert missing.text() == "dance: video v-9: campaign_videos has no row, source says status=counted"
    extra = Difference("dance", "video", "v-8", "row", "campaign_videos", "removed", "source", None)
    assert extra.text() == "dance: video v-8: campaign_videos says status=removed, source has no such video"
    assert extra.to_json()["text"] == extra.text() and extra.to_json()["subject"] == "v-8"
    minute = Difference("dance", "minute", T0 + 120, "videos", "campaign_minutes", 3, "source", 2)
    assert minute.text() == "dance: minute 2026-01-01T00:02:00Z: campaign_minutes says videos=3, source says 2"
    assert minute.to_json()["subject"] == "2026-01-01T00:02:00Z"


def test_a_campaign_without_terms_differs_and_its_donation_is_not_compared():
    row = CampaignVideoRow("gone", "v1", "ann", T0, T0, "counted", T0, "", 1, 2, 3, 4, 1)
    checked = reconcile_campaign("gone", None, Figures(1, 1, 0, 999, 1, 2, 3, 4), {T0: (1, 999)}, {"v1": row})
    assert [d.kind for d in checked.differences] == ["campaign"]
    assert checked.differences[0].text() == (
        "gone: campaign: not on the campaigns topic: its donation cannot be recounted without its terms")
    assert checked.rows.donation_minor is None


def test_a_row_with_an_unknown_status_or_a_wrong_minute_is_named():
    rows = {
        "v1": CampaignVideoRow("dance", "v1", "ann", T0 + 61, T0, "counted", T0 + 61, "", 0, 0, 0, 0, 1),
        "v2": CampaignVideoRow("dance", "v2", "ann", T0, T0, "paused", T0, "", 0, 0, 0, 0, 1),
    }
    terms = Terms(100, None, "USD")
    checked = reconcile_campaign("dance", terms, Figures(1, 1, 0, 100), {T0: (1, 100)}, rows)
    assert [(d.subject, d.field, d.left_value, d.right_value) for d in checked.differences] == [
        ("v1", "minute", T0, T0 + 60), ("v2", "status", "paused", "counted | removed | outside_window")]


def test_no_totals_row_reads_as_zero():
    checked = reconcile_campaign("quiet", Terms(100, None, "USD"), None, {}, {})
    assert checked.ok and checked.totals == Figures()
