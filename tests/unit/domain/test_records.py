"""forgood.domain.records: the stage 1 → stage 2 batch record on the wire."""

from __future__ import annotations

import orjson
import pytest

from forgood.domain.records import (
    CampaignChange,
    CampaignVideo,
    CampaignVideoBatch,
    CampaignVideoRow,
    CampaignVideoRows,
    state_from_json,
    state_to_json,
)
from forgood.domain.video_state import VideoState, reason_code

M = 1_795_546_800


def test_batch_round_trips_including_created_at():
    batch = CampaignVideoBatch("dance", (CampaignVideo("dance", "v1", "u1", M, 1.5),
                                         CampaignVideo("dance", "v2", "u2", M + 60, 2.0)))
    raw = batch.to_bytes()
    assert orjson.loads(raw) == ["dance", [["v1", "u1", M, 1.5], ["v2", "u2", M + 60, 2.0]]]
    back = CampaignVideoBatch.from_bytes(raw)
    assert back == batch
    assert [v.created_at for v in back.videos] == [1.5, 2.0]  # not part of equality, kept anyway


def test_one_video_records_of_the_first_release_are_read_as_a_batch_of_one():
    legacy = orjson.dumps(["dance", "v1", "u1", M, 1.5])
    expected = CampaignVideoBatch("dance", (CampaignVideo("dance", "v1", "u1", M),))
    assert CampaignVideoBatch.from_bytes(legacy) == expected


@pytest.mark.parametrize("size, expected", [(1, [1, 1, 1]), (2, [2, 1]), (3, [3]), (10, [3])])
def test_chunked_splits_in_order_without_empty_batches(size, expected):
    videos = [CampaignVideo("dance", f"v{i}", "u", M) for i in range(3)]
    batches = CampaignVideoBatch.chunked("dance", videos, size)
    assert [len(b.videos) for b in batches] == expected
    assert [v for b in batches for v in b.videos] == videos


def test_audit_rows_round_trip_and_expand_to_one_row_per_video_with_its_minute():
    rows = CampaignVideoRows("dance", 2**62 + 5, (
        ("v1", "alice", 1_793_000_099, "counted", 1_793_000_099, "", 81_000_000, 3, 2, 1),
        ("v2", "bob", 1_793_000_040, "removed", 1_793_000_500, "moderation", 0, 0, 0, 0),
    ))
    assert CampaignVideoRows.from_bytes(rows.to_bytes()) == rows
    assert rows.key() == b"dance"
    assert rows.expand() == [
        CampaignVideoRow("dance", "v1", "alice", 1_793_000_099, 1_793_000_040, "counted", 1_793_000_099, "",
                         81_000_000, 3, 2, 1, 2**62 + 5),
        CampaignVideoRow("dance", "v2", "bob", 1_793_000_040, 1_793_000_040, "removed", 1_793_000_500,
                         "moderation", 0, 0, 0, 0, 2**62 + 5),
    ]
    assert [r.key() for r in rows.expand()] == [b"dance\x1fv1", b"dance\x1fv2"]
    assert [len(c.rows) for c in CampaignVideoRows.chunked("dance", 7, list(rows.rows) * 3, 4)] == [4, 2]
    with pytest.raises(ValueError):
        CampaignVideoRows.from_bytes(b'[1, "x", []]')


def test_a_campaign_change_round_trips():
    change = CampaignChange("dance", 12, "price", "1.00 USD", "2.00 USD", 1_793_000_000, "alice")
    assert CampaignChange.from_bytes(change.to_bytes()) == change
    assert change.key() == b"dance\x1f12\x1fprice"


def test_forwarded_states_keep_their_reason_and_read_old_ones_without():
    removed = VideoState.of_status(1_793_000_000_000_000, True, reason_code("fraud"))
    assert state_from_json(state_to_json(removed)) == removed
    assert len(state_to_json(removed)) == 8
    assert state_from_json(state_to_json(VideoState.of_status(5, True))) == VideoState.of_status(5, True)
    assert len(state_to_json(VideoState.of_status(5, True))) == 7  # as before issue 14


def test_a_forwarded_videos_event_time_in_whole_seconds():
    assert CampaignVideo("d", "v", "c", 1_793_000_040, 1_793_000_099.75).created_s == 1_793_000_099
    assert CampaignVideo("d", "v", "c", 1_793_000_040, 0.0).created_s == 1_793_000_040  # written before issue 14
