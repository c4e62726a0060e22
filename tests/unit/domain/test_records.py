"""forgood.domain.records: the stage 1 → stage 2 batch record on the wire."""

from __future__ import annotations

import orjson
import pytest

from forgood.domain.records import CampaignVideo, CampaignVideoBatch

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
