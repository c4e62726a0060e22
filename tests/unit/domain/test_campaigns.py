"""forgood.domain.campaigns: the YAML file, validation, hashtag normalisation and matching."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from forgood.domain.campaigns import (
    Campaign,
    CampaignIndex,
    load_campaign_file,
    parse_campaigns,
)
from forgood.domain.errors import ConfigError
from tests.support.processes import REPO

ROOT = REPO
EXAMPLE = ROOT / "campaigns.example.yaml"

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2027, 3, 1, tzinfo=UTC)


def spec(**changes) -> dict:
    """A valid campaign mapping with fields replaced; ``...`` removes a field."""
    data = {
        "id": "c1",
        "name": "Campaign one",
        "nonprofit": "Some Charity",
        "hashtags": ["Foo"],
        "donation_per_video": "1.00",
        "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2027-03-01T00:00:00Z",
    }
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return data


def campaign(**changes) -> Campaign:
    return Campaign.model_validate(spec(**changes))


def problems(exc: ConfigError) -> list[str]:
    """The ``  - ...`` lines of a ConfigError message."""
    return [line[4:] for line in str(exc).splitlines() if line.startswith("  - ")]


def write(tmp_path: Path, text: str, name: str = "campaigns.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the example file ------------------------------------------------------------------------


def test_example_file_loads():
    campaigns = load_campaign_file(EXAMPLE)
    assert [c.id for c in campaigns] == [
        "dance-for-change",
        "music-shaped-me",
        "i-am-team-gb",
        "movember-2026",
        "red-nose-day-2026",
    ]
    by_id = {c.id: c for c in campaigns}
    assert by_id["dance-for-change"].hashtags == ("danceforchange",)
    assert by_id["i-am-team-gb"].hashtags == ("iamteamgb", "teamgb")
    assert by_id["dance-for-change"].price_minor == 100
    assert by_id["dance-for-change"].cap_minor is None
    assert by_id["music-shaped-me"].currency == "GBP"
    assert by_id["music-shaped-me"].price_minor == 50
    assert by_id["music-shaped-me"].cap_minor == 500_000
    assert by_id["i-am-team-gb"].price_minor == 0
    assert by_id["movember-2026"].cap_minor == 25_000_000
    assert by_id["movember-2026"].ends_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert by_id["red-nose-day-2026"].price_minor == 200
    assert by_id["red-nose-day-2026"].cap_minor == 100_000_000
    assert by_id["red-nose-day-2026"].goal_videos == 100_000
    for c in campaigns:
        assert c.starts_at == START
        assert c.starts_at.utcoffset() == timedelta(0)


def test_example_file_accepts_str_path():
    assert len(load_campaign_file(str(EXAMPLE))) == 5


# --- validation: every problem in one ConfigError ---------------------------------------------

BROKEN_FILE = """\
campaigns:
  - id: negative
    name: N
    nonprofit: X
    hashtags: [a]
    donation_per_video: "-1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: not-a-number
    name: N
    nonprofit: X
    hashtags: [b]
    donation_per_video: "two dollars"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: unquoted-float
    name: N
    nonprofit: X
    hashtags: [c]
    donation_per_video: 2.00
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: backwards
    name: N
    nonprofit: X
    hashtags: [d]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2027-03-01T00:00:00Z
    ends_at: 2026-11-01T00:00:00Z
  - id: naive
    name: N
    nonprofit: X
    hashtags: [e]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00
    ends_at: 2027-03-01T00:00:00
  - id: funny-money
    name: N
    nonprofit: X
    hashtags: [f]
    donation_per_video: "1.00"
    currency: DOGE
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: twice
    name: First
    nonprofit: X
    hashtags: [g]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: twice
    name: Second
    nonprofit: X
    hashtags: [h]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: Bad Id!
    name: N
    nonprofit: X
    hashtags: [i]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: bad-hashtag
    name: N
    nonprofit: X
    hashtags: ["dance for change"]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: half-cent
    name: N
    nonprofit: X
    hashtags: [j]
    donation_per_video: "1.005"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: half-yen
    name: N
    nonprofit: X
    hashtags: [k]
    donation_per_video: "1.5"
    currency: JPY
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
  - id: incomplete
    name: N
    hashtags: [l]
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
  - just a string
  - id: fine
    name: Fine
    nonprofit: X
    hashtags: [m]
    donation_per_video: "1.00"
    currency: USD
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-03-01T00:00:00Z
"""


def test_every_problem_is_reported_in_one_error(tmp_path):
    path = write(tmp_path, BROKEN_FILE)
    with pytest.raises(ConfigError) as info:
        load_campaign_file(path)
    found = problems(info.value)
    message = str(info.value)
    assert message.startswith(f"{path}: {len(found)} problem(s):")

    def one(prefix: str, *fragments: str) -> str:
        lines = [p for p in found if p.startswith(prefix)]
        assert lines, f"no problem starting {prefix!r} in:\n{message}"
        for fragment in fragments:
            assert any(fragment in line for line in lines), f"{fragment!r} not in {lines}"
        return lines[0]

    one("campaigns[0] (id=negative): donation_per_video:", "negative")
    one("campaigns[1] (id=not-a-number): donation_per_video:", "decimal")
    one("campaigns[2] (id=unquoted-float): donation_per_video:", "quoted decimal strings")
    one("campaigns[3] (id=backwards): ends_at:", "ends_at", "must be after starts_at")
    one("campaigns[4] (id=naive): starts_at:", "timezone")
    one("campaigns[4] (id=naive): ends_at:", "timezone")
    one("campaigns[5] (id=funny-money): currency:", "unknown currency 'DOGE'")
    one("campaign id 'twice' is defined more than once")
    one("campaigns[8] (id=Bad Id!): id:", "pattern")
    one("campaigns[9] (id=bad-hashtag): hashtags:", "'dance for change'", "one word")
    one("campaigns[10] (id=half-cent): campaign:", "more decimal places than USD allows (2)")
    one("campaigns[11] (id=half-yen): campaign:", "more decimal places than JPY allows (0)")
    one("campaigns[12] (id=incomplete): nonprofit:", "Field required")
    one("campaigns[12] (id=incomplete): donation_per_video:", "Field required")
    one("campaigns[12] (id=incomplete): ends_at:", "Field required")
    one("campaigns[13]: campaign:", "valid dictionary")
    assert not [p for p in found if "(id=fine)" in p]
    assert not [p for p in found if "(id=twice)" in p]
    assert len(found) == 16


@pytest.mark.parametrize(
    ("changes", "loc", "fragment"),
    [
        ({"donation_per_video": "-0.01"}, "donation_per_video", "negative"),
        ({"donation_cap": "-5"}, "donation_cap", "negative"),
        ({"donation_per_video": "abc"}, "donation_per_video", "decimal"),
        ({"donation_per_video": 2.0}, "donation_per_video", "quoted decimal strings"),
        ({"donation_cap": 10.5}, "donation_cap", "quoted decimal strings"),
        ({"donation_per_video": "NaN"}, "donation_per_video", "finite"),
        ({"ends_at": "2026-11-01T00:00:00Z"}, "ends_at", "must be after starts_at"),  # empty window
        ({"ends_at": "2026-10-01T00:00:00Z"}, "ends_at", "must be after starts_at"),
        ({"starts_at": "2026-11-01T00:00:00"}, "starts_at", "timezone"),
        ({"currency": "usd"}, "currency", "unknown currency 'usd'"),
        ({"currency": "XYZ"}, "currency", "unknown currency 'XYZ'"),
        ({"id": "Upper"}, "id", "pattern"),
        ({"id": "-leading-dash"}, "id", "pattern"),
        ({"id": "x" * 65}, "id", "pattern"),
        ({"id": ""}, "id", "pattern"),
        ({"hashtags": ["#"]}, "hashtags", "one word"),
        ({"hashtags": ["two words"]}, "hashtags", "one word"),
        ({"hashtags": ["dash-tag"]}, "hashtags", "one word"),
        ({"hashtags": ["x" * 101]}, "hashtags", "one word"),
        ({"hashtags": [42]}, "hashtags", "not a string"),
        ({"hashtags": []}, "hashtags", "at least 1"),
        ({"donation_per_video": "1.005"}, "campaign", "more decimal places than USD allows"),
        ({"donation_per_video": "1.5", "currency": "JPY"}, "campaign", "more decimal places than JPY allows"),
        ({"donation_cap": "10.001"}, "campaign", "more decimal places than USD allows"),
        ({"goal_videos": 0}, "goal_videos", "greater than 0"),
        ({"name": ""}, "name", "at least 1"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"name": ...}, "name", "Field required"),
    ],
)
def test_single_problem(changes, loc, fragment):
    with pytest.raises(ConfigError) as info:
        parse_campaigns({"campaigns": [spec(**changes)]}, source="test")
    found = problems(info.value)
    assert len(found) == 1, found
    cid = spec(**changes).get("id")
    prefix = "campaigns[0]" + (f" (id={cid})" if cid else "")
    assert found[0].startswith(f"{prefix}: {loc}: "), found[0]
    assert fragment in found[0]
    assert str(info.value).startswith("test: 1 problem(s):")


def test_valid_amount_edge_cases():
    assert campaign(donation_per_video="0").price_minor == 0
    assert campaign(donation_per_video=2).price_minor == 200  # an int is exact
    assert campaign(donation_per_video="100", currency="JPY").price_minor == 100
    assert campaign(donation_per_video="1.234", currency="BHD").price_minor == 1234
    assert campaign(donation_per_video="1.50").donation_per_video == Decimal("1.50")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping with a 'campaigns:' list"),
        ("# only a comment\n", "expected a mapping with a 'campaigns:' list"),
        ("- a\n- b\n", "expected a mapping with a 'campaigns:' list"),
        ("just text\n", "expected a mapping with a 'campaigns:' list"),
        ("other: []\n", "expected a mapping with a 'campaigns:' list"),
        ("campaigns: {id: x}\n", "expected a mapping with a 'campaigns:' list"),
        ("campaigns:\n", "expected a mapping with a 'campaigns:' list"),
        ("campaigns: [\n", "not valid YAML"),
    ],
)
def test_file_not_a_campaigns_mapping(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_campaign_file(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read: No such file or directory"):
        load_campaign_file(tmp_path / "nope.yaml")


def test_empty_campaign_list_is_valid(tmp_path):
    assert load_campaign_file(write(tmp_path, "campaigns: []\n")) == ()


def test_parse_campaigns_rejects_non_mappings():
    for document in (None, [], "campaigns", {"campaigns": "x"}, {"campaigns": None}):
        with pytest.raises(ConfigError, match="^src: expected a mapping"):
            parse_campaigns(document, source="src")


def test_yaml_timestamps_with_offset_are_kept(tmp_path):
    path = write(
        tmp_path,
        """\
        campaigns:
          - id: india
            name: India
            nonprofit: X
            hashtags: [Foo]
            donation_per_video: "10.00"
            currency: INR
            starts_at: 2026-11-01T05:30:00+05:30
            ends_at: "2026-12-01T00:00:00Z"
        """,
    )
    (c,) = load_campaign_file(path)
    assert c.starts_at == START
    assert c.starts_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert c.price_minor == 1000


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(textwrap.dedent(BROKEN_FILE).replace("name: Fine", "name: Caf\xe9").encode("latin-1"))
    with pytest.raises(ConfigError):
        load_campaign_file(path)


def test_huge_integer_is_a_config_error(tmp_path):
    text = textwrap.dedent(BROKEN_FILE).split("  - id: negative")[0] + textwrap.dedent(
        """\
          - id: big
            name: Big
            nonprofit: X
            hashtags: [a]
            donation_per_video: "1.00"
            currency: USD
            starts_at: 2026-11-01T00:00:00Z
            ends_at: 2027-03-01T00:00:00Z
            goal_videos: 99999999999999999999
        """
    )
    with pytest.raises(ConfigError):
        load_campaign_file(write(tmp_path, text))


def test_non_string_key_is_a_config_error(tmp_path):
    path = write(
        tmp_path,
        """\
        campaigns:
          - id: a
            name: A
            nonprofit: X
            hashtags: [a]
            donation_per_video: "1.00"
            currency: USD
            starts_at: 2026-11-01T00:00:00Z
            ends_at: 2027-03-01T00:00:00Z
            1: typo
        """,
    )
    with pytest.raises(ConfigError):
        load_campaign_file(path)


def test_all_problems_of_one_campaign_are_reported():
    with pytest.raises(ConfigError) as info:
        parse_campaigns(
            {"campaigns": [spec(donation_per_video="-1", ends_at="2026-01-01T00:00:00Z")]}
        )
    found = problems(info.value)
    assert any("must be after starts_at" in p for p in found)
    assert any("negative" in p for p in found)


# --- hashtags ------------------------------------------------------------------------------


def test_hashtags_are_normalised():
    c = campaign(hashtags=["#DanceForChange", "danceforchange", "DANCEFORCHANGE", " #TeamGB ", "teamgb"])
    assert c.hashtags == ("danceforchange", "teamgb")


def test_single_hashtag_string_is_accepted():
    assert campaign(hashtags="#MoBro").hashtags == ("mobro",)


def test_hashtag_unicode_is_nfkc_casefolded():
    # Full-width letters fold to ASCII under NFKC; German sharp s case-folds to "ss".
    assert campaign(hashtags=["ＦＯＯ", "Straße"]).hashtags == ("foo", "strasse")


# --- matching ------------------------------------------------------------------------------

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def index() -> CampaignIndex:
    return CampaignIndex(
        [
            campaign(id="dance", hashtags=["DanceForChange", "Dance4Change"]),
            campaign(id="music", hashtags=["MusicShapedMe"], currency="GBP", donation_per_video="0.50"),
            # Two campaigns share #Shared; "early" ends when "late" starts.
            campaign(id="early", hashtags=["Shared"], ends_at="2026-12-01T00:00:00Z"),
            campaign(id="late", hashtags=["Shared", "LateOnly"], starts_at="2026-12-01T00:00:00Z"),
            campaign(id="both", hashtags=["Shared"]),
        ]
    )


def ids(found) -> list[str]:
    return [c.id for c in found]


@pytest.mark.parametrize(
    "tag", ["DanceForChange", "danceforchange", "#DanceForChange", "#DANCEFORCHANGE", " #danceForChange "]
)
def test_match_is_case_insensitive_and_hash_optional(index, tag):
    assert ids(index.match([tag], AT)) == ["dance"]


def test_match_unrelated_tags(index):
    assert index.match(["fyp", "cats", "dance", "#for", "DanceForChange2", "Dance For Change"], AT) == []
    assert index.match([], AT) == []


def test_multi_hashtag_video_counts_once_per_campaign(index):
    found = index.match(["#DanceForChange", "dance4change", "DANCEFORCHANGE", "fyp"], AT)
    assert ids(found) == ["dance"]


def test_video_matching_two_campaigns(index):
    found = index.match(["MusicShapedMe", "fyp", "#DanceForChange"], AT)
    assert sorted(ids(found)) == ["dance", "music"]
    assert len(found) == 2


def test_shared_hashtag_counts_for_each_campaign_whose_window_holds(index):
    assert sorted(ids(index.match(["#shared"], datetime(2026, 11, 15, tzinfo=UTC)))) == ["both", "early"]
    assert sorted(ids(index.match(["#shared"], datetime(2026, 12, 15, tzinfo=UTC)))) == ["both", "late"]
    # Shared tag plus the late campaign's own tag: still once each.
    found = index.match(["Shared", "LateOnly", "SHARED"], datetime(2026, 12, 15, tzinfo=UTC))
    assert sorted(ids(found)) == ["both", "late"]


def test_window_boundaries_are_half_open(index):
    tags = ["DanceForChange"]
    us = timedelta(microseconds=1)
    assert ids(index.match(tags, START)) == ["dance"]  # at starts_at: counts
    assert index.match(tags, START - us) == []
    assert ids(index.match(tags, END - us)) == ["dance"]
    assert index.match(tags, END) == []  # at ends_at: does not count
    # The hand-over between "early" and "late" at 2026-12-01T00:00Z: exactly one of them.
    boundary = datetime(2026, 12, 1, tzinfo=UTC)
    assert sorted(ids(index.match(["Shared"], boundary))) == ["both", "late"]
    assert sorted(ids(index.match(["Shared"], boundary - us))) == ["both", "early"]


def test_window_boundary_in_other_offset(index):
    # 2026-11-01T05:30+05:30 is starts_at exactly; one second before is outside.
    ist = timezone(timedelta(hours=5, minutes=30))
    assert ids(index.match(["DanceForChange"], datetime(2026, 11, 1, 5, 30, tzinfo=ist))) == ["dance"]
    assert index.match(["DanceForChange"], datetime(2026, 11, 1, 5, 29, 59, tzinfo=ist)) == []


def test_holds():
    c = campaign()
    assert c.holds(START)
    assert not c.holds(END)
    assert c.holds(END - timedelta(microseconds=1))
    assert not c.holds(START - timedelta(microseconds=1))


def test_index_keeps_campaigns_by_id(index):
    assert list(index.campaigns) == ["dance", "music", "early", "late", "both"]
    assert index.campaigns["music"].currency == "GBP"


# --- wire format and money -----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"donation_cap": "5000.00", "goal_videos": 10, "url": "https://example.org", "description": "Hi"},
        {"currency": "JPY", "donation_per_video": "100", "donation_cap": "100000"},
        {"hashtags": ["#A", "b", "B"], "starts_at": "2026-11-01T05:30:00+05:30"},
    ],
)
def test_json_round_trip(changes):
    original = campaign(**changes)
    raw = original.to_json()
    assert isinstance(raw, bytes)
    again = Campaign.from_json(raw)
    assert again == original
    assert again.price_minor == original.price_minor
    assert again.cap_minor == original.cap_minor
    assert again.hashtags == original.hashtags
    assert again.starts_at == original.starts_at
    assert Campaign.from_json(raw.decode()) == original


def test_json_keeps_amounts_as_exact_strings():
    raw = campaign(donation_per_video="0.10", donation_cap="1000.00").to_json()
    assert b'"donation_per_video":"0.10"' in raw
    assert b'"donation_cap":"1000.00"' in raw


def test_from_json_rejects_bad_input():
    with pytest.raises(ValidationError):
        Campaign.from_json(b"{}")
    with pytest.raises(ValidationError):
        Campaign.from_json(b"not json")
    bad = campaign().to_json().replace(b'"1.00"', b'"1.005"')
    with pytest.raises(ValidationError):
        Campaign.from_json(bad)


def test_price_and_cap_minor():
    c = campaign(donation_per_video="2.00", donation_cap="1000000.00")
    assert c.price_minor == 200
    assert c.cap_minor == 100_000_000
    assert campaign().cap_minor is None
    assert campaign(donation_per_video="0.50", currency="GBP", donation_cap="5000").cap_minor == 500_000
    assert campaign(donation_per_video="0.125", currency="BHD").price_minor == 125


def test_campaign_is_frozen():
    c = campaign()
    with pytest.raises(ValidationError):
        c.donation_per_video = Decimal("5")  # type: ignore[misc]
    assert c.price_minor == 100


def test_problem_lines_have_no_pydantic_prefix():
    with pytest.raises(ConfigError) as info:
        parse_campaigns({"campaigns": [spec(currency="XYZ")]})
    assert not re.search(r"Value error, ", str(info.value))
