"""Hypothesis strategies for events that must be dead-lettered, one per reason.

Each strategy draws raw bytes with exactly one defect and pairs them with the reason code
the worker must give (``forgood.domain.events.REASONS``). Each value also carries a unique
``video_id`` or marker so it can be found again on the dead-letter topic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from forgood.domain.events import MAX_EVENT_BYTES, MAX_HASHTAGS, MAX_ID_LENGTH

REQUIRED = ("event_id", "video_id", "creator_id", "hashtags", "created_at")
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


def _base(uid: str) -> dict:
    created = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return {"event_id": f"bad-{uid}", "video_id": f"bad-v-{uid}", "creator_id": "c-bad",
            "hashtags": ["PlainTag"], "created_at": created}


def _dump(event: dict) -> bytes:
    return json.dumps(event).encode()


@st.composite
def bad_event(draw, reason: str) -> tuple[bytes, str]:
    uid = draw(_ids) + "-" + reason
    event = _base(uid)
    if reason == "too_large":
        event["padding"] = "x" * (MAX_EVENT_BYTES + draw(st.integers(1, 4096)))
    elif reason == "not_utf8":
        return b"\xff\xfe" + draw(st.binary(max_size=30)) + uid.encode(), reason
    elif reason == "not_json":
        return ("not json " + uid + draw(st.text(alphabet="{[:,abc ", max_size=10))).encode(), reason
    elif reason == "not_object":
        value = draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.just(uid)))
        return json.dumps([value, uid] if not isinstance(value, str) else value).encode(), reason
    elif reason == "missing_field":
        del event[draw(st.sampled_from([f for f in REQUIRED if f != "event_id"]))]
    elif reason == "wrong_type":
        field = draw(st.sampled_from(["creator_id", "hashtags", "event_id"]))
        event[field] = draw(st.one_of(st.integers(), st.booleans(), st.just({"a": 1})))
    elif reason == "null_field":
        event[draw(st.sampled_from(["creator_id", "hashtags", "created_at"]))] = None
    elif reason == "empty_field":
        event["creator_id"] = ""
    elif reason == "too_long":
        event["creator_id"] = "c" * (MAX_ID_LENGTH + draw(st.integers(1, 50)))
    elif reason == "no_hashtags":
        event["hashtags"] = []
    elif reason == "too_many_hashtags":
        event["hashtags"] = [f"t{i}" for i in range(MAX_HASHTAGS + draw(st.integers(1, 20)))]
    elif reason == "bad_timestamp":
        event["created_at"] = draw(st.sampled_from(["yesterday", "2026-13-45T00:00:00Z", "", "24/11/2026"]))
    elif reason == "no_timezone":
        event["created_at"] = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    elif reason == "future_timestamp":
        event["created_at"] = (datetime.now(UTC) + timedelta(days=draw(st.integers(1, 400)))).isoformat()
    else:  # pragma: no cover - a new reason needs a strategy here
        raise ValueError(reason)
    return _dump(event), reason


def one_of_each(reasons) -> st.SearchStrategy[list[tuple[bytes, str]]]:
    """A list holding at least one bad event for every reason, plus a few more at random."""
    return st.tuples(*[bad_event(r) for r in reasons]).flatmap(
        lambda each: st.lists(st.sampled_from(list(reasons)).flatmap(bad_event), max_size=10).map(
            lambda extra: list(each) + extra
        )
    )
