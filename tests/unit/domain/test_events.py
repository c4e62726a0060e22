"""forgood.domain.events: parsing video-created events and every dead-letter reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from forgood.domain.errors import InvalidEvent
from forgood.domain.events import (
    MAX_EVENT_BYTES,
    MAX_HASHTAGS,
    MAX_ID_LENGTH,
    MAX_TAG_LENGTH,
    REASONS,
    VideoCreated,
    parse_video_created,
)

NOW = datetime(2026, 11, 15, 12, 0, 0, tzinfo=UTC)

# The documented event shape (as the simulator in producers/simulate.py emits it).
EXAMPLE = (
    b'{"event_id": "e-1f-3a9c01d2", "video_id": "7319208345123456789", '
    b'"creator_id": "creator-00042", "hashtags": ["#DanceForChange", "fyp"], '
    b'"created_at": "2026-11-15T11:58:42.123Z", "region": "GB"}'
)

BASE = {
    "event_id": "e-1",
    "video_id": "v-1",
    "creator_id": "c-1",
    "hashtags": ["DanceForChange"],
    "created_at": "2026-11-15T11:58:42Z",
    "region": "US",
}


def event(**changes) -> bytes:
    """BASE with fields replaced; a value of ``...`` removes the field."""
    data = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data).encode()


def reason_of(raw: bytes, **kwargs) -> str:
    with pytest.raises(InvalidEvent) as info:
        parse_video_created(raw, now=NOW, **kwargs)
    assert info.value.reason in REASONS
    assert info.value.message  # a human message is always there
    assert str(info.value) == info.value.message
    return info.value.reason


def test_example_event_parses():
    ev = parse_video_created(EXAMPLE, now=NOW)
    assert ev.event_id == "e-1f-3a9c01d2"
    assert ev.video_id == "7319208345123456789"
    assert ev.creator_id == "creator-00042"
    assert ev.hashtags == ["#DanceForChange", "fyp"]
    assert ev.created_at == datetime(2026, 11, 15, 11, 58, 42, 123000, tzinfo=UTC)
    assert ev.region == "GB"
    assert ev.minute == int(datetime(2026, 11, 15, 11, 58, tzinfo=UTC).timestamp())


def test_event_is_immutable():
    ev = parse_video_created(EXAMPLE, now=NOW)
    with pytest.raises(ValidationError, match="frozen"):
        ev.video_id = "other"  # type: ignore[misc]
    assert ev.video_id == "7319208345123456789"


def test_unknown_extra_fields_are_accepted_and_ignored():
    ev = parse_video_created(event(likes=12, meta={"app": "x", "v": [1, 2]}, region="FR"), now=NOW)
    assert ev.video_id == "v-1"
    assert ev.region == "FR"
    assert not hasattr(ev, "likes")
    assert "likes" not in ev.model_dump()


def test_region_absent_or_null_is_accepted():
    assert parse_video_created(event(region=...), now=NOW).region is None
    assert parse_video_created(event(region=None), now=NOW).region is None


def test_limits_at_their_edge_are_accepted():
    ev = parse_video_created(
        event(
            event_id="e" * MAX_ID_LENGTH,
            hashtags=["t" * MAX_TAG_LENGTH] + ["x"] * (MAX_HASHTAGS - 1),
            region="r" * 16,
        ),
        now=NOW,
    )
    assert len(ev.event_id) == MAX_ID_LENGTH
    assert len(ev.hashtags) == MAX_HASHTAGS


def test_event_exactly_at_max_size_is_not_too_large():
    raw = event(pad="")
    raw = event(pad="p" * (MAX_EVENT_BYTES - len(raw)))
    assert len(raw) == MAX_EVENT_BYTES
    assert parse_video_created(raw, now=NOW).video_id == "v-1"
    assert reason_of(event(pad="p" * (MAX_EVENT_BYTES - len(event(pad="")) + 1))) == "too_large"


# Every reason in REASONS, each produced by at least one input.
CASES = [
    ("too_large", b"{" + b" " * MAX_EVENT_BYTES + b"}"),
    ("too_large", event(padding="x" * MAX_EVENT_BYTES)),
    ("not_utf8", b'{"event_id": "\xff"}'),
    ("not_utf8", b"\xc3\x28"),
    ("not_json", b""),
    ("not_json", b"{not json}"),
    ("not_json", b'{"event_id": "e-1",'),
    ("not_json", b"hello"),
    ("not_object", b"[1]"),
    ("not_object", b'"x"'),
    ("not_object", b"3"),
    ("not_object", b"null"),
    ("not_object", b"true"),
    ("missing_field", event(event_id=...)),
    ("missing_field", event(video_id=...)),
    ("missing_field", event(creator_id=...)),
    ("missing_field", event(hashtags=...)),
    ("missing_field", event(created_at=...)),
    ("missing_field", b"{}"),
    ("wrong_type", event(video_id=123)),
    ("wrong_type", event(creator_id=True)),
    ("wrong_type", event(hashtags="DanceForChange")),
    ("wrong_type", event(hashtags=[1])),
    ("wrong_type", event(hashtags={"a": 1})),
    ("wrong_type", event(region=5)),
    ("null_field", event(event_id=None)),
    ("null_field", event(video_id=None)),
    ("null_field", event(hashtags=None)),
    ("null_field", event(hashtags=["ok", None])),
    ("null_field", event(created_at=None)),
    ("empty_field", event(event_id="")),
    ("empty_field", event(video_id="")),
    ("empty_field", event(creator_id="")),
    ("too_long", event(event_id="e" * (MAX_ID_LENGTH + 1))),
    ("too_long", event(creator_id="c" * (MAX_ID_LENGTH + 1))),
    ("too_long", event(region="r" * 17)),
    ("too_long", event(hashtags=["ok", "t" * (MAX_TAG_LENGTH + 1)])),
    ("no_hashtags", event(hashtags=[])),
    ("too_many_hashtags", event(hashtags=["x"] * (MAX_HASHTAGS + 1))),
    ("bad_timestamp", event(created_at="yesterday")),
    ("bad_timestamp", event(created_at="")),
    ("bad_timestamp", event(created_at="2026-13-01T00:00:00Z")),
    ("bad_timestamp", event(created_at="2026-11-01T00:00:00+25:00")),
    ("bad_timestamp", event(created_at=1_793_000_000)),
    ("bad_timestamp", event(created_at=["2026-11-01T00:00:00Z"])),
    ("no_timezone", event(created_at="2026-11-15T11:58:42")),
    ("no_timezone", event(created_at="2026-11-15T11:58:42.5")),
    ("future_timestamp", event(created_at="2026-11-15T12:05:01Z")),
    ("future_timestamp", event(created_at="2027-01-01T00:00:00Z")),
    ("future_timestamp", event(created_at="2026-11-15T13:05:01+01:00")),
]


@pytest.mark.parametrize(("reason", "raw"), CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CASES)])
def test_dead_letter_reason(reason, raw):
    assert reason_of(raw) == reason


def test_every_reason_is_covered():
    assert {reason for reason, _ in CASES} == set(REASONS)
    assert len(REASONS) == len(set(REASONS)) == 14


def test_future_skew_boundary():
    # now + 5 min is still fine; one microsecond later is not.
    ok = parse_video_created(event(created_at="2026-11-15T12:05:00Z"), now=NOW)
    assert ok.created_at == NOW + timedelta(minutes=5)
    assert reason_of(event(created_at="2026-11-15T12:05:00.000001Z")) == "future_timestamp"


def test_future_skew_is_configurable():
    raw = event(created_at="2026-11-15T12:00:30Z")
    assert reason_of(raw, max_future_skew=timedelta(0)) == "future_timestamp"
    assert parse_video_created(raw, now=NOW, max_future_skew=timedelta(minutes=1)).video_id == "v-1"


def test_old_events_are_accepted():
    ev = parse_video_created(event(created_at="2020-01-01T00:00:00Z"), now=NOW)
    assert ev.created_at.year == 2020


def test_first_problem_is_reported():
    # Missing event_id comes first in field order, before the empty video_id.
    assert reason_of(event(event_id=..., video_id="")) == "missing_field"


@pytest.mark.parametrize(
    ("created_at", "expected_minute_utc"),
    [
        ("2026-11-15T11:58:00Z", datetime(2026, 11, 15, 11, 58, tzinfo=UTC)),
        ("2026-11-15T11:58:59.999999Z", datetime(2026, 11, 15, 11, 58, tzinfo=UTC)),
        ("2026-11-15T11:59:00Z", datetime(2026, 11, 15, 11, 59, tzinfo=UTC)),
        ("2026-11-15T11:58:42+00:00", datetime(2026, 11, 15, 11, 58, tzinfo=UTC)),
        # +05:30: 17:28:42 local is 11:58:42 UTC.
        ("2026-11-15T17:28:42+05:30", datetime(2026, 11, 15, 11, 58, tzinfo=UTC)),
        # -03:00 across midnight: 2026-11-14 23:59:59 local is 02:59:59 UTC on the 15th.
        ("2026-11-14T23:59:59-03:00", datetime(2026, 11, 15, 2, 59, tzinfo=UTC)),
        # +05:45 (Nepal): a quarter-hour offset.
        ("2026-11-15T12:00:30+05:45", datetime(2026, 11, 15, 6, 15, tzinfo=UTC)),
        ("1970-01-01T00:00:59Z", datetime(1970, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_minute_is_floored_in_utc(created_at, expected_minute_utc):
    ev = parse_video_created(event(created_at=created_at), now=NOW)
    assert ev.minute == int(expected_minute_utc.timestamp())
    assert ev.minute % 60 == 0


def test_same_instant_in_different_offsets_has_same_minute():
    a = parse_video_created(event(created_at="2026-11-15T11:58:42Z"), now=NOW)
    b = parse_video_created(event(created_at="2026-11-15T17:28:42+05:30"), now=NOW)
    c = parse_video_created(event(created_at="2026-11-15T06:58:42-05:00"), now=NOW)
    assert a.created_at == b.created_at == c.created_at
    assert a.minute == b.minute == c.minute == 1_794_743_880


def test_minute_floors_before_epoch():
    ev = parse_video_created(event(created_at="1969-12-31T23:59:59.500Z"), now=NOW)
    assert ev.minute == -60


def test_default_now_is_the_wall_clock():
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert parse_video_created(event(created_at=soon)).video_id == "v-1"
    with pytest.raises(InvalidEvent) as info:
        parse_video_created(event(created_at=later))
    assert info.value.reason == "future_timestamp"


# --- property: the gate never raises anything but InvalidEvent --------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
    json_values,
)
# Dicts that look like events, so the property also reaches the field checks.
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.text(max_size=140) | json_values,
        "video_id": st.text(max_size=140) | json_values,
        "creator_id": st.text(max_size=140) | json_values,
        "hashtags": st.lists(st.text(max_size=300) | json_values, max_size=110) | json_values,
        "created_at": timestamps,
        "region": st.none() | st.text(max_size=20) | json_values,
        "extra": json_values,
    },
)


def _check(raw: bytes) -> None:
    try:
        ev = parse_video_created(raw, now=NOW)
    except InvalidEvent as exc:
        assert exc.reason in REASONS, exc.reason
    else:
        assert isinstance(ev, VideoCreated)
        assert ev.created_at.tzinfo is not None
        assert 1 <= len(ev.hashtags) <= MAX_HASHTAGS
        assert ev.created_at <= NOW + timedelta(minutes=5)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_invalid_event(raw):
    _check(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.booleans())
def test_arbitrary_json_only_raises_invalid_event(value, ascii_only):
    _check(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like, st.booleans())
def test_arbitrary_event_like_objects_only_raise_invalid_event(value, ascii_only):
    _check(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
